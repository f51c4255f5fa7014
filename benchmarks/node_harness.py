"""A tssd_node process and a camera process talking to it over real DDS: what `bench_node.py` and `soak.py`
share.

The camera publishes sensor_msgs/Image with sensor-data QoS (best effort, keep last 1), as a camera driver
does, at a fixed rate against a schedule (no drift), stamping each frame with its send time; it records every
Detection2DArray (latency = receive time - image stamp, where the receive time is DDS's delivery to this
process from rclpy's message info, not when this script's loop got to it; and the identities), every /counts
and /diagnostics message. The node runs as its own process, started from the installed executable, so its
memory (RSS) and a ``kill -9`` are real.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

HERE = Path(__file__).resolve().parent
SHIPPED = HERE.parent / "weights" / "tssd_mobile_underwater.pt"


def dive_frames(n: int, seed: int = 4242, width: int = 640, height: int = 480) -> list[np.ndarray]:
    """A synthetic flying dive (animals enter and leave the view) as BGR frames."""
    from tssd_ros.data.synth import DiveRenderer, SynthConfig

    r = DiveRenderer(SynthConfig(seed=seed, frames=n, width=width, height=height))
    return [r.render(i).image for i in range(n)]


class NodeProcess:
    """tssd_node as a child process (``--ros-args`` parameters), its RSS, SIGINT or SIGKILL."""

    def __init__(self, namespace: str, params: dict[str, Any], log: Path | None = None) -> None:
        exe = Path(sys.executable).parent / "tssd_node"
        cmd = [str(exe), "--ros-args", "-r", f"__ns:={namespace}"]
        for k, v in params.items():
            cmd += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        atexit.register(self.stop)  # a script that fails half-way leaves no node running

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mb(self) -> float:
        """Resident memory of the node process (MiB), from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@dataclass
class Received:
    """What the camera side heard back."""

    det_recv: list[float] = field(default_factory=list)  # receive time (s, wall clock)
    det_latency: list[float] = field(default_factory=list)  # receive time - image stamp (s)
    det_ids: list[list[str]] = field(default_factory=list)  # published identities per message
    det_stamp: list[float] = field(default_factory=list)  # image stamp (s)
    counts: list[tuple[float, dict[str, tuple[int, int]]]] = field(default_factory=list)  # (recv, counts)
    diagnostics: dict[str, str] = field(default_factory=dict)  # latest tssd_node status values
    diag_level: int = -1


def _stamp(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Camera:
    """The camera process: publishes on ``<ns>/image``, listens to the node's outputs (see module docstring)."""

    def __init__(self, namespace: str) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from tssd_ros.ros.conversions import counts_from_msg
        from tssd_ros.ros.dds import use_shipped_profile

        use_shipped_profile()
        if not rclpy.ok():
            rclpy.init()
        self._rclpy = rclpy
        self.node = rclpy.create_node("bench_camera")
        self.rx = Received()
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)

        def on_dets(m: Detection2DArray, info: dict[str, Any]) -> None:
            # when DDS delivered it to this process (system clock, as the stamp): this script's own Python
            # scheduling is not the node's latency
            now = info["received_timestamp"] * 1e-9 if info.get("received_timestamp") else time.time()
            self.rx.det_recv.append(now)
            self.rx.det_latency.append(now - _stamp(m))
            self.rx.det_stamp.append(_stamp(m))
            self.rx.det_ids.append([d.id for d in m.detections if d.id])

        def on_counts(m: DiagnosticArray) -> None:
            self.rx.counts.append((time.time(), counts_from_msg(m)))

        def on_diag(m: DiagnosticArray) -> None:
            for st in m.status:
                if st.name.endswith(": detection"):
                    self.rx.diagnostics = {kv.key: kv.value for kv in st.values}
                    self.rx.diag_level = int.from_bytes(st.level, "little") if isinstance(st.level, bytes) \
                        else int(st.level)

        self.node.create_subscription(Detection2DArray, f"{namespace}/detections", on_dets, reliable)
        self.node.create_subscription(DiagnosticArray, f"{namespace}/counts", on_counts, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, reliable)
        self.pub = self.node.create_publisher(Image, f"{namespace}/image", qos_profile_sensor_data)

    def image_msgs(self, frames: Sequence[np.ndarray], encoding: str = "bgr8") -> list[Any]:
        """Frames as sensor_msgs/Image in ``encoding`` (tssd_ros.ros.conversions.bgr_to_image)."""
        from std_msgs.msg import Header

        from tssd_ros.ros.conversions import bgr_to_image

        return [bgr_to_image(im, Header(frame_id="camera_optical_frame"), encoding) for im in frames]

    def clear(self) -> None:
        """Forget what was received (a new phase, a new node)."""
        self.rx = Received()

    def wait_for_node(self, timeout: float = 120.0, settle: float = 1.0) -> bool:
        """Until the node is up (its first /diagnostics, published once it subscribes to the images after warming
        up its detector) and the image topic is matched, then ``settle`` seconds. The match count alone is not
        enough: the reader of a node killed with SIGKILL stays matched until its DDS lease runs out."""
        self.rx.diagnostics = {}
        end = time.time() + timeout
        while time.time() < end and not (self.rx.diagnostics and self.pub.get_subscription_count() > 0):
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
        self.spin(settle)
        return bool(self.rx.diagnostics) and self.pub.get_subscription_count() > 0

    def spin(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            self._rclpy.spin_once(self.node, timeout_sec=min(0.02, max(0.0, end - time.time())))

    def play(self, msgs: Sequence[Any], hz: float, count: int,
             on_frame: Callable[[int], None] | None = None, progress: bool = False) -> tuple[int, float]:
        """Publish ``count`` frames cycling through ``msgs`` at ``hz`` on a fixed schedule, each stamped with its
        send time; ``on_frame(i)`` after each. Returns (frames sent, seconds)."""
        from tqdm import tqdm

        bar = tqdm(total=count, desc="frames", unit="f", disable=not progress, mininterval=2.0)
        t_start = time.time()
        next_t = t_start
        sent = 0
        while sent < count:
            now = time.time()
            if now >= next_t:
                m = msgs[sent % len(msgs)]
                m.header.stamp.sec, m.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                self.pub.publish(m)
                sent += 1
                next_t += 1.0 / hz
                bar.update(1)
                if on_frame is not None:
                    on_frame(sent)
            self._rclpy.spin_once(self.node, timeout_sec=max(0.0, min(0.005, next_t - time.time())))
        bar.close()
        return sent, time.time() - t_start

    def close(self) -> None:
        self.node.destroy_node()
        self._rclpy.try_shutdown()
