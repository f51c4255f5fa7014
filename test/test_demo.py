"""`tssd demo`: synthetic dive -> rosbag2 -> the real nodes over DDS (or the offline pipeline) -> output bag,
video, contact sheet, counts against the truth, grasp log."""

from __future__ import annotations

import json

import cv2
import pytest
from rosutil import require_ros

from tssd_ros.cli import main as tssd


def bag_messages(path):
    from rosbags.highlevel import AnyReader

    out: dict[str, list] = {}
    with AnyReader([path]) as reader:
        for conn, _t, raw in reader.messages():
            out.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    return out


def detections_by_stamp(msgs):
    return {(m.header.stamp.sec, m.header.stamp.nanosec): [
        (d.id, d.results[0].hypothesis.class_id, round(d.bbox.center.position.x, 1)) for d in m.detections]
        for m in msgs["/detections"]}


def check_outputs(out, frames):
    msgs = bag_messages(out / "output_bag")
    n = len(msgs["/detections"])
    assert 0 < n <= frames and len(msgs["/counts"]) == n and len(msgs["/label_info"]) >= 1
    assert len((out / "grasp_log.jsonl").read_text().splitlines()) == len(msgs["/grasp_status"]) >= n
    truth = json.loads((out / "counts_vs_truth.json").read_text())
    assert set(truth) == {"seaurchin", "scallop", "seacucumber"} and all("true" in v for v in truth.values())
    for name in ("contact_sheet.png", "counts_over_time.png"):
        img = cv2.imread(str(out / name))
        assert img is not None and img.size > 0
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    return msgs


def test_offline_demo_and_cached_dive(toy_weights, tmp_path, capsys):
    out = tmp_path / "demo"
    assert tssd(["demo", "--offline", "--out", str(out), "--weights", str(toy_weights), "--frames", "8"]) == 0
    assert len(check_outputs(out, 8)["/detections"]) == 8
    text = capsys.readouterr().out
    assert "counted" in text and "seacucumber" in text and "output_bag" in text
    assert tssd(["demo", "--offline", "--out", str(out), "--weights", str(toy_weights), "--frames", "8"]) == 0
    assert "rendering" not in capsys.readouterr().out


@pytest.mark.ros
def test_live_demo_runs_the_nodes_and_matches_the_offline_replay(toy_weights, tmp_path, capsys):
    """Played slowly enough that the node drops nothing, the live nodes publish what the offline replay records."""
    require_ros()
    offline, live = tmp_path / "offline", tmp_path / "live"
    assert tssd(["demo", "--offline", "--out", str(offline), "--weights", str(toy_weights), "--frames", "10"]) == 0
    assert tssd(["demo", "--out", str(live), "--weights", str(toy_weights), "--frames", "10", "--rate", "0.2"]) == 0
    text = capsys.readouterr().out
    assert "live nodes over DDS: 10 of 10 frames processed" in text, text
    got, want = check_outputs(live, 10), bag_messages(offline / "output_bag")
    assert detections_by_stamp(got) == detections_by_stamp(want)
    assert [m.data for m in got["/grasp_status"]][-10:] == [m.data for m in want["/grasp_status"]]
    assert json.loads((live / "counts.json").read_text())["counts"] == json.loads(
        (offline / "counts.json").read_text())["counts"]
    assert (live / "logs" / "tssd_node.log").read_text().count("tssd_node ready") == 1


def test_demo_without_weights_says_how_to_fix(tmp_path, capsys):
    assert tssd(["demo", "--out", str(tmp_path / "d"), "--weights", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0]
