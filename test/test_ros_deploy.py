"""The shipped launch configuration on real processes: params files that apply in any namespace, every
parameter initialised (what `ros2 param dump` shows), and a bounded shutdown."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosutil import Harness, node_process, require_ros

require_ros()

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[1]


def shipped_copy(name: str, tmp_path: Path, **values: str) -> Path:
    """config/<name> with some values changed in place (its keys and layout exactly as shipped)."""
    text = (REPO / "config" / name).read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^(\s+{key}:)\s+\S+", rf"\1 {value}", text, count=1, flags=re.M)
        assert n == 1, f"{key} not in config/{name}"
    out = tmp_path / name
    out.write_text(text)
    return out


def test_grasp_selector_params_apply_in_a_namespace_and_are_all_set(tmp_path):
    # `[]` as a user would write it: rcl reads it as unset; the node must still hold a value
    params = shipped_copy("grasp_selector.yaml", tmp_path, policy="largest", min_track_age="7",
                          target_classes="[]")
    with node_process("grasp_selector_node", namespace="/rov", params_file=params,
                      log_path=tmp_path / "grasp.log") as proc:
        h = Harness("/rov")
        try:
            dump = h.dump_params("/rov/grasp_selector")
        finally:
            h.close()
        assert proc.poll() is None, (tmp_path / "grasp.log").read_text()
    assert dump is not None, (tmp_path / "grasp.log").read_text()
    assert dump["policy"] == "largest" and dump["min_track_age"] == 7
    assert dump["target_classes"] == [""]
    assert [n for n, v in dump.items() if v is None] == []


def test_tssd_node_params_apply_in_a_namespace_and_are_all_set(tmp_path, tiny_weights):
    params = shipped_copy("tssd.yaml", tmp_path, weights=str(tiny_weights), ota_G="0.55", class_filter="[]")
    with node_process("tssd_node", namespace="/rov", params_file=params, log_path=tmp_path / "node.log") as proc:
        h = Harness("/rov")
        try:
            assert h.wait_for_node(), (tmp_path / "node.log").read_text()
            dump = h.dump_params("/rov/tssd_node")
        finally:
            h.close()
        assert proc.poll() is None, (tmp_path / "node.log").read_text()
    assert dump is not None
    assert dump["weights"] == str(tiny_weights) and dump["ota_G"] == pytest.approx(0.55)
    assert dump["class_filter"] == [""]
    assert [n for n, v in dump.items() if v is None] == []


HANGING_NODE = """
import sys, time
from rclpy.node import Node
from tssd_ros.ros.runner import run_node
def hang(node):
    print("cleanup", flush=True)
    time.sleep(120)
sys.exit(run_node(lambda: Node("hangs"), "hangs", cleanup=hang, shutdown_timeout_s=1.0))
"""


def test_a_hanging_cleanup_is_bounded():
    proc = subprocess.Popen([sys.executable, "-c", HANGING_NODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(3.0)  # rclpy imported and spinning
    assert proc.poll() is None, proc.stderr.read()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the node did not exit within 10 s of SIGINT")
    assert time.monotonic() - t0 < 5.0
    out, err = proc.communicate()
    assert "cleanup" in out and "exiting without it" in err


def test_raw_vga_and_1080p_frames_all_arrive_with_the_default_best_effort_input(tmp_path, tiny_weights):
    """A camera publishing best effort (as drivers do) to the node's default input QoS: every raw frame arrives.
    Fast DDS defaults lose most frames over 512 KB (UDP fragments); config/fastdds.xml fixes it."""
    import numpy as np
    from rosutil import image_msg

    rng = np.random.default_rng(0)
    sizes = [(480, 640)] * 8 + [(1080, 1920)] * 4
    with node_process("tssd_node", namespace="/cam", params={"weights": str(tiny_weights)},
                      log_path=tmp_path / "node.log") as proc:
        h = Harness("/cam", best_effort=True)
        try:
            assert h.wait_for_node(), (tmp_path / "node.log").read_text()
            answered = [h.send(image_msg(rng.integers(0, 255, (hh, ww, 3), dtype=np.uint8), 10.0 + 0.1 * i),
                               timeout=10.0) is not None for i, (hh, ww) in enumerate(sizes)]
        finally:
            h.close()
        assert proc.poll() is None
    assert answered == [True] * len(sizes), answered
