"""`tssd play`: a bag's messages reach a real subscriber over DDS, whole, in order, at the recorded pace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rosutil import executable, require_ros

from tssd_ros.bag.writer import RAW_TOPIC, ImageBagWriter
from tssd_ros.cli import main as tssd

pytestmark = pytest.mark.ros

N = 10
PERIOD = 0.5  # s between frames in the bag (2 Hz); at --rate 5: 0.1 s


def write_bag(path, storage="sqlite3"):
    with ImageBagWriter(path, storage=storage) as w:
        for k in range(N):
            w.write(PERIOD * k, np.full((48, 64, 3), 10 * k, np.uint8))
    return path


def bag_messages(path):
    """[(receive ns, raw CDR, header stamp ns)] as recorded (rosbags, no rclpy)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as r:
        out = []
        for c, t, raw in r.messages():
            st = r.deserialize(raw, c.msgtype).header.stamp
            out.append((t, bytes(raw), st.sec * 10**9 + st.nanosec))
    return out


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    return write_bag(tmp_path_factory.mktemp("play") / "dive")


class Listener:
    """The test's own rclpy node: raw image bytes and /clock, each with its arrival time."""

    def __init__(self, topic: str = RAW_TOPIC) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("play_listener", context=self.ctx)
        self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.images: list[tuple[float, bytes]] = []
        self.clock: list[int] = []
        self.node.create_subscription(Image, topic, lambda b: self.images.append((time.monotonic(), b)), qos,
                                      raw=True)
        self.node.create_subscription(Clock, "/clock", lambda m: self.clock.append(
            m.clock.sec * 10**9 + m.clock.nanosec), qos)

    def play(self, *args: str, timeout: float = 20.0, stop_after: int | None = None, sigint_ignored: bool = False):
        """Run `tssd play` in its own process while spinning; SIGINT it after ``stop_after`` images.
        sigint_ignored: start it with SIGINT ignored, as a shell starts a background job (exec keeps that)."""
        cmd = [executable("tssd"), "play", *map(str, args), "--start-delay", "10", "--no-progress"]
        if sigint_ignored:
            cmd = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "os.execv(sys.argv[1], sys.argv[1:])", *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        end = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < end:
                self.ex.spin_once(timeout_sec=0.01)
                if stop_after is not None and len(self.images) >= stop_after:
                    proc.send_signal(signal.SIGINT)
                    stop_after = None
            late = time.monotonic() + 0.3  # what is still in flight
            while time.monotonic() < late:
                self.ex.spin_once(timeout_sec=0.01)
        finally:
            if proc.poll() is None:
                proc.kill()
        out, err = proc.communicate()
        return proc.returncode, out, err

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


@pytest.fixture
def listener():
    require_ros()
    lis = Listener()
    yield lis
    lis.close()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_every_message_arrives_in_order_whole_at_the_scaled_pace(listener, tmp_path, storage):
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    path = write_bag(tmp_path / "dive", storage)
    recorded = bag_messages(path)
    rc, out, err = listener.play(path, "--rate", "5")
    assert rc == 0, err
    assert [b for _, b in listener.images] == [raw for _, raw, _ in recorded]
    stamps = [deserialize_message(b, Image).header.stamp for _, b in listener.images]
    assert [s.sec * 10**9 + s.nanosec for s in stamps] == [st for _, _, st in recorded]
    # 0.5 s apart in the bag, 0.1 s apart at rate 5 (rate 1 would take 4.5 s, no pacing ~0 s)
    arrivals = np.array([t for t, _ in listener.images])
    assert 0.6 < arrivals[-1] - arrivals[0] < 1.8
    assert 0.06 < np.median(np.diff(arrivals)) < 0.2
    assert f"{RAW_TOPIC}: {N}" in out


def test_clock_follows_bag_time(listener, bag):
    rc, out, err = listener.play(bag, "--rate", "5", "--clock")
    assert rc == 0, err
    recorded = bag_messages(bag)
    clock = np.array(listener.clock)
    assert len(listener.images) == N
    # between messages at 100 Hz (0.9 s of play) and once before every message
    assert len(clock) >= N + 40
    assert clock[0] == recorded[0][0] and clock[-1] == recorded[-1][0]
    assert np.all(np.diff(clock) >= 0)
    assert np.all((clock >= recorded[0][0]) & (clock <= recorded[-1][0]))
    assert set(clock) >= {t for t, _, _ in recorded}


def test_loop_twice_repeats_every_message_and_clock_goes_back(listener, bag):
    rc, out, err = listener.play(bag, "--rate", "10", "--clock", "--loop", "2")
    assert rc == 0, err
    recorded = bag_messages(bag)
    assert [b for _, b in listener.images] == [raw for _, raw, _ in recorded] * 2
    clock = np.array(listener.clock)
    back = np.flatnonzero(np.diff(clock) < 0)
    assert len(back) == 1
    assert clock[back[0] + 1] == recorded[0][0]
    assert f"played 2 loop(s); messages published: /camera/image_raw: {2 * N}" in out


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["terminal", "background-job"])
def test_ctrl_c_stops_a_forever_loop_cleanly(listener, bag, sigint_ignored):
    """Also when started as a background job, with SIGINT ignored (CI runs started so once never stopped)."""
    rc, out, err = listener.play(bag, "--rate", "10", "--loop", stop_after=N + 3, sigint_ignored=sigint_ignored)
    assert rc == 0, f"rc {rc}, {len(listener.images)} images heard; stdout: {out[-500:]!r}; stderr: {err[-500:]!r}"
    assert out.startswith("interrupted after 1 loop(s)")
    assert "Traceback" not in err


