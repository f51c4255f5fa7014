"""`tssd replay` on a real rosbag2 gives the answers the live node gives for the same frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rosutil import Harness, image_msg, node_process, require_ros

from tssd_ros.bag.writer import ImageBagWriter
from tssd_ros.cli import main as tssd


def scene(k: int):
    # an urchin drifting through, then nothing, then a sea cucumber
    if k < 14:
        return [(0, 64, 30 + 2 * k, 30)]
    if k < 18:
        return []
    return [(2, 25 + 3 * (k - 18), 60, 36)]


@pytest.fixture(scope="module")
def toy_bag(tmp_path_factory):
    from tssd_ros.train.toy import make_toy_frame

    folder = tmp_path_factory.mktemp("bag")
    frames = []
    with ImageBagWriter(folder / "dive", compressed=False) as w:
        for k in range(26):
            img, _, _ = make_toy_frame(k, scene(k), size=128, seed=k)
            w.write(0.1 * k, img)
            frames.append(img)
    return folder / "dive", frames


PARAMS = Path(__file__).resolve().parents[1] / "config" / "tssd.yaml"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_writes_one_record_per_frame_with_identities(toy_weights, toy_bag, tmp_path):
    bag, frames = toy_bag
    out = tmp_path / "dets.jsonl"
    counts = tmp_path / "counts.json"
    assert tssd(["replay", str(bag), "--weights", str(toy_weights), "--jsonl", str(out), "--min-hits", "3",
                 "--count-min-hits", "3", "--counts", str(counts)]) == 0
    recs = read_jsonl(out)
    assert [r["frame"] for r in recs] == list(range(len(frames)))
    assert np.all(np.diff([r["stamp"] for r in recs]) > 0)
    ids_urchin = {d["track_id"] for r in recs[3:14] for d in r["detections"] if d["class_name"] == "seaurchin"}
    assert len(ids_urchin) == 1 and None not in ids_urchin
    assert all(not r["detections"] for r in recs[14:18])
    saved = json.loads(counts.read_text())
    assert saved["counts"]["seaurchin"] == 1 and saved["counts"]["seacucumber"] == 1


def test_replay_errors_are_one_line(tmp_path, capsys, tiny_weights):
    assert tssd(["replay", str(tmp_path / "missing"), "--weights", str(tiny_weights), "--jsonl",
                 str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


@pytest.mark.ros
def test_live_node_gives_the_same_answers_as_replay(toy_weights, toy_bag, tmp_path):
    require_ros()
    bag, frames = toy_bag
    out = tmp_path / "dets.jsonl"
    assert tssd(["replay", str(bag), "--params", str(PARAMS), "--weights", str(toy_weights), "--jsonl", str(out),
                 "--min-hits", "3", "--count-min-hits", "3"]) == 0
    offline = read_jsonl(out)
    ns = "/replay_eq"
    # the node gets the same file (it applies in any namespace) and the same overrides
    with node_process("tssd_node", params={"weights": str(toy_weights), "reliability": "reliable", "min_hits": 3,
                                           "count_min_hits": 3},
                      namespace=ns, log_path=tmp_path / "node.log", params_file=PARAMS):
        h = Harness(ns)
        try:
            assert h.wait_for_node(), (tmp_path / "node.log").read_text()
            live = [h.send(image_msg(img, rec["stamp"])) for img, rec in zip(frames, offline, strict=True)]
        finally:
            h.close()
    for rec, msg in zip(offline, live, strict=True):
        assert msg is not None
        assert len(msg.detections) == len(rec["detections"])
        for d, r in zip(msg.detections, rec["detections"], strict=True):
            assert d.id == ("" if r["track_id"] is None else str(r["track_id"]))
            assert d.results[0].hypothesis.class_id == r["class_name"]
            x1, y1, x2, y2 = r["box"]
            assert d.bbox.center.position.x == pytest.approx((x1 + x2) / 2, abs=0.02)
            assert d.results[0].hypothesis.score == pytest.approx(r["score"], abs=1e-4)
