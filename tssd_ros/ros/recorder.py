"""Recording live topics into a rosbag2 (mcap) with rclpy, for machines without ``ros2 bag record``.

Why: the demo records what the running nodes publish, the way a user would with ``ros2 bag record``, and
leaves a bag any reader opens (definitions embedded by :class:`~tssd_ros.bag.message_bag.MessageBagWriter`).
Messages are taken serialised (``raw=True``: no decode/encode) and stamped with their receive time. A topic
may also get a callback with the decoded message (the demo writes its annotated video from one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from tssd_ros.bag.message_bag import MessageBagWriter
from tssd_ros.ros.dds import use_shipped_profile
from tssd_ros.ros.player import message_class

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
# label_info and grasp_status are latched (transient local): a late recorder still gets the last one
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class BagRecorder:
    """Context manager: subscribes to ``topics`` (name -> ``pkg/msg/Type``) on its own rclpy context and writes
    every message into ``writer`` from a spinning thread; ``watch[topic](msg)`` gets decoded messages too (the
    topic is then not written to the bag unless it is also in ``topics``)."""

    def __init__(self, writer: MessageBagWriter, topics: dict[str, str], latched: tuple[str, ...] = (),
                 watch: dict[str, tuple[str, Callable[[Any], None]]] | None = None) -> None:
        use_shipped_profile()
        self.writer = writer
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.ctx = rclpy.Context()
        rclpy.init(args=[], context=self.ctx)
        self.node = rclpy.create_node("tssd_record", context=self.ctx)
        for topic, msgtype in topics.items():
            self.node.create_subscription(message_class(msgtype), topic, self._writer_for(topic, msgtype),
                                          LATCHED if topic in latched else RELIABLE, raw=True)
        for topic, (msgtype, fn) in (watch or {}).items():
            cls = message_class(msgtype)
            self.node.create_subscription(cls, topic, self._watcher(topic, cls, fn), RELIABLE, raw=True)
        self._ex = SingleThreadedExecutor(context=self.ctx)
        self._ex.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="tssd_record", daemon=True)
        self._stop = threading.Event()

    def _writer_for(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def on_msg(data: bytes) -> None:
            with self._lock:
                self.writer.write(topic, msgtype, data, time.time_ns())
                self.counts[topic] = self.counts.get(topic, 0) + 1
        return on_msg

    def _watcher(self, topic: str, cls: type, fn: Callable[[Any], None]) -> Callable[[bytes], None]:
        def on_msg(data: bytes) -> None:
            self.counts[topic] = self.counts.get(topic, 0) + 1
            fn(deserialize_message(data, cls))
        return on_msg

    def _spin(self) -> None:
        while not self._stop.is_set() and self.ctx.ok():
            self._ex.spin_once(timeout_sec=0.05)

    def __enter__(self) -> BagRecorder:
        self._thread.start()
        return self

    def publisher_count(self, topic: str) -> int:
        return self.node.count_publishers(topic)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)
