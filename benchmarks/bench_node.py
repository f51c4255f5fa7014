"""tssd_node over real DDS vs pure inference: processed FPS, latency and the node's overhead.

A camera process (this script) publishes 640x480 bgr8 frames at 30 Hz with sensor-data QoS to a tssd_node
process running the mobile TSSD (MobileNet alpha 0.5 + Bottleneck-LSTM, 256 px). Latency = detections
receive time - image header stamp (both this machine's clock). Pure inference = Detector.step on the same
frames in this process. Results: benchmarks/results/node.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tssd_ros.classes import UNDERWATER_CLASSES

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

HERE = Path(__file__).resolve().parent
SECONDS = float(os.environ.get("BENCH_NODE_SECONDS", "20"))


def frames(n: int = 60) -> list[np.ndarray]:
    from tssd_ros.data.synth import DiveRenderer, SynthConfig

    r = DiveRenderer(SynthConfig(seed=4242, frames=n, width=640, height=480))
    return [r.render(i).image for i in range(n)]


def main() -> int:
    import rclpy
    import torch
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from tssd_ros.model.checkpoint import build_detector, load_detector, save_checkpoint
    from tssd_ros.model.config import DetectorConfig, PostprocessConfig

    tmp = Path(tempfile.mkdtemp())
    weights = HERE.parent / "weights" / "tssd_mobile_underwater.pt"
    if not weights.exists():
        cfg = DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=4, input_size=256,
                             alpha=0.5)
        weights = save_checkpoint(build_detector(cfg, UNDERWATER_CLASSES,
                                                 postprocess=PostprocessConfig(conf_threshold=0.4)), tmp / "m.pt")
    imgs = frames()

    # pure inference, same thread count as the node (torch default)
    det = load_detector(weights)
    for im in imgs[:5]:
        det.step(im)
    t_inf = []
    for im in imgs:
        t0 = time.perf_counter()
        det.step(im)
        t_inf.append(time.perf_counter() - t0)
    inf_ms = 1000 * np.array(t_inf)

    exe = Path(sys.executable).parent / "tssd_node"
    node = subprocess.Popen([str(exe), "--ros-args", "-p", f"weights:={weights}", "-r", "__ns:=/bench"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    n = rclpy.create_node("bench_camera")
    lat, recv = [], []

    def on_dets(m: Detection2DArray) -> None:
        now = time.time()
        recv.append(now)
        lat.append(now - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9))

    n.create_subscription(Detection2DArray, "/bench/detections", on_dets,
                          QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    pub = n.create_publisher(Image, "/bench/image", qos_profile_sensor_data)
    end = time.time() + 60
    while time.time() < end and pub.get_subscription_count() == 0:
        rclpy.spin_once(n, timeout_sec=0.1)
    time.sleep(3.0)  # let the node finish loading
    msgs = []
    for im in imgs:
        m = Image(height=480, width=640, encoding="bgr8", step=640 * 3, data=im.tobytes())
        m.header.frame_id = "camera_optical_frame"
        msgs.append(m)
    sent = 0
    t_start = time.time()
    next_t = t_start
    while time.time() - t_start < SECONDS:
        now = time.time()
        if now >= next_t:
            m = msgs[sent % len(msgs)]
            m.header.stamp.sec, m.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
            pub.publish(m)
            sent += 1
            next_t += 1 / 30
        rclpy.spin_once(n, timeout_sec=max(0.0, min(0.005, next_t - time.time())))
    t_end = time.time()
    for _ in range(50):
        rclpy.spin_once(n, timeout_sec=0.02)
    node.send_signal(2)
    node.wait(timeout=10)
    n.destroy_node()
    rclpy.shutdown()

    lat_ms = 1000 * np.array(lat[5:]) if len(lat) > 5 else np.array([np.nan])
    res = {
        "model": weights.name, "torch_threads": torch.get_num_threads(), "published_hz": 30,
        "published": sent, "processed": len(recv), "processed_fps": len(recv) / (t_end - t_start),
        "dropped_fraction": 1 - len(recv) / max(sent, 1),
        "inference_ms_p50": float(np.percentile(inf_ms, 50)), "inference_ms_p95": float(np.percentile(inf_ms, 95)),
        "latency_ms_p50": float(np.percentile(lat_ms, 50)), "latency_ms_p95": float(np.percentile(lat_ms, 95)),
    }
    res["overhead_ms_p50"] = res["latency_ms_p50"] - res["inference_ms_p50"]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "node.json").write_text(json.dumps(res, indent=1))
    for k, v in res.items():
        print(f"{k:>20}: {v:.2f}" if isinstance(v, float) else f"{k:>20}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
