"""DiveCounter: counting rules, restarts and crash-safe saving."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tssd_ros.errors import TssdError
from tssd_ros.tracking.counting import ID_RESERVE, DiveCounter
from tssd_ros.tracking.ota import OTAConfig, OTATracker
from tssd_ros.types import Detections

NAMES = ("seaurchin", "scallop", "seacucumber")
A = [100.0, 100.0, 140.0, 140.0]
B = [400.0, 300.0, 450.0, 350.0]
FP = [700.0, 50.0, 730.0, 80.0]


def frame(boxes, labels) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(labels), 0.9), labels, None, NAMES)


def run(trk: OTATracker, counter: DiveCounter, frames: list[Detections]) -> None:
    for d in frames:
        counter.update(trk.update(d), next_id=trk.next_id)


def test_flicker_not_counted_real_object_counted_once_across_leave_and_return():
    cfg = OTAConfig(mode="iou")
    trk, counter = OTATracker(cfg), DiveCounter(NAMES, min_hits=cfg.min_hits)
    frames = []
    for k in range(12):
        boxes, labels = [A], [1]
        if k in (2, 3):  # a false positive seen for two frames
            boxes.append(FP)
            labels.append(1)
        frames.append(frame(boxes, labels))
    run(trk, counter, frames)
    assert counter.counts["scallop"] == 1
    assert counter.snapshot()["scallop"] == {"total": 1, "in_view": 1}
    # the scallop leaves for 6 frames (within max age) and comes back: still one individual
    run(trk, counter, [frame([], [])] * 6)
    assert counter.snapshot()["scallop"] == {"total": 1, "in_view": 0}
    run(trk, counter, [frame([A], [1])] * 3)
    assert counter.counts == {"seaurchin": 0, "scallop": 1, "seacucumber": 0}
    # a second individual of another class, seen long enough
    run(trk, counter, [frame([A, B], [1, 2])] * 5)
    assert counter.counts["seacucumber"] == 1
    assert counter.snapshot()["seacucumber"]["in_view"] == 1
    assert counter.next_id == trk.next_id


def test_restart_continues_counts_and_next_id(tmp_path):
    path = tmp_path / "dive" / "counts.json"
    trk, counter = OTATracker(OTAConfig(mode="iou")), DiveCounter.load_or_new(path, NAMES)
    run(trk, counter, [frame([A, B], [0, 0])] * 6)
    assert counter.counts["seaurchin"] == 2
    counter.save(path)
    issued = trk.next_id

    # the node restarts: new tracker and counter
    counter2 = DiveCounter.load_or_new(path, NAMES)
    trk2 = OTATracker(OTAConfig(mode="iou"))
    trk2.next_id = counter2.next_id
    assert counter2.counts["seaurchin"] == 2 and counter2.next_id == issued + ID_RESERVE
    run(trk2, counter2, [frame([A, FP], [0, 0])] * 6)
    assert counter2.counts["seaurchin"] == 4  # the same animals get new ids after a restart (OTA has no re-id)
    new_ids = {t.track_id for t in trk2.active_tracks()}
    assert min(new_ids) >= issued  # never reissued
    counter2.save(path)
    assert DiveCounter.load(path).counted_ids["seaurchin"] == counter2.counted_ids["seaurchin"]
    counter2.reset_counts()
    assert counter2.counts["seaurchin"] == 0 and counter2.next_id == trk2.next_id


def test_ids_issued_after_the_last_save_are_never_reissued_after_a_crash(tmp_path):
    """The node's rule (Pipeline.ids_unsaved -> save before publishing): a crash at any frame, and the restarted
    tracker starts above every identity the dead one issued, even with no periodic save since."""
    from tssd_ros.pipeline import Pipeline

    class Replay:  # detections from a list: only the tracker and counter are under test
        class_names = NAMES

        def __init__(self, frames):
            self.frames, self.i = frames, 0

        def step(self, _img):
            self.i += 1
            return self.frames[(self.i - 1) % len(self.frames)]

        def reset(self):
            pass

    path = tmp_path / "counts.json"
    # a new animal every 3 frames: identities keep being issued between saves
    frames = [frame([[10 + 40 * (k // 3), 10, 40 + 40 * (k // 3), 40]], [0]) for k in range(30)]
    img = np.zeros((8, 8, 3), np.uint8)
    pipe = Pipeline(Replay(frames), OTAConfig(mode="iou", min_hits=1), DiveCounter.load_or_new(path, NAMES))
    published: set[int] = set()
    saves = 0
    for k in range(30):
        res = pipe.process(img, k / 10)
        if pipe.ids_unsaved:
            pipe.save_counts(path)
            saves += 1
        published |= {i for i in res.published_ids() if i is not None}
    assert len(published) >= 5 and saves == 1  # one save reserved enough identities for the whole run
    # kill -9 here: no final save. The restart's tracker starts above all of them.
    restarted = Pipeline(Replay(frames), OTAConfig(mode="iou", min_hits=1), DiveCounter.load(path))
    assert restarted.tracker.next_id > max(published)


@pytest.mark.parametrize("target", ["replace", "fsync", "dumps"])
def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch, target):
    path = tmp_path / "counts.json"
    counter = DiveCounter(NAMES)
    counter.counted_ids["scallop"] = {3, 5}
    counter.next_id = 6
    counter.save(path)
    before = path.read_bytes()

    counter.counted_ids["scallop"].add(9)
    counter.next_id = 10

    def crash(*a, **k):
        raise OSError(28, "No space left on device")

    if target == "replace":
        monkeypatch.setattr(os, "replace", crash)
    elif target == "fsync":
        monkeypatch.setattr(os, "fsync", crash)
    else:
        monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises((TssdError, RuntimeError)):
        counter.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    restored = DiveCounter.load(path)
    assert restored.counts["scallop"] == 2 and restored.next_id == 6 + ID_RESERVE
    assert [p.name for p in tmp_path.iterdir()] == ["counts.json"]  # no temp file left behind


@pytest.mark.parametrize(
    "content, why",
    [
        ('{"format": "tssd_ros.dive_counter", "version": 1, "next_id": 3', "not JSON"),
        ("", "not JSON"),
        ('{"hello": 1}', "not a"),
        ('{"format": "tssd_ros.dive_counter", "version": 1, "min_hits": 5, "next_id": 2, "class_names": [],'
         ' "counts": {"a": 2}, "counted_ids": {"a": [1]}}', "do not match"),
        ('{"format": "tssd_ros.dive_counter", "version": 1, "min_hits": 5, "next_id": 2, "class_names": [],'
         ' "counts": {"a": 1}, "counted_ids": {"a": [7]}}', "next_id"),
        ('{"format": "tssd_ros.dive_counter", "version": 1, "min_hits": 5, "next_id": 9, "class_names": [],'
         ' "counts": {"a": 1, "b": 1}, "counted_ids": {"a": [7], "b": [7]}}', "two classes"),
    ],
)
def test_corrupt_file_is_a_clear_error_not_a_zero_count(tmp_path, content, why):
    path = tmp_path / "counts.json"
    path.write_text(content)
    with pytest.raises(TssdError, match=why):
        DiveCounter.load(path)
    with pytest.raises(TssdError, match="corrupt counts file"):
        DiveCounter.load_or_new(path, NAMES)
    with pytest.raises(TssdError, match="does not exist"):
        DiveCounter.load(tmp_path / "missing.json")
