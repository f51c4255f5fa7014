"""Publishing a bag's messages with rclpy at their recorded timing (``tssd play``), no ``ros2 bag`` needed.

Why: offboard laptops get the ROV's bags and this package's pip wheels, not a ROS install with rosbag2; this
feeds tssd_node and grasp_selector_node from a bag as the camera did.

Timing: each message goes out at its receive (log) time, scaled by the rate, on a schedule fixed from one
monotonic origin per loop, so a late message does not delay the ones after it (no drift). With ``clock``, /clock
carries the bag time at ``CLOCK_HZ`` and, exactly, just before every message, so nodes with ``use_sim_time``
know the message's time when it arrives. Each loop starts again at the bag's first message: bag time (and the
header stamps) go back, which the nodes take as a new stream.

QoS: reliable, keep last 10, volatile, on every topic and on /clock. Why reliable: a reliable writer matches
reliable and best-effort readers alike (tssd_node's camera input is best effort by default, its detections
reliable); a best-effort writer would not match a reliable reader. ``best_effort`` is there for links where
retransmissions hurt more than losses. The recorded QoS is not replayed (latched topics are published volatile).

rosbag2 messages go out as the CDR bytes they were recorded as; ROS 1 messages are converted by rosbags'
converter (the one ``rosbags-convert`` uses) to the ROS 2 Jazzy definitions.
"""

from __future__ import annotations

import importlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import rclpy
from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock

from tssd_ros.bag.reader import _open, ros1_to_cdr, ros2_type
from tssd_ros.errors import InputError
from tssd_ros.ros.dds import use_shipped_profile

CLOCK_TOPIC = "/clock"
CLOCK_HZ = 100.0
QOS = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
ACK_TIMEOUT_S = 2.0  # at the end: how long reliable readers get to acknowledge the last messages
# At the start: once our writers see every reader, the readers' side of discovery may not be done yet, and a
# best-effort reader drops what comes before it has matched our writer (seen under load: a lost first frame).
SETTLE_S = 1.0


def message_class(msgtype: str) -> type | None:
    """The rclpy message class of ``pkg/msg/Name``, or None when its Python package is not importable."""
    pkg, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(pkg.replace("/", ".")), name)
    except (ImportError, AttributeError):
        return None


class Bag:
    """An open bag reduced to the topics to play: ``types`` (topic -> ROS 2 message type), ``count`` (messages
    per loop) and ``messages()`` as ROS 2 CDR bytes."""

    def __init__(self, path: str | Path, topics: list[str] | None = None,
                 warn: Callable[[str], None] = print) -> None:
        """Open ``path`` and keep ``topics`` (default: all). Topics whose message package is not importable are
        skipped with a warning; an unknown topic, or nothing left to play, is an InputError."""
        self.reader = _open(path)
        try:
            self.reader.open()
        except Exception as e:  # noqa: BLE001 - rosbags raises several types for unreadable bags
            raise InputError(f"cannot read bag {str(path)!r}: {e}") from None
        try:
            self._select(str(path), topics, warn)
        except BaseException:
            self.reader.close()
            raise

    def _select(self, path: str, topics: list[str] | None, warn: Callable[[str], None]) -> None:
        reader = self.reader
        in_bag = sorted({c.topic for c in reader.connections})
        unknown = [t for t in topics or () if t not in in_bag]
        if unknown:
            raise InputError(f"topic(s) {', '.join(unknown)} not in the bag (its topics: {', '.join(in_bag)})")
        wanted = set(topics or in_bag)
        rename = (lambda t: t) if reader.is2 else ros2_type
        self.types: dict[str, str] = {}
        self._conns = []
        for c in reader.connections:
            msgtype = rename(c.msgtype)
            if c.topic not in wanted:
                continue
            if c.topic not in self.types and message_class(msgtype) is None:
                warn(f"topic {c.topic} skipped: message type {msgtype} is not importable (source its workspace)")
                wanted.discard(c.topic)
            elif self.types.setdefault(c.topic, msgtype) != msgtype:
                warn(f"topic {c.topic} also has {msgtype} messages in the bag: only its {self.types[c.topic]} play")
            else:
                self._conns.append(c)
        if not self._conns:
            raise InputError(f"nothing to play in {path!r}")
        self.count = sum(c.msgcount for c in self._conns)
        self._convert = None if reader.is2 else ros1_to_cdr(reader, {c.msgtype for c in self._conns})

    def messages(self) -> Iterator[tuple[str, int, bytes]]:
        """(topic, receive time in ns, CDR bytes) in receive order, from the start of the bag."""
        for conn, log_ns, raw in self.reader.messages(connections=self._conns):
            data = bytes(raw) if self._convert is None else self._convert[conn.msgtype](raw)
            yield conn.topic, log_ns, data

    def close(self) -> None:
        self.reader.close()


