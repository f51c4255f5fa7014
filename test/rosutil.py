"""Helpers for tests that talk to real nodes over real DDS (loopback only)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require_ros() -> None:
    """Skip (with the reason) when real rclpy / vision_msgs are not importable."""
    pytest.importorskip("rclpy", reason="real rclpy not installed: run `make env`")
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs not built: run `make env`")


def executable(name: str) -> str:
    """Path of a package executable (entry point), as installed by `make env` or colcon."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"executable {name} not found: run `make env`")
    return found


@contextmanager
def node_process(
    name: str, params: dict[str, object] | None = None, remaps: dict[str, str] | None = None,
    namespace: str | None = None, log_path: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start a package executable as a separate process; stop it with SIGINT (as ros2 launch does)."""
    cmd = [executable(name), "--ros-args"]
    for k, v in (params or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[" + ",".join(f"'{x}'" if isinstance(x, str) else str(x) for x in v) + "]"
        cmd += ["-p", f"{k}:={v}"]
    for k, v in (remaps or {}).items():
        cmd += ["-r", f"{k}:={v}"]
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log_path:
            out.close()


def spin_until(node, cond: Callable[[], bool], timeout: float, executor=None) -> bool:
    """Spin `node` until cond() is true or timeout seconds pass; returns cond()."""
    import rclpy

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if executor is not None:
            executor.spin_once(timeout_sec=0.05)
        else:
            rclpy.spin_once(node, timeout_sec=0.05)
    return cond()
