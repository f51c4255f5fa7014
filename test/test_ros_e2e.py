"""First end-to-end test over real DDS: images from this process, detections from a tssd_node process."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rosutil import node_process, require_ros, spin_until

require_ros()

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from tssd_ros.classes import UNDERWATER_CLASSES  # noqa: E402

pytestmark = pytest.mark.ros


def _image(i: int, frame_id: str) -> Image:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + i // 10, (i % 10) * 100_000_000
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding, msg.step = 120, 160, "bgr8", 160 * 3
    msg.data = img.tobytes()
    return msg


def exchange(n_frames: int, discovery_timeout: float, answer_timeout: float) -> tuple[list, list]:
    """Publish frames one at a time, each after the previous answer; return (sent headers, answers)."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("e2e_camera", context=ctx)
    try:
        answers: list[Detection2DArray] = []
        node.create_subscription(Detection2DArray, "/e2e/detections", answers.append,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        pub = node.create_publisher(Image, "/e2e/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        sent = []
        if not spin_until(node, lambda: pub.get_subscription_count() > 0 and node.count_publishers(
                "/e2e/detections") > 0, discovery_timeout, ex):
            return sent, answers
        for i in range(n_frames):
            msg = _image(i, f"cam_{i % 3}")
            sent.append((msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id))
            pub.publish(msg)
            if not spin_until(node, lambda k=i: len(answers) > k, answer_timeout, ex):
                break
        return sent, answers
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_node_answers_every_image_with_its_header(tiny_weights, tmp_path):
    with node_process("tssd_node", params={"weights": str(tiny_weights), "reliability": "reliable"},
                      namespace="/e2e", log_path=tmp_path / "node.log") as proc:
        sent, answers = exchange(12, discovery_timeout=60.0, answer_timeout=20.0)
        assert proc.poll() is None, (tmp_path / "node.log").read_text()
    log = (tmp_path / "node.log").read_text()
    assert len(sent) == 12, f"node never came up; log:\n{log}"
    assert len(answers) == 12, log
    got = [(a.header.stamp.sec, a.header.stamp.nanosec, a.header.frame_id) for a in answers]
    assert got == sent
    for a in answers:
        for d in a.detections:  # every detection carries the image header and a class name
            assert (d.header.stamp.sec, d.header.frame_id) == (a.header.stamp.sec, a.header.frame_id)
            assert d.results[0].hypothesis.class_id in UNDERWATER_CLASSES


def test_without_the_node_nothing_answers():
    """The exchange above really depends on the node: with no node started, it gets no answer."""
    t0 = time.monotonic()
    sent, answers = exchange(3, discovery_timeout=3.0, answer_timeout=2.0)
    assert sent == [] and answers == []
    assert time.monotonic() - t0 < 20
