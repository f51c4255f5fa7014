"""Helpers for tests that talk to real nodes over real DDS (loopback only)."""

from __future__ import annotations

import os
import subprocess
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
    from tssd_ros.errors import TssdError
    from tssd_ros.ros.launcher import executable as find

    try:
        return find(name)
    except TssdError as e:
        pytest.fail(str(e))


@contextmanager
def node_process(
    name: str, params: dict[str, object] | None = None, remaps: dict[str, str] | None = None,
    namespace: str | None = None, log_path: Path | None = None, params_file: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start a package executable as a separate process; stop it with SIGINT (as ros2 launch does).
    ``params_file`` is loaded first, ``params`` override it."""
    cmd = [executable(name), "--ros-args"]
    if params_file is not None:
        cmd += ["--params-file", str(params_file)]
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


class Harness:
    """The test's own rclpy node: publishes camera frames, collects everything tssd_node publishes.

    Frames are sent in lockstep (each after the previous answer), so a test knows which answer belongs to
    which frame without relying on timing.
    """

    def __init__(self, ns: str, compressed: bool = False, best_effort: bool = False) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image
        from vision_msgs.msg import Detection2DArray

        self.ns = ns
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("test_harness", context=self.ctx)
        self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        rel = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.dets: list = []
        self.counts: list = []
        self.diags: list = []
        self.node.create_subscription(Detection2DArray, f"{ns}/detections", self.dets.append, rel)
        self.node.create_subscription(DiagnosticArray, f"{ns}/counts", self.counts.append, rel)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, rel)
        self.compressed = compressed
        frames_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
                                else ReliabilityPolicy.RELIABLE)
        if compressed:
            self.pub = self.node.create_publisher(CompressedImage, f"{ns}/image/compressed", frames_qos)
        else:
            self.pub = self.node.create_publisher(Image, f"{ns}/image", frames_qos)
        self._latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                   durability=DurabilityPolicy.TRANSIENT_LOCAL)

    def spin_until(self, cond: Callable[[], bool], timeout: float) -> bool:
        return spin_until(self.node, cond, timeout, self.ex)

    def wait_for_node(self, timeout: float = 60.0) -> bool:
        """Until tssd_node subscribes to our frames and publishes detections (it loads torch first)."""
        return self.spin_until(lambda: self.pub.get_subscription_count() > 0
                               and self.node.count_publishers(f"{self.ns}/detections") > 0, timeout)

    def send(self, msg, timeout: float = 15.0):
        """Publish one frame; return the Detection2DArray answering it (None if none came)."""
        n, nc = len(self.dets), len(self.counts)
        self.pub.publish(msg)
        # the node publishes detections then counts for each frame: wait for both, so counts[-1] is this frame's
        self.spin_until(lambda: len(self.dets) > n and len(self.counts) > nc, timeout)
        return self.dets[n] if len(self.dets) > n else None

    def send_dropped(self, msg, handled: Callable[[], bool], timeout: float = 10.0) -> list | None:
        """Publish a frame the node should drop without answering, and wait until ``handled()`` is true: the
        node's own report that it took the frame (e.g. its bad-frame counter), not a fixed time, so the next
        frame cannot overwrite this one in the node's one-deep input queue.

        Returns the answers that came meanwhile ([] for a dropped frame), or None if ``handled()`` never held.
        """
        n = len(self.dets)
        self.pub.publish(msg)
        if not self.spin_until(handled, timeout):
            return None
        return self.dets[n:]

    def latched(self, msg_type, topic: str, timeout: float = 10.0):
        """Subscribe late to a transient-local topic and return the first message."""
        got: list = []
        sub = self.node.create_subscription(msg_type, topic, got.append, self._latched)
        self.spin_until(lambda: bool(got), timeout)
        self.node.destroy_subscription(sub)
        return got[0] if got else None

    def call(self, srv_type, name: str, request=None, timeout: float = 10.0):
        """The service's response, or None. Fast DDS can report a service available before the server's
        response writer has matched this client (the server then logs "failed to send response (timeout)"), so
        an unanswered request is sent again, up to three times; the services called here are idempotent."""
        cli = self.node.create_client(srv_type, name)
        try:
            if not cli.wait_for_service(timeout_sec=timeout):
                return None
            for _ in range(3):
                fut = cli.call_async(request or srv_type.Request())
                self.spin_until(fut.done, timeout / 3)
                if fut.done():
                    return fut.result()
                cli.remove_pending_request(fut)
            return None
        finally:
            self.node.destroy_client(cli)

    def set_params(self, node_name: str, **values):
        """Set parameters through the node's real set_parameters service; returns the results."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request()
        req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        resp = self.call(SetParameters, f"{node_name}/set_parameters", req)
        return None if resp is None else list(resp.results)

    def dump_params(self, node_name: str, timeout: float = 10.0) -> dict[str, object] | None:
        """Every parameter of ``node_name`` as ``ros2 param dump`` gets them (list, then get): name -> value,
        None for one that is declared but holds no value. None if the services do not answer."""
        from rcl_interfaces.msg import ParameterType
        from rcl_interfaces.srv import GetParameters, ListParameters
        from rclpy.parameter import parameter_value_to_python

        listed = self.call(ListParameters, f"{node_name}/list_parameters", timeout=timeout)
        if listed is None:
            return None
        names = list(listed.result.names)
        got = self.call(GetParameters, f"{node_name}/get_parameters", GetParameters.Request(names=names),
                        timeout=timeout)
        if got is None:
            return None
        return {n: None if v.type == ParameterType.PARAMETER_NOT_SET else parameter_value_to_python(v)
                for n, v in zip(names, got.values, strict=True)}

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def image_msg(bgr, stamp: float, frame_id: str = "camera_optical_frame", encoding: str = "bgr8",
              bigendian: bool = False):
    """numpy BGR -> sensor_msgs/Image in any supported encoding (conversions.bgr_to_image), stamped."""
    from std_msgs.msg import Header

    from tssd_ros.ros.conversions import bgr_to_image

    header = Header(frame_id=frame_id)
    set_stamp(header, stamp)
    return bgr_to_image(bgr, header, encoding, bigendian)


def set_stamp(header, stamp: float) -> None:
    header.stamp.sec = int(stamp)
    header.stamp.nanosec = int(round((stamp - int(stamp)) * 1e9))
