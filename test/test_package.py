"""The package installs the way a ROS 2 workspace expects (colcon, ament index, share/, lib/<pkg>)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COLCON = Path(sys.prefix) / "colcon" / "bin" / "colcon"
EXECUTABLES = {"tssd", "tssd_node", "grasp_selector_node"}


def test_package_xml_format3_ament_python():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "tssd_ros"
    assert root.find("export/build_type").text == "ament_python"
    execs = {e.text for e in root.findall("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "geometry_msgs", "diagnostic_msgs",
                "std_srvs", "cv_bridge", "launch", "launch_ros"):
        assert dep in execs, dep
    assert "python3-pytest" in {e.text for e in root.findall("test_depend")}
    # setup.py's version must follow package.xml's (colcon and bloom read package.xml)
    setup_src = (REPO / "setup.py").read_text()
    assert f'version="{root.findtext("version")}"' in setup_src


def test_setup_declares_data_files_and_entry_points():
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    kw = {k.arg: k.value for k in call.keywords}
    eps = ast.literal_eval(kw["entry_points"])["console_scripts"]
    names = {e.split("=")[0].strip(): e.split("=")[1].strip() for e in eps}
    assert set(names) == EXECUTABLES
    for target in names.values():
        mod, func = target.split(":")
        assert (REPO / (mod.replace(".", "/") + ".py")).exists(), target
    cfg = (REPO / "setup.cfg").read_text()
    assert "script_dir=$base/lib/tssd_ros" in cfg and "install_scripts=$base/lib/tssd_ros" in cfg
    assert (REPO / "resource" / "tssd_ros").exists()


@pytest.mark.skipif(not COLCON.exists(), reason="colcon not in .venv/colcon: run `make env`")
def test_colcon_build_installs_share_and_executables(tmp_path):
    """A real `colcon build` of the repo: launch/config/rviz/weights under share/, executables in lib/."""
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    # the sources as a user has them: no environment, build output, run folders or outputs (runs/ may be
    # written by a training run meanwhile)
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "install", "log", "__pycache__", "*.egg-info",
                                    "cache", "demo_out", "runs")
    shutil.copytree(REPO, ws / "src" / "tssd_ros", ignore=ignore)
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix)
    r = subprocess.run([str(COLCON), "build", "--event-handlers", "console_direct-"], cwd=ws, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # env/vision_msgs is tooling (COLCON_IGNORE): only tssd_ros is built
    assert sorted(p.name for p in (ws / "install").iterdir() if p.is_dir()) == ["tssd_ros"]
    prefix = ws / "install" / "tssd_ros"
    share = prefix / "share" / "tssd_ros"
    assert (prefix / "share/ament_index/resource_index/packages/tssd_ros").exists()
    assert (share / "package.xml").exists()
    for folder, pattern in (("launch", "*.launch.py"), ("config", "*.yaml"), ("rviz", "*.rviz")):
        src = sorted(p.name for p in (REPO / folder).glob(pattern))
        assert src, f"no {folder}/{pattern} in the repo"
        assert sorted(p.name for p in (share / folder).glob(pattern)) == src
    assert (share / "weights").is_dir()
    for exe in EXECUTABLES:
        assert os.access(prefix / "lib" / "tssd_ros" / exe, os.X_OK), exe
    # ament_index_python finds the installed share directory, as `ros2 launch tssd_ros ...` would
    code = "from ament_index_python.packages import get_package_share_directory as g; print(g('tssd_ros'))"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, AMENT_PREFIX_PATH=str(prefix)),
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out) == share


def test_ruff_clean():
    ruff = Path(sys.prefix) / "bin" / "ruff"
    if not ruff.exists():
        pytest.skip("ruff not installed: run `make env`")
    r = subprocess.run([str(ruff), "check", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout[-4000:]


def test_core_never_imports_rclpy():
    """Only tssd_ros/ros/ may import rclpy or ROS message packages (the core runs without ROS)."""
    ros_mods = ("rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "geometry_msgs", "diagnostic_msgs",
                "std_srvs", "rcl_interfaces", "builtin_interfaces", "visualization_msgs")
    bad = []
    for py in (REPO / "tssd_ros").rglob("*.py"):
        if "ros" in py.relative_to(REPO / "tssd_ros").parts[:1]:
            continue
        for node in ast.walk(ast.parse(py.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad += [f"{py.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in ros_mods]
    assert not bad, bad
