"""AP, count error and score stability on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tssd_ros.data.sequence import FrameTargets
from tssd_ros.eval.counting import count_error, true_counts_over_time
from tssd_ros.eval.detection import DetectionEvaluator, ScoreStability, voc_ap

NAMES = ("seaurchin", "scallop", "seacucumber")


def ft(boxes, labels, ids=None, vis=None, ignore=None) -> FrameTargets:
    n = len(boxes)
    return FrameTargets(np.asarray(boxes, np.float32).reshape(n, 4), np.asarray(labels, np.int64),
                        np.asarray(ids if ids is not None else range(n), np.int64),
                        np.asarray(vis if vis is not None else [1.0] * n, np.float32),
                        np.asarray(ignore if ignore is not None else [False] * n, bool))


def test_voc_ap_all_point_interpolation():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    # envelope: precision at recall r is the max precision at recall >= r
    assert voc_ap(np.array([0.25, 0.25, 0.5]), np.array([1.0, 0.5, 0.6667])) == pytest.approx(0.25 + 0.25 * 0.6667)
    assert voc_ap(np.array([]), np.array([])) == 0.0


def test_ap_hand_made_case():
    ev = DetectionEvaluator(NAMES)
    a = ft([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])
    b = ft([[0, 0, 10, 10], [40, 40, 50, 50], [60, 60, 70, 70]], [0, 0, 1], ignore=[False, True, False])
    # frame a: TP 0.9, FP 0.8 (nothing there), duplicate 0.6 (FP); frame b: TP 0.7, ignored 0.95
    ev.add([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10.5]], [0.9, 0.8, 0.6], [0, 0, 0], a)
    ev.add([[0, 0, 10, 10], [40, 40, 50, 50]], [0.7, 0.95], [0, 0], b)
    aps, m = ev.result()
    # order: TP FP TP FP; precision 1, .5, .667, .5; recall 1/3, 1/3, 2/3, 2/3 -> AP = 1/3 + 1/3 * 2/3
    assert aps[0].ap == pytest.approx(5 / 9)
    assert aps[0].n_gt == 3 and aps[0].n_det == 4
    assert aps[1].ap == 0.0 and aps[1].n_gt == 1, "a missed class has AP 0"
    assert np.isnan(aps[2].ap) and aps[2].n_gt == 0
    assert m == pytest.approx((5 / 9 + 0.0) / 2), "mAP over classes with ground truth"


def test_count_error_hand_made_case():
    frames = [
        ft([[0, 0, 20, 20], [30, 30, 50, 50], [60, 0, 80, 20]], [0, 1, 1], ids=[1, 2, 3], vis=[1, 1, 0.2]),
        ft([[1, 0, 21, 20], [60, 0, 80, 20]], [0, 1], ids=[1, 3], vis=[0.9, 0.2]),
        ft([[2, 0, 22, 20], [60, 0, 80, 20], [0, 40, 4, 44]], [0, 1, 2], ids=[1, 3, 4], vis=[0.8, 0.2, 1.0]),
        ft([[0, 40, 4, 44]], [2], ids=[4]),
    ]
    true = true_counts_over_time(frames, 3, min_frames=2, min_visibility=0.5, min_size=8)
    # id 1 countable at its 2nd visible frame; id 2 seen once; id 3 never visible enough; id 4 too small
    assert true.tolist() == [[0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]]
    err = count_error({"seaurchin": 2, "scallop": 1}, true[-1], NAMES)
    assert err["per_class"]["seaurchin"] == {"predicted": 2, "true": 1, "error": 1, "abs_error": 1,
                                             "rel_abs_error": 1.0}
    assert err["per_class"]["scallop"]["error"] == 1 and err["per_class"]["seacucumber"]["error"] == 0
    assert err["total_error"] == 2 and err["mean_rel_abs_error"] == pytest.approx(1.0)
    assert count_error([3, 0, 0], [3, 0, 0], NAMES)["mean_rel_abs_error"] == 0.0


def test_score_stability():
    s = ScoreStability(min_len=3)
    for v in (0.5, 0.7, 0.5, 0.7):
        s.add("a", v)
    for v in (0.9, 0.9, 0.9):
        s.add("b", v)
    s.add("c", 0.1)  # too short: ignored
    r = s.result()
    assert r["tracks"] == 2
    assert r["mean_score_std"] == pytest.approx((0.1 + 0.0) / 2)
    assert r["mean_abs_score_change"] == pytest.approx((0.2 + 0.0) / 2)


def test_drop_ignored_removes_matching_results_only():
    from tssd_ros.eval.report import drop_ignored

    gt = np.array([[1, 1, 1, 1, 10, 10, 1, 0], [1, 2, 50, 50, 10, 10, 0, 0]], float)
    res = np.array([[1, 7, 1, 1, 10, 10, 0.9, 0], [1, 8, 51, 50, 10, 10, 0.8, 0], [1, 9, 90, 90, 5, 5, 0.5, 0]], float)
    g, r = drop_ignored(gt, res)
    assert g[:, 1].tolist() == [1] and r[:, 1].tolist() == [7, 9]


def test_ids_per_identity_counts_split_individuals():
    from tssd_ros.eval.counting import ids_per_identity

    def row(f, i, x):
        return [f, i, x, 10, 20, 20]

    gt = np.array([row(f, 1, 10 + f) for f in range(1, 5)] + [row(f, 2, 100) for f in range(1, 5)], float)
    # individual 1 is tracked as 10 then 11 (a split: counted twice); individual 2 as 20 throughout; 30 is a
    # false positive far from everything
    res = np.array([row(1, 10, 10), row(2, 10, 12), row(3, 11, 13), row(4, 11, 14)]
                   + [row(f, 20, 101) for f in range(1, 5)] + [row(2, 30, 300)], float)
    out = ids_per_identity(gt, res)
    assert out == {"ids_per_identity": 1.5, "matched_identities": 2, "split_identities": 1}
    assert ids_per_identity(gt, res[:0])["matched_identities"] == 0
