"""The shared pipeline's stream rules: state persists, resets on gaps/backwards time/size changes, counts survive.

The detector here is scripted (a list of per-frame Detections) so that the rules are tested exactly; the
real detector goes through the same pipeline in the ROS and CLI tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from tssd_ros.errors import InputError
from tssd_ros.model.config import PostprocessConfig
from tssd_ros.pipeline import Pipeline, PipelineConfig
from tssd_ros.tracking.counting import ID_RESERVE, DiveCounter
from tssd_ros.tracking.ota import OTAConfig
from tssd_ros.types import Detections

NAMES = ("seaurchin", "scallop", "seacucumber")


class ScriptedDetector:
    """Returns one object of class `label` moving right by 2 px/frame, with a fixed appearance vector."""

    class_names = NAMES

    def __init__(self, label: int = 1, present=lambda k: True) -> None:
        self.label, self.present = label, present
        self.k = 0
        self.resets = 0
        self.vec = np.random.default_rng(label).normal(size=147).astype(np.float32)

    def step(self, bgr):
        k = self.k
        self.k += 1
        if not self.present(k):
            return Detections.empty(NAMES, 147)
        x = 20 + 2 * k
        return Detections([[x, 30, x + 30, 60]], [0.9], [self.label], self.vec[None], NAMES)

    def reset(self):
        self.resets += 1


IMG = np.zeros((120, 160, 3), np.uint8)


def run(p: Pipeline, n: int, t0: float = 0.0, dt: float = 0.1, img=IMG):
    return [p.process(img, t0 + i * dt) for i in range(n)]


def test_identity_persists_and_is_published_only_once_confirmed():
    p = Pipeline(ScriptedDetector(), OTAConfig(min_hits=5))
    res = run(p, 8)
    assert [r.published_ids()[0] for r in res] == [None] * 4 + [0] * 4
    assert res[-1].counts["scallop"] == (1, 1)
    assert res[-1].counts["seaurchin"] == (0, 0)


@pytest.mark.parametrize("reason, times, img2", [
    ("gap", (0.0, 0.1, 0.2, 5.0), IMG),
    ("time_backwards", (10.0, 10.1, 10.2, 3.0), IMG),
    ("image_size", (0.0, 0.1, 0.2, 0.3), np.zeros((100, 100, 3), np.uint8)),
])
def test_resets_start_a_new_stream_but_keep_counts(reason, times, img2):
    det = ScriptedDetector()
    p = Pipeline(det, OTAConfig(min_hits=2), config=PipelineConfig(max_gap_s=1.0))
    r = [p.process(IMG, t) for t in times[:3]]
    assert r[-1].published_ids() == [0] and r[-1].counts["scallop"] == (1, 1)
    after = p.process(img2, times[3])
    assert after.reset_reason == reason and det.resets == 1 and p.resets == {reason: 1}
    # a new stream: a new tubelet, a new identity (never reused), the count of the dive kept
    assert after.track_ids[0] == 1 and after.published_ids() == [None]
    assert after.counts["scallop"] == (1, 0)


def test_no_reset_while_continuous():
    det = ScriptedDetector()
    p = Pipeline(det, config=PipelineConfig(max_gap_s=1.0))
    res = run(p, 20, dt=0.5)
    assert det.resets == 0 and all(r.reset_reason is None for r in res)
    assert len({int(r.track_ids[0]) for r in res}) == 1


def test_manual_reset_and_reset_counts():
    p = Pipeline(ScriptedDetector(), OTAConfig(min_hits=2))
    run(p, 3)
    p.reset()
    r = run(p, 3, t0=1.0)
    assert r[-1].published_ids() == [1]
    assert r[-1].counts["scallop"] == (2, 1)  # the same animal, re-identified after a manual reset
    p.reset_counts()
    assert p.counts()["scallop"] == (0, 0)
    r = run(p, 1, t0=2.0)
    assert r[0].published_ids() == [1] and r[0].counts["scallop"] == (1, 1)


def test_flicker_not_counted_and_leaving_object_counted_once():
    # present frames 0-5, absent 6-8 (within max age), back 9-14: one identity, counted once
    det = ScriptedDetector(present=lambda k: not 6 <= k <= 8)
    p = Pipeline(det, OTAConfig(min_hits=3, max_age_frames=10))
    res = run(p, 15)
    assert {int(r.track_ids[0]) for r in res if len(r.detections)} == {0}
    assert res[-1].counts["scallop"] == (1, 1)
    # a two-frame flicker never reaches min_hits
    p2 = Pipeline(ScriptedDetector(label=0, present=lambda k: k < 2), OTAConfig(min_hits=3))
    assert run(p2, 6)[-1].counts["seaurchin"] == (0, 0)


def test_counts_and_ids_continue_after_restart(tmp_path):
    path = tmp_path / "counts.json"
    p = Pipeline(ScriptedDetector(), OTAConfig(min_hits=2))
    run(p, 4)
    p.save_counts(path)
    restored = DiveCounter.load(path)
    p2 = Pipeline(ScriptedDetector(), OTAConfig(min_hits=2), restored)
    r = run(p2, 3, t0=100.0)
    assert r[-1].counts["scallop"] == (2, 1)  # restart = a new stream; the old count continues
    assert int(r[-1].track_ids[0]) == 1 + ID_RESERVE  # never reissues identity 0 (nor any of the reserve)


def test_bad_images_are_rejected_without_touching_state():
    det = ScriptedDetector()
    p = Pipeline(det)
    run(p, 2)
    for bad in (np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(InputError):
            p.process(bad, 0.3)
    assert det.k == 2 and det.resets == 0


def test_runtime_ota_change():
    p = Pipeline(ScriptedDetector(), OTAConfig(min_hits=5))
    run(p, 3)
    p.set_ota(min_hits=2, G=0.5)
    assert p.counter.min_hits == 2 and p.tracker.config.G == 0.5
    assert run(p, 1, t0=0.3)[0].published_ids() == [0]  # tubelets kept, confirmation rule updated


def test_node_parameters_map_to_ota_config():
    from tssd_ros.pipeline import ota_changes_from_params

    ch = ota_changes_from_params({"ota_mode": "motion", "ota_T": -1.0, "ota_max_age_s": 0.0, "min_hits": 3,
                                  "conf_threshold": 0.5})
    assert ch == {"mode": "motion", "T": None, "max_age_s": None, "min_hits": 3}
    assert ota_changes_from_params({"ota_T": 1.2, "ota_max_age_s": 2.5}) == {"T": 1.2, "max_age_s": 2.5}
    assert OTAConfig(**ch).mode == "motion"


def test_identity_published_at_min_hits_counted_at_count_min_hits():
    """A split identity is a double count: counting waits for more evidence than publishing."""
    p = Pipeline(ScriptedDetector(present=lambda k: k < 7), OTAConfig(min_hits=3),
                 config=PipelineConfig(count_min_hits=8))
    res = run(p, 7)
    assert res[2].published_ids() != [None]  # published at 3 matches
    assert p.counts()["scallop"] == (0, 0)  # 7 matches < 8: never counted
    q = Pipeline(ScriptedDetector(), OTAConfig(min_hits=3), config=PipelineConfig(count_min_hits=8))
    res = run(q, 10)
    assert [r.counts["scallop"][0] for r in res] == [0] * 7 + [1] * 3
    q.set_count_min_hits(0)  # below min_hits: min_hits
    assert q.count_min_hits == 3 and q.counter.min_hits == 3


def test_warm_up_leaves_no_state():
    det = ScriptedDetector()
    p = Pipeline(det, OTAConfig(min_hits=3))
    p.warm_up((120, 160))
    assert det.resets == 1 and p.tracker.frame_count == 0 and p.counts()["scallop"] == (0, 0)


class ThresholdedDetector:
    """One individual whose score dips to 0.25 at frame 4 (blur), plus a faint stray box at 0.25 on every frame;
    returns what scores above its postprocess.conf_threshold, as a real detector does."""

    class_names = NAMES

    def __init__(self) -> None:
        self.postprocess = PostprocessConfig(conf_threshold=0.35)
        self.k = 0

    def set_postprocess(self, **changes):
        self.postprocess = PostprocessConfig(**{**self.postprocess.__dict__, **changes})
        return self.postprocess

    def step(self, bgr):
        x = 20 + 2 * self.k
        s = 0.25 if self.k == 4 else 0.9
        self.k += 1
        d = Detections([[x, 30, x + 30, 60], [120, 80, 150, 110]], [s, 0.25], [1, 1], None, NAMES)
        return d.select(d.scores > self.postprocess.conf_threshold)

    def reset(self):
        pass


def test_faint_boxes_extend_confirmed_identities_and_are_published_only_then():
    """track_threshold: boxes between it and conf_threshold are tracking evidence only (ByteTrack's low-score
    boxes): the individual's blurred frame keeps its identity; the faint stray box is never published."""
    det = ThresholdedDetector()
    ota = OTAConfig(min_hits=3, missing_attention="iou")
    p = Pipeline(det, ota, config=PipelineConfig(track_threshold=0.15))
    assert p.conf_threshold == 0.35 and det.postprocess.conf_threshold == 0.15
    res = run(p, 6)
    assert [len(r.detections) for r in res] == [1, 1, 1, 1, 1, 1]  # the stray box: never
    assert res[4].detections.scores[0] == pytest.approx(0.25) and res[4].published_ids() == [0]
    assert res[5].published_ids() == [0] and res[5].tracks[0].hits == 6
    assert res[5].counts["scallop"] == (1, 1)
    # off (None, or not below conf_threshold): the blurred frame shows nothing, the detector runs at 0.35
    for cfg in (PipelineConfig(), PipelineConfig(track_threshold=0.5)):
        off = ThresholdedDetector()
        res = run(Pipeline(off, ota, config=cfg), 6)
        assert off.postprocess.conf_threshold == 0.35 and len(res[4].detections) == 0
        assert res[5].tracks[0].hits == 5
    # tracking off: no identity, so nothing below conf_threshold is published
    p.config.track = False
    assert [len(r.detections) for r in run(p, 2, t0=1.0)] == [1, 1]
    p.config.track = True
    # runtime changes keep the split
    p.set_thresholds(conf_threshold=0.2)
    assert (p.conf_threshold, det.postprocess.conf_threshold) == (0.2, 0.15)
    p.set_thresholds(track_threshold=1.0)
    assert p.detector.postprocess.conf_threshold == 0.2


class FlippingDetector(ScriptedDetector):
    """A sea cucumber the detector calls a scallop in frames 8-11."""

    def step(self, bgr):
        d = super().step(bgr)
        d.labels[:] = 1 if 8 <= self.k - 1 < 12 else 2
        return d


def test_an_identity_is_published_and_counted_under_one_class():
    """The published detection carries its identity's class (the tubelet's vote), not the detector's flip, so a
    consumer (grasp selection, a counter downstream) sees one animal of one class."""
    p = Pipeline(FlippingDetector(), OTAConfig(min_hits=3))
    res = run(p, 20)
    published = [(r.published_ids()[0], r.detections.class_name(0)) for r in res if r.published_ids()[0] is not None]
    assert len(published) == 18 and set(published) == {(0, "seacucumber")}
    assert res[-1].counts["seacucumber"] == (1, 1) and res[-1].counts["scallop"] == (0, 0)
