"""Count error: predicted unique individuals per class vs ground-truth individuals worth counting.

Definitions (why: a survey count is only fair against animals the camera really showed):
- predicted count of a class = identities the counter confirmed (``DiveCounter``: an identity counts once
  it has been matched ``min_hits`` times, including its birth);
- true count of a class = ground-truth identities that were *countable*: seen in at least ``min_frames``
  frames (default = min_hits) with visibility >= ``min_visibility`` and a box side >= ``min_size`` px.
  An identity becomes countable at the frame of its ``min_frames``-th such appearance (counts over time);
- error = predicted - true (signed), abs error, relative abs error = |error| / max(true, 1);
  mean_rel_abs_error = mean of the relative errors over classes that have ground truth or predictions.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from tssd_ros.data.sequence import FrameTargets


def true_counts_over_time(frames: list[FrameTargets], n_classes: int, min_frames: int = 5,
                          min_visibility: float = 0.5, min_size: float = 8.0) -> np.ndarray:
    """(T, C) cumulative number of countable ground-truth identities per class after each frame."""
    seen: dict[tuple[int, int], int] = defaultdict(int)
    counted: set[tuple[int, int]] = set()
    out = np.zeros((len(frames), n_classes), np.int64)
    cur = np.zeros(n_classes, np.int64)
    for f, t in enumerate(frames):
        if len(t):
            wh = t.boxes[:, 2:] - t.boxes[:, :2]
            ok = (t.visibility >= min_visibility) & (wh.min(1) >= min_size) & ~t.ignore
            for i in np.flatnonzero(ok):
                key = (int(t.labels[i]), int(t.ids[i]))
                seen[key] += 1
                if seen[key] >= min_frames and key not in counted and 0 <= key[0] < n_classes:
                    counted.add(key)
                    cur[key[0]] += 1
        out[f] = cur
    return out


def count_error(pred: dict[str, int] | np.ndarray, true: dict[str, int] | np.ndarray,
                class_names: tuple[str, ...]) -> dict:
    """Per-class predicted/true/error plus totals and the mean relative absolute error."""
    p = np.array([pred.get(c, 0) for c in class_names] if isinstance(pred, dict) else pred, np.int64)
    t = np.array([true.get(c, 0) for c in class_names] if isinstance(true, dict) else true, np.int64)
    per = {}
    rel = []
    for k, c in enumerate(class_names):
        err = int(p[k] - t[k])
        r = abs(err) / max(int(t[k]), 1)
        per[c] = {"predicted": int(p[k]), "true": int(t[k]), "error": err, "abs_error": abs(err), "rel_abs_error": r}
        if t[k] > 0 or p[k] > 0:
            rel.append(r)
    return {"per_class": per, "predicted_total": int(p.sum()), "true_total": int(t.sum()),
            "total_error": int(p.sum() - t.sum()),
            "mean_rel_abs_error": float(np.mean(rel)) if rel else 0.0}


def ids_per_identity(gt_rows: np.ndarray, res_rows: np.ndarray, iou: float = 0.5) -> dict[str, float]:
    """The double-count figure: how many predicted identities each true individual was given.

    Per frame, result boxes are matched one to one to ground-truth boxes (Hungarian on IoU >= ``iou``); each true
    identity collects the predicted ids it was matched to. ``ids_per_identity`` = mean over matched true
    identities of that number (1.0: never split, so never counted twice); ``split_identities`` = how many got
    more than one. MOT rows: (frame, id, x, y, w, h, ...).
    """
    from scipy.optimize import linear_sum_assignment

    from tssd_ros.boxes import box_iou

    got: dict[int, set[int]] = defaultdict(set)
    if len(gt_rows) and len(res_rows):
        for f in np.unique(gt_rows[:, 0]):
            g = gt_rows[gt_rows[:, 0] == f]
            r = res_rows[res_rows[:, 0] == f]
            if not len(r):
                continue
            m = box_iou(np.column_stack([g[:, 2:4], g[:, 2:4] + g[:, 4:6]]),
                        np.column_stack([r[:, 2:4], r[:, 2:4] + r[:, 4:6]]))
            m = np.where(m >= iou, m, 0.0)
            gi, ri = linear_sum_assignment(-m)
            for a, b in zip(gi, ri, strict=True):
                if m[a, b] > 0:
                    got[int(g[a, 1])].add(int(r[b, 1]))
    n = [len(v) for v in got.values()]
    return {"ids_per_identity": float(np.mean(n)) if n else float("nan"), "matched_identities": len(n),
            "split_identities": int(sum(k > 1 for k in n))}
