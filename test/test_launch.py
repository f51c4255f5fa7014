"""launch/tssd.launch.py: its arguments and nodes (built for real where launch_ros is importable)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch" / "tssd.launch.py"
ARGS = {"image", "compressed", "namespace", "params_file", "grasp_params_file", "weights", "device",
        "use_sim_time", "grasp", "dds_profile"}


def test_launch_file_declares_the_documented_arguments_and_executables():
    tree = ast.parse(LAUNCH.read_text())
    declared = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "DeclareLaunchArgument"}
    assert declared == ARGS
    executables = {kw.value.value for n in ast.walk(tree) if isinstance(n, ast.Call)
                   and getattr(n.func, "id", "") == "Node" for kw in n.keywords if kw.arg == "executable"}
    assert executables == {"tssd_node", "grasp_selector_node"}


def test_param_files_match_declared_node_parameters():
    """Every key of the YAML files is a parameter the node declares (a typo would be silently ignored):
    tssd_node declares exactly the table of tssd_ros.params (test_params.py), which rejects unknown keys."""
    from tssd_ros.params import load_params

    load_params(REPO / "config/tssd.yaml")
    grasp = yaml.safe_load((REPO / "config/grasp_selector.yaml").read_text())
    assert "ros__parameters" in grasp["/**"]


def test_launch_description_builds_with_real_launch_ros():
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI: tested on a ROS install")
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("tssd_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    assert isinstance(ld, LaunchDescription)
    names = {a.name for a in ld.entities if isinstance(a, DeclareLaunchArgument)}
    assert names == ARGS
