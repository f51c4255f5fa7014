"""``main()`` of a package node: init, spin until SIGINT/SIGTERM or ``ros2 launch`` shutdown, clean up, exit.

Why bounded: ``ros2 launch`` escalates to SIGKILL 15 s after SIGINT, so a node whose cleanup hangs (seen
once in ~70 launches of grasp_selector) is killed without its final save. After the interrupt the node gets
``SHUTDOWN_TIMEOUT_S`` for its cleanup (saving counts, destroying entities); then the process exits anyway.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from tssd_ros.errors import TssdError
from tssd_ros.ros.dds import use_shipped_profile

SHUTDOWN_TIMEOUT_S = 5.0


def _exit_after(seconds: float, rc: int, name: str) -> threading.Timer:
    def _force() -> None:
        sys.stderr.write(f"[{name}] cleanup took over {seconds:.0f} s; exiting without it\n")
        sys.stderr.flush()
        os._exit(rc)

    timer = threading.Timer(seconds, _force)
    timer.daemon = True
    timer.start()
    return timer


def run_node(make: Callable[[], Node], name: str, cleanup: Callable[[Node], None] | None = None,
             startup_errors: tuple[type[BaseException], ...] = (TssdError,), args: list[str] | None = None,
             shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S) -> int:
    """Build the node with ``make``, spin it, and return the exit code: 0 after an interrupt, 2 when ``make``
    raised one of ``startup_errors`` (one fatal line, no traceback). ``cleanup(node)`` runs before the node is
    destroyed; cleanup and rclpy shutdown together are bounded by ``shutdown_timeout_s``. Fast DDS gets the
    shipped large-message profile unless one is set (tssd_ros.ros.dds)."""
    use_shipped_profile()
    rclpy.init(args=args)
    node: Node | None = None
    rc = 0
    try:
        node = make()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except startup_errors as e:
        rclpy.logging.get_logger(name).fatal(str(e))
        rc = 2
    timer = _exit_after(shutdown_timeout_s, rc, name)
    try:
        if node is not None:
            if cleanup is not None:
                cleanup(node)
            node.destroy_node()
        rclpy.try_shutdown()
    except KeyboardInterrupt:  # a second Ctrl-C: stop cleaning up
        pass
    finally:
        timer.cancel()
    return rc
