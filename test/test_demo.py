"""`tssd demo`: synthetic dive -> rosbag2 -> the node's pipeline -> detections, video, counts, plots."""

from __future__ import annotations

import json

import cv2

from tssd_ros.cli import main as tssd


def test_demo_runs_end_to_end_on_a_short_dive(toy_weights, tmp_path, capsys):
    out = tmp_path / "demo"
    assert tssd(["demo", "--out", str(out), "--weights", str(toy_weights), "--frames", "8"]) == 0
    recs = [json.loads(x) for x in (out / "detections.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(8))
    assert all(r["stamp"] > 0 for r in recs)
    counts = json.loads((out / "counts.json").read_text())
    assert set(counts["counts"]) == {"seaurchin", "scallop", "seacucumber"}
    for name in ("annotated_frames.png", "counts_over_time.png"):
        img = cv2.imread(str(out / name))
        assert img is not None and img.size > 0
    cap = cv2.VideoCapture(str(out / "annotated.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    text = capsys.readouterr().out
    assert "counted" in text and "seacucumber" in text
    # a second run reuses the rendered dive
    assert tssd(["demo", "--out", str(out), "--weights", str(toy_weights), "--frames", "8"]) == 0
    assert "rendering" not in capsys.readouterr().out


def test_demo_without_weights_says_how_to_fix(tmp_path, capsys):
    assert tssd(["demo", "--out", str(tmp_path / "d"), "--weights", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0]