class BagPlayer:
    """Publishers for a bag's topics (and /clock) on ``node``, and the paced loop over its messages."""

    def __init__(self, node: Node, types: dict[str, str], qos: str = "reliable", clock: bool = False,
                 clock_hz: float = CLOCK_HZ) -> None:
        profile = QoSProfile(depth=10, reliability=QOS[qos])
        self.node = node
        self.pubs = {t: node.create_publisher(message_class(m), t, profile) for t, m in types.items()}
        self.clock_pub = node.create_publisher(Clock, CLOCK_TOPIC, profile) if clock else None
        self.clock_period = 1.0 / clock_hz
        self._last_tick = float("-inf")
        self.counts: Counter[str] = Counter()

    def wait_for_subscribers(self, timeout: float) -> list[str]:
        """Until every publisher has a subscriber (so the first messages are not lost), at most ``timeout`` s;
        returns the topics still without one."""
        pubs = [*self.pubs.values(), *([self.clock_pub] if self.clock_pub else [])]
        end = time.monotonic() + timeout
        while (alone := [p.topic_name for p in pubs if p.get_subscription_count() == 0]) and time.monotonic() < end:
            time.sleep(0.02)
        return alone

    def _clock(self, ns: int) -> None:
        self.clock_pub.publish(Clock(clock=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)))
        self.counts[CLOCK_TOPIC] += 1

    def play_once(self, messages: Iterable[tuple[str, int, bytes]], rate: float = 1.0,
                  on_message: Callable[[], None] | None = None) -> None:
        """Publish ``messages`` at their receive times / ``rate`` (the first one now), ticking /clock between."""
        t0_wall = t0_bag = None
        last_clock = None
        for topic, log_ns, data in messages:
            if t0_wall is None:
                t0_wall, t0_bag = time.monotonic(), log_ns
                last_clock = log_ns
            due = t0_wall + (log_ns - t0_bag) * 1e-9 / rate
            while (now := time.monotonic()) < due:
                if self.clock_pub is not None and now - self._last_tick >= self.clock_period:
                    # bag time now, kept monotonic and short of this message's time
                    last_clock = min(max(last_clock, t0_bag + int((now - t0_wall) * rate * 1e9)), log_ns)
                    self._clock(last_clock)
                    self._last_tick = now
                wake = due if self.clock_pub is None else min(due, self._last_tick + self.clock_period)
                time.sleep(max(0.0, wake - time.monotonic()))
            if self.clock_pub is not None:
                last_clock = log_ns
                self._clock(log_ns)
                self._last_tick = time.monotonic()
            self.pubs[topic].publish(data)
            self.counts[topic] += 1
            if on_message is not None:
                on_message()

    def wait_for_acks(self, timeout: float = ACK_TIMEOUT_S) -> None:
        """Give reliable readers time to get (retransmissions of) the last messages before the publishers go.
        Acknowledgements come with the writer's heartbeat, so this often takes the whole timeout; /clock is
        not waited for. Best-effort readers (tssd_node's default) cannot acknowledge, and Fast DDS drops the
        samples a reader has not yet taken when their writer goes away (Fast-DDS PR #1647): they get SETTLE_S
        first (a live demo lost its last frame once without it)."""
        time.sleep(SETTLE_S)
        end = time.monotonic() + timeout
        for p in self.pubs.values():
            p.wait_for_all_acked(Duration(nanoseconds=int(max(0.0, end - time.monotonic()) * 1e9)))


def play(bag: str | Path, topics: list[str] | None = None, rate: float = 1.0, loops: int = 1,
         clock: bool = False, qos: str = "reliable", start_delay: float = 3.0, progress: bool = True,
         warn: Callable[[str], None] = print) -> tuple[Counter[str], int, bool]:
    """Play ``bag`` ``loops`` times (0: until Ctrl-C) on its own rclpy context.

    Returns (messages published per topic, loops completed, interrupted). Ctrl-C stops cleanly (not an error).
    """
    from tqdm import tqdm

    if not rate > 0:
        raise InputError(f"--rate must be > 0, got {rate}")
    if loops < 0:
        raise InputError(f"--loop must be >= 0 (0: forever), got {loops}")
    if qos not in QOS:
        raise InputError(f"unknown QoS {qos!r}: use {' or '.join(QOS)}")
    src = Bag(bag, topics, warn)
    use_shipped_profile()
    ctx = rclpy.Context()
    node = player = None
    done, interrupted = 0, False
    bar = tqdm(total=src.count * loops or None, unit="msg", desc="play", disable=not progress)
    # Ctrl-C (SIGINT) as Python's own KeyboardInterrupt, without rclpy's signal handler in between, and set
    # explicitly, as ros2 bag play does: a shell starts a background job with SIGINT ignored, and Python keeps an
    # inherited "ignore" (CI runs started that way never stopped a looping play)
    prev = signal.signal(signal.SIGINT, signal.default_int_handler) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        rclpy.init(args=[], context=ctx, signal_handler_options=SignalHandlerOptions.NO)
        node = rclpy.create_node("tssd_play", context=ctx)
        player = BagPlayer(node, src.types, qos, clock)
        alone = player.wait_for_subscribers(start_delay)
        if alone:
            warn(f"no subscriber on {', '.join(alone)} after {start_delay:g} s: playing anyway")
        else:
            time.sleep(SETTLE_S)
        while loops == 0 or done < loops:
            player.play_once(src.messages(), rate, partial(bar.update, 1))
            done += 1
        player.wait_for_acks()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        try:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown(context=ctx)
        finally:
            src.close()
            if prev is not None:
                signal.signal(signal.SIGINT, prev)
    return (player.counts if player else Counter()), done, interrupted
