"""`tssd replay IN_BAG --out OUT_BAG`: the node's outputs as a real rosbag2 any reader can open."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rosutil import require_ros
from test_replay import scene

from tssd_ros.bag.writer import ImageBagWriter
from tssd_ros.cli import main as tssd

require_ros()

OUT_TOPICS = {"/detections": "vision_msgs/msg/Detection2DArray", "/counts": "diagnostic_msgs/msg/DiagnosticArray",
              "/label_info": "vision_msgs/msg/LabelInfo", "/grasp_status": "std_msgs/msg/String",
              "/grasp_target": "vision_msgs/msg/Detection2D",
              "/grasp_target/point": "geometry_msgs/msg/PointStamped",
              "/image_annotated": "sensor_msgs/msg/Image"}


def make_bag(path, compressed=False, n=24):
    from tssd_ros.train.toy import make_toy_frame

    with ImageBagWriter(path, compressed=compressed) as w:
        for k in range(n):
            w.write(0.1 * k, make_toy_frame(k, scene(k), size=128, seed=k)[0])
    return path


@pytest.fixture(scope="module")
def raw_bag(tmp_path_factory):
    return make_bag(tmp_path_factory.mktemp("in") / "raw")


def read_all(path):
    """Every message of a bag, decoded with the definitions embedded in the bag only (no typestore given), and
    each message re-encoded (for comparing two bags)."""
    from rosbags.highlevel import AnyReader

    out: dict[str, list] = {}
    raw: dict[str, list] = {}
    with AnyReader([path]) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for conn, t, data in reader.messages():
            msg = reader.deserialize(data, conn.msgtype)
            out.setdefault(conn.topic, []).append((t, msg))
            # re-encoded: Fast CDR leaves alignment padding uninitialised, so equal messages differ in bytes
            raw.setdefault(conn.topic, []).append((t, bytes(reader.typestore.serialize_cdr(msg, conn.msgtype))))
    return types, out, raw


def replay(bag, out, weights, *extra):
    return tssd(["replay", str(bag), "--weights", str(weights), "--out", str(out), "--min-hits", "3",
                 "--count-min-hits", "3", *extra])


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_output_bag_round_trip(raw_bag, toy_weights, tmp_path, storage):
    jsonl = tmp_path / "d.jsonl"
    assert replay(raw_bag, tmp_path / "out", toy_weights, "--storage", storage, "--annotated", "--images",
                  "--jsonl", str(jsonl)) == 0
    types, msgs, _ = read_all(tmp_path / "out")
    assert {k: v for k, v in types.items() if k != "/camera/image_raw"} == OUT_TOPICS
    assert types["/camera/image_raw"] == "sensor_msgs/msg/Image"
    _, inputs, _ = read_all(raw_bag)
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    n = len(inputs["/camera/image_raw"])
    for topic in ("/detections", "/counts", "/grasp_status", "/image_annotated", "/camera/image_raw"):
        assert len(msgs[topic]) == n, topic
    assert len(msgs["/label_info"]) == 1
    from tssd_ros.model import load_detector

    assert [c.class_name for c in msgs["/label_info"][0][1].class_map] == list(load_detector(toy_weights).class_names)
    for (t_in, m_in), (t_out, det), rec in zip(inputs["/camera/image_raw"], msgs["/detections"], recs, strict=True):
        assert t_out == t_in and det.header.stamp == m_in.header.stamp
        assert [d.id for d in det.detections] == ["" if d["track_id"] is None else str(d["track_id"])
                                                  for d in rec["detections"]]
        assert [d.results[0].hypothesis.class_id for d in det.detections] == [d["class_name"]
                                                                              for d in rec["detections"]]
    # the urchin (confirmed after 3 frames) is locked as the grasp target, in pixels (no calibration offline)
    states = [json.loads(m.data) for _, m in msgs["/grasp_status"]]
    assert any(s["state"] == "locked" for s in states)
    locked = [s for s in states if s["state"] == "locked"]
    assert len(msgs["/grasp_target"]) == len(msgs["/grasp_target/point"]) == sum(
        1 for s in states if s["state"] == "locked" and s["frames_locked"] > 0 and s["unseen_s"] == 0)
    assert all(s["point"] == "pixel" for s in locked)
    img = msgs["/image_annotated"][5][1]
    assert (img.height, img.width, img.encoding) == (128, 128, "bgr8")


def test_replay_is_deterministic_and_writes_video(raw_bag, toy_weights, tmp_path):
    assert replay(raw_bag, tmp_path / "a", toy_weights, "--video", str(tmp_path / "a.mp4")) == 0
    assert replay(raw_bag, tmp_path / "b", toy_weights) == 0
    assert read_all(tmp_path / "a")[2] == read_all(tmp_path / "b")[2]
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10, abs=0.1)


def test_compressed_bag_and_a_corrupt_message(tmp_path, toy_weights, capsys):
    from rosbags.rosbag2 import Reader, Writer
    from rosbags.typesys import Stores, get_typestore

    src = make_bag(tmp_path / "jpeg", compressed=True, n=12)
    # copy it with message 5 truncated to garbage
    ts = get_typestore(Stores.ROS2_JAZZY)
    with Reader(src) as r, Writer(tmp_path / "broken", version=9) as w:
        conn = w.add_connection("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage", typestore=ts)
        for i, (_c, t, data) in enumerate(r.messages()):
            w.write(conn, t, data[:7] if i == 5 else data)
    assert replay(tmp_path / "broken", tmp_path / "out", toy_weights) == 0
    err = capsys.readouterr().err
    assert "frame 5 skipped" in err and "undecodable" in err
    _, msgs, _ = read_all(tmp_path / "out")
    assert len(msgs["/detections"]) == 11


def test_bad_inputs_are_one_line_and_exit_2(raw_bag, toy_weights, tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metadata.yaml").write_text("not: a bag\n")
    cases = [[str(tmp_path / "junk"), "--out", str(tmp_path / "o1")],
             [str(raw_bag), "--topic", "/nope", "--out", str(tmp_path / "o2")],
             [str(raw_bag), "--out", str(raw_bag)],
             [str(raw_bag), "--out", str(tmp_path / "x.jsonl")]]
    for args in cases:
        capsys.readouterr()
        assert tssd(["replay", *args, "--weights", str(toy_weights)]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, (args, err)
    assert not (tmp_path / "o2").exists()


def test_ros1_bag(tmp_path, toy_weights):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    from tssd_ros.train.toy import make_toy_frame

    ts = get_typestore(Stores.ROS1_NOETIC)
    Image, Header, Time = (ts.types[k] for k in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                   "builtin_interfaces/msg/Time"))
    with Writer(tmp_path / "dive.bag") as w:
        conn = w.add_connection("/cam/image", "sensor_msgs/msg/Image", typestore=ts)
        for k in range(10):
            img = make_toy_frame(k, scene(k), size=96, seed=k)[0]
            msg = Image(header=Header(seq=k, stamp=Time(sec=100 + k, nanosec=0), frame_id="cam"), height=96,
                        width=96, encoding="bgr8", is_bigendian=0, step=96 * 3, data=img.reshape(-1))
            w.write(conn, (100 + k) * 10**9, ts.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    assert replay(tmp_path / "dive.bag", tmp_path / "out", toy_weights, "--images") == 0
    types, msgs, _ = read_all(tmp_path / "out")
    assert len(msgs["/detections"]) == 10 and types["/cam/image"] == "sensor_msgs/msg/Image"
    assert [m.header.stamp.sec for _, m in msgs["/detections"]] == list(range(100, 110))
    im = msgs["/cam/image"][3][1]
    assert (im.height, im.width) == (96, 96) and np.asarray(im.data).size == 96 * 96 * 3
