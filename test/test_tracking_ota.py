"""OTA tracker: eqs. 6-7, association, lifetime, identities, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tssd_ros.errors import InputError, TssdError
from tssd_ros.tracking.ota import (
    OTAConfig,
    OTATracker,
    assign_greedy,
    assign_hungarian,
    box_iou,
)
from tssd_ros.types import Detections

NAMES = ("seaurchin", "scallop", "seacucumber")
BOX = [100.0, 100.0, 140.0, 140.0]


def dets(boxes, labels=None, scores=None, vecs=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    labels = np.zeros(n) if labels is None else labels
    scores = np.full(n, 0.9) if scores is None else scores
    return Detections(boxes, scores, labels, vecs, NAMES)


def ids(tracks) -> list[int]:
    return [t.track_id for t in tracks]


# -- eqs. 6 and 7 --------------------------------------------------------------------------------------


def test_box_iou_hand_computed():
    # IoU([0,0,10,10], [5,0,15,10]) = 50 / 150; disjoint boxes: 0
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]), [[1 / 3, 0.0]])


def _eq7_run(T: float, tub_len: int = 10) -> list[int]:
    """Frame 3's S is exp(1/3) * mean(cos) over the tubelet's stored vectors (0,1) and (1,1)/sqrt2."""
    trk = OTATracker(OTAConfig(mode="attention", T=T, tub_len=tub_len))
    out = []
    out += ids(trk.update(dets([[0, 0, 10, 10]], vecs=[[0.0, 1.0]])))
    out += ids(trk.update(dets([[0, 0, 10, 10]], vecs=[[1.0, 1.0]])))  # S = e * 0.707 = 1.92
    out += ids(trk.update(dets([[5, 0, 15, 10]], vecs=[[1.0, 0.0]])))
    return out


def test_tracker_uses_eq7_with_mean_over_tubelet_and_newest_box():
    s3 = math.exp(1 / 3) * (0 + math.sqrt(0.5)) / 2  # 0.4934
    assert _eq7_run(T=s3 - 0.005) == [0, 0, 0]
    assert _eq7_run(T=s3 + 0.005) == [0, 0, 1]
    # tub_len = 1 keeps only the newest vector: S = exp(1/3) * 0.707 = 0.987
    assert _eq7_run(T=0.9, tub_len=1) == [0, 0, 0]
    assert _eq7_run(T=0.9, tub_len=10) == [0, 0, 1]


# -- association ---------------------------------------------------------------------------------------


def test_greedy_duplicate_claim_highest_s_wins_loser_starts_new():
    trk = OTATracker(OTAConfig(mode="attention"))
    v = np.ones((1, 8))
    assert ids(trk.update(dets([BOX], vecs=v))) == [0]
    near = [101.0, 100.0, 141.0, 140.0]
    out = trk.update(dets([near, BOX], vecs=np.ones((2, 8))))  # both claim tubelet 0; BOX has IoU 1
    assert ids(out) == [1, 0]
    assert [t.det_index for t in out] == [0, 1]


def test_greedy_vs_hungarian():
    a, b = [0, 0, 10, 10], [6, 0, 16, 10]
    d0, d1 = [0, 0, 10, 10], [2, 0, 12, 10]  # d1: IoU 0.667 with a, 0.43 with b
    for assignment, expected in (("greedy", [0, 2]), ("hungarian", [0, 1])):
        trk = OTATracker(OTAConfig(mode="iou", assignment=assignment))
        assert ids(trk.update(dets([a, b]))) == [0, 1]
        assert ids(trk.update(dets([d0, d1]))) == expected


def test_assign_functions_gate_and_ties():
    S = np.array([[2.0, 1.5], [2.0, 0.5], [0.9, 0.8]])
    r, c = assign_greedy(S, 1.0)  # rows 0, 1 both take column 0 with equal S: lowest row keeps it
    assert r.tolist() == [0] and c.tolist() == [0]
    r, c = assign_hungarian(S, 1.0)
    assert sorted(zip(r.tolist(), c.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert assign_greedy(np.zeros((0, 3)), 1.0)[0].size == 0


def test_assign_greedy_equals_the_rule_written_as_a_loop():
    """The vectorised greedy (with its no-conflict shortcut) against the paper's rule as plain Python, on random
    matrices with and without rows claiming the same column and with ties."""
    rng = np.random.default_rng(0)

    def rule(S, T):
        claims = {}
        for i, row in enumerate(S):
            j = int(np.argmax(row))  # best column, lowest index on ties
            if row[j] > T and (j not in claims or row[j] > S[claims[j], j]):  # ties: the lower row keeps it
                claims[j] = i
        rows = sorted(claims.values())
        return rows, [int(np.argmax(S[i])) for i in rows]

    for k in range(300):
        n, m = rng.integers(1, 9, 2)
        S = rng.integers(0, 4, (n, m)).astype(float) / 2 if k % 2 else rng.random((n, m))
        r, c = assign_greedy(S, 0.3)
        assert (r.tolist(), c.tolist()) == rule(S, 0.3), S


def test_classes_never_mixed_and_ids_unique_across_classes():
    trk = OTATracker(OTAConfig(mode="iou"))
    out = trk.update(dets([BOX, [300, 300, 340, 340]], labels=[0, 1]))
    assert ids(out) == [0, 1]  # the reference restarted ids per class: both would be 0
    out = trk.update(dets([BOX], labels=[2]))  # same place, other class: a new identity
    assert ids(out) == [2]
    out = trk.update(dets([BOX, [300, 300, 340, 340]], labels=[0, 1]))
    assert ids(out) == [0, 1]
    assert [t.class_name for t in out] == ["seaurchin", "scallop"]


def test_return_contract_low_score_gets_no_identity():
    trk = OTATracker(OTAConfig(mode="iou", G=0.3))
    d = dets([BOX, [300, 300, 340, 340], [500, 500, 540, 540]], scores=[0.9, 0.2, 0.31])
    out = trk.update(d)
    assert ids(out) == [0, -1, 1]
    assert [t.det_index for t in out] == [0, 1, 2]
    assert not out[1].confirmed and out[1].hits == 0
    np.testing.assert_array_equal(out[1].box, d.boxes[1])
    assert trk.update(Detections.empty(NAMES)) == []
    live = trk.active_tracks()
    assert [t.track_id for t in live] == [0, 1]
    assert all(t.det_index == -1 and t.frames_since_update == 1 for t in live)


def test_missing_attention_raises_or_falls_back():
    with pytest.raises(InputError, match="attention vectors"):
        OTATracker(OTAConfig(mode="attention")).update(dets([BOX]))
    trk = OTATracker(OTAConfig(mode="attention", missing_attention="iou"))
    assert ids(trk.update(dets([BOX]))) == [0]
    assert ids(trk.update(dets([BOX]))) == [0]
    # an empty frame needs no vectors
    assert OTATracker(OTAConfig(mode="attention")).update(Detections.empty(NAMES)) == []
    with pytest.raises(TssdError):
        OTAConfig(mode="kalman")  # type: ignore[arg-type]


# -- lifetime ------------------------------------------------------------------------------------------


def _gap_run(gap: int, mode: str = "attention") -> list[int]:
    trk = OTATracker(OTAConfig(mode=mode))  # max_age_frames = 10
    v = np.array([[1.0, 0.2, 0.3]])
    seen = []
    for _ in range(3):
        seen += ids(trk.update(dets([BOX], vecs=v)))
    for _ in range(gap):
        trk.update(Detections.empty(NAMES, dim=None))
    seen += ids(trk.update(dets([BOX], vecs=v)))
    return seen


@pytest.mark.parametrize("mode", ["attention", "iou", "motion"])
def test_identity_kept_through_occlusion_within_max_age(mode):
    assert _gap_run(5, mode) == [0, 0, 0, 0]
    assert _gap_run(9, mode) == [0, 0, 0, 0]  # the reference's countdown: matched again on the 10th frame


@pytest.mark.parametrize("mode", ["attention", "iou"])
def test_new_identity_after_longer_occlusion(mode):
    assert _gap_run(10, mode) == [0, 0, 0, 1]
    assert _gap_run(25, mode) == [0, 0, 0, 1]


def test_max_age_s_kills_across_time_gap():
    trk = OTATracker(OTAConfig(mode="iou", max_age_s=2.0))
    assert ids(trk.update(dets([BOX]), timestamp=10.0)) == [0]
    assert ids(trk.update(dets([BOX]), timestamp=11.9)) == [0]  # 1.9 s: alive
    assert ids(trk.update(dets([BOX]), timestamp=14.0)) == [1]  # 2.1 s after, one frame later: dead
    off = OTATracker(OTAConfig(mode="iou", max_age_s=None))
    off.update(dets([BOX]), timestamp=0.0)
    assert ids(off.update(dets([BOX]), timestamp=100.0)) == [0]
    with pytest.raises(InputError, match="backwards"):
        off.update(dets([BOX]), timestamp=50.0)


def test_age_hits_confirmed_seconds():
    trk = OTATracker(OTAConfig(mode="iou", min_hits=3))
    for k in range(4):
        (t,) = trk.update(dets([BOX]), timestamp=k * 0.5)
        assert (t.age, t.hits, t.confirmed) == (k, k + 1, k + 1 >= 3)
    trk.update(Detections.empty(NAMES), timestamp=2.0)
    (live,) = trk.active_tracks()
    assert live.frames_since_update == 1 and live.seconds_since_update == pytest.approx(0.5)


# -- identities ----------------------------------------------------------------------------------------


def test_ids_never_reused_across_reset_and_next_id_settable():
    trk = OTATracker(OTAConfig(mode="iou"))
    assert ids(trk.update(dets([BOX, [300, 300, 340, 340]], labels=[0, 1]))) == [0, 1]
    trk.reset()
    assert trk.active_tracks() == []
    assert ids(trk.update(dets([BOX]))) == [2]
    trk.next_id = 100  # e.g. restored from a DiveCounter
    assert ids(trk.update(dets([[500, 500, 540, 540]]))) == [100]
    assert trk.next_id == 101
    with pytest.raises(TssdError, match="reuse"):
        trk.next_id = 1
    fresh = OTATracker(OTAConfig(mode="iou"))
    fresh.next_id = 42
    assert ids(fresh.update(dets([BOX]))) == [42]


# -- motion --------------------------------------------------------------------------------------------


def _scroll_run(mode: str) -> tuple[list[int], list[tuple[float, float]]]:
    """A box scrolling at 150 px/s, 10 fps, with frames 4-6 dropped (no update at all)."""
    trk = OTATracker(OTAConfig(mode=mode, max_age_s=2.0))
    seen, vel = [], []
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 147))
    for k in [0, 1, 2, 3, 7, 8, 9]:
        t = k * 0.1
        box = [100 + 150 * t, 200, 140 + 150 * t, 240]
        (tr,) = trk.update(dets([box], vecs=v + 0.05 * rng.normal(size=v.shape)), timestamp=t)
        seen.append(tr.track_id)
        vel.append(tr.velocity)
    return seen, vel


def test_motion_mode_bridges_dropped_frames_on_scrolling_scene():
    seen, vel = _scroll_run("motion")
    assert seen == [0] * 7
    assert vel[-1] == pytest.approx((150.0, 0.0), abs=0.05)  # the Kalman filter's estimate, px/s
    for mode in ("attention", "iou"):
        seen, _ = _scroll_run(mode)
        assert len(set(seen)) > 1  # 45 px jump on a 40 px box: no overlap with the last box


def test_deterministic_and_vectorised_on_simulated_sequence():
    from tssd_ros.tracking.offline import track_mot
    from tssd_ros.tracking.sim import simulate_scrolling_sequence

    seq = simulate_scrolling_sequence(3, n_frames=80)
    again = simulate_scrolling_sequence(3, n_frames=80)
    np.testing.assert_array_equal(seq.det, again.det)
    cfg = OTAConfig(mode="motion")
    a = track_mot(seq.det, config=cfg, feats=seq.feats, fps=seq.fps)
    b = track_mot(seq.det, config=cfg, feats=seq.feats, fps=seq.fps)
    np.testing.assert_array_equal(a, b)
    # one row per identified detection, ids unique per frame
    key = a[:, :2]
    assert len(np.unique(key, axis=0)) == len(a)


def test_many_tubelets_grow_storage_and_keep_identities():
    rng = np.random.default_rng(0)
    xy = np.stack(np.meshgrid(np.arange(15) * 60.0, np.arange(10) * 60.0), -1).reshape(-1, 2)
    boxes = np.concatenate([xy, xy + 40], 1)
    v = rng.normal(size=(150, 16))
    trk = OTATracker(OTAConfig(mode="motion"))
    first = ids(trk.update(dets(boxes, vecs=v), timestamp=0.0))
    assert first == list(range(150))
    order = rng.permutation(150)
    again = trk.update(dets(boxes[order] + 3.0, vecs=v[order] + 0.1), timestamp=0.1)
    assert ids(again) == order.tolist()
    assert len(trk.active_tracks()) == 150


def test_rejected_frame_changes_nothing():
    trk = OTATracker(OTAConfig(mode="attention"))
    trk.update(dets([BOX], vecs=np.ones((1, 4))), timestamp=1.0)
    with pytest.raises(InputError):
        trk.update(dets([BOX]), timestamp=1.1)  # no vectors
    with pytest.raises(InputError, match="changed size"):
        trk.update(dets([BOX], vecs=np.ones((1, 5))), timestamp=1.1)
    assert trk.frame_count == 1
    (t,) = trk.update(dets([BOX], vecs=np.ones((1, 4))), timestamp=1.1)
    assert (t.track_id, t.hits, t.age) == (0, 2, 1)
