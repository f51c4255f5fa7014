"""Declaring ROS parameters so that every one of them holds a value (``ros2 param dump`` answers all).

Why: rcl reads an empty YAML list (``target_classes: []``) as an untyped, unset value; a parameter declared
with a default is then left uninitialised, ``ros2 param get`` prints nothing and the node's own
``get_parameter`` raises. The typed empty list of a string array is ``[""]``.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter


def declare_initialised(node: Node, name: str, default: Any, descriptor: ParameterDescriptor) -> Any:
    """``node.declare_parameter(name, default, descriptor)``; an override that left it unset (an empty YAML
    list) is replaced by ``default`` with a warning. Returns the value."""
    node.declare_parameter(name, default, descriptor)
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:
        node.get_logger().warning(f"parameter {name}: an empty list in the params file is read as unset by rcl; "
                                  f"using {default!r} (write [\"\"] for an empty string list)")
        node.set_parameters([Parameter(name, value=default)])
        return default