def test_ros1_bag_is_converted_to_ros2_messages(listener, tmp_path):
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import Image

    ts = get_typestore(Stores.ROS1_NOETIC)
    t = ts.types
    path = tmp_path / "dive.bag"
    with Writer(path) as w:
        conn = w.add_connection(RAW_TOPIC, "sensor_msgs/msg/Image", typestore=ts)
        for k in range(3):
            header = t["std_msgs/msg/Header"](seq=k, stamp=t["builtin_interfaces/msg/Time"](sec=100 + k, nanosec=5),
                                              frame_id="cam")
            msg = t["sensor_msgs/msg/Image"](header=header, height=2, width=3, encoding="mono8", is_bigendian=0,
                                             step=3, data=np.arange(6, dtype=np.uint8) + k)
            w.write(conn, (100 + k) * 10**9, ts.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    rc, out, err = listener.play(path, "--rate", "10")
    assert rc == 0, err
    got = [deserialize_message(b, Image) for _, b in listener.images]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) for m in got] == [
        (100 + k, 5, "cam") for k in range(3)]
    assert [bytes(m.data) for m in got] == [bytes(np.arange(6, dtype=np.uint8) + k) for k in range(3)]
    assert all((m.height, m.width, m.encoding, m.step) == (2, 3, "mono8", 3) for m in got)


def test_topic_without_python_package_is_skipped_with_a_warning(tmp_path):
    require_ros()
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from tssd_ros.ros.player import Bag

    ts = get_typestore(Stores.ROS2_JAZZY)
    ts.register(get_types_from_msg("int32 x", "no_such_pkg/msg/Thing"))
    path = tmp_path / "mixed"
    with Writer(path, version=9) as w:
        thing = w.add_connection("/thing", "no_such_pkg/msg/Thing", typestore=ts)
        w.write(thing, 1, ts.serialize_cdr(ts.types["no_such_pkg/msg/Thing"](x=1), "no_such_pkg/msg/Thing"))
        img = w.add_connection(RAW_TOPIC, "std_msgs/msg/String", typestore=ts)
        w.write(img, 2, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"))
    warnings: list[str] = []
    b = Bag(path, warn=warnings.append)
    try:
        assert b.types == {RAW_TOPIC: "std_msgs/msg/String"} and b.count == 1
        assert len(warnings) == 1 and "/thing" in warnings[0] and "no_such_pkg/msg/Thing" in warnings[0]
        assert [t for t, _, _ in b.messages()] == [RAW_TOPIC]
    finally:
        b.close()


@pytest.mark.parametrize("args, message", [
    (["--topics", "/nope"], "/nope not in the bag (its topics: /camera/image_raw)"),
    (["--rate", "0"], "--rate must be > 0"),
])
def test_bad_arguments_are_one_line_and_exit_2(bag, capsys, args, message):
    require_ros()
    assert tssd(["play", str(bag), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("tssd play: error:")


def test_missing_bag_is_one_line_and_exit_2(tmp_path, capsys):
    require_ros()
    assert tssd(["play", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


def test_looped_play_through_the_node_resets_state_and_keeps_counts(toy_weights, tmp_path):
    """`tssd play --loop 2 --clock` to tssd_node with use_sim_time: time goes back at the second loop; the node
    survives, resets its temporal state and keeps counting (the counts never go down)."""
    from rosutil import Harness, node_process
    from test_replay import scene

    from tssd_ros.ros.conversions import counts_from_msg
    from tssd_ros.train.toy import make_toy_frame

    with ImageBagWriter(tmp_path / "toy") as w:
        for k in range(20):
            w.write(0.1 * k, make_toy_frame(k, scene(k), size=128, seed=k)[0])
    log = tmp_path / "node.log"
    with node_process("tssd_node", params={"weights": str(toy_weights), "use_sim_time": True, "min_hits": 3},
                      remaps={"image": RAW_TOPIC}, log_path=log) as proc:
        h = Harness("")
        try:
            assert h.spin_until(lambda: h.node.count_publishers("/detections") > 0, 60.0), log.read_text()
            player = subprocess.Popen([executable("tssd"), "play", str(tmp_path / "toy"), "--loop", "2", "--clock",
                                       "--rate", "0.5", "--no-progress"], stdout=subprocess.PIPE, text=True)
            h.spin_until(lambda: player.poll() is not None, 60.0)
            h.spin_until(lambda: False, 1.0)
            assert player.returncode == 0
        finally:
            h.close()
        assert proc.poll() is None, log.read_text()
    totals = [sum(u for u, _ in counts_from_msg(m).values()) for m in h.counts]
    assert len(h.dets) >= 30 and totals == sorted(totals) and totals[-1] >= 2, totals
    assert "temporal state reset: time_backwards" in log.read_text()
