"""MOTChallenge files and metrics (HOTA, CLEAR MOT, IDF1) computed by TrackEval's own metric classes.

Why: identity quality must be measured the way the field measures it, so that OTA can be compared with the
trackers people would otherwise use. The metrics are TrackEval 1.3.0's ``HOTA``, ``CLEAR`` and ``Identity``
``eval_sequence``; this module only does what TrackEval's MOTChallenge loader does before them, on arrays:

* ground truth rows with conf (column 7) = 0 are ignored (MOT "zero_marked");
* with a class column (9+ columns and column 8 holding MOT class ids 1..13, i.e. MOT16/17/20 gt) only
  pedestrians (class 1) are evaluated and tracker boxes matched (IoU >= 0.5) to distractor classes
  (person_on_vehicle, static_person, distractor, reflection) are removed first, as TrackEval does;
* otherwise (7-column MOT15 gt, or MOT15's 10 columns with x, y, z = -1) every row is one class and no
  distractor step is applied (TrackEval's MOT15 behaviour);
* similarity = box IoU (TrackEval's own function); CLEAR/Identity match at IoU 0.5.

Arrays are in MOT layout: frame, id, x, y, w, h, conf, ... (1-based frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from tssd_ros.data.mot import rows_by_frame
from tssd_ros.errors import InputError

_MOT_CLASSES = range(1, 14)
_DISTRACTORS = (2, 7, 8, 12)  # person_on_vehicle, static_person, distractor, reflection

#: Keys of evaluate_mot's result, in display order (fractions in [0, 1] except the counts).
SUMMARY_KEYS = (
    "HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW",
    "MT", "PT", "ML", "Frag", "FP", "FN", "TP", "GT_IDs", "IDs", "GT_Dets", "Dets",
)


def write_mot_txt(path: str | Path, rows: np.ndarray) -> None:
    """Write tracker results: frame, id, x, y, w, h, conf, -1, -1, -1 (MOTChallenge result layout)."""
    rows = np.asarray(rows, np.float64).reshape(-1, rows.shape[1] if np.ndim(rows) == 2 else 10)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.4g},-1,-1,-1\n")


def _has_classes(gt: np.ndarray) -> bool:
    if gt.shape[1] < 9 or len(gt) == 0:
        return False
    c = gt[:, 7]
    return bool(np.all(np.isin(c, np.asarray(_MOT_CLASSES, np.float64))))


def _check_unique(ids: np.ndarray, frames: np.ndarray, what: str) -> None:
    key = np.stack([frames, ids], 1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    if len(uniq) and counts.max() > 1:
        f, i = uniq[np.argmax(counts)]
        raise InputError(f"{what}: id {int(i)} appears more than once in frame {int(f)}")


def evaluate_mot(gt: np.ndarray, res: np.ndarray) -> dict[str, float]:
    """HOTA, DetA, AssA, MOTA, MOTP, IDF1, IDSW, MT/PT/ML, FP, FN, ... of one sequence (see SUMMARY_KEYS).

    gt, res: MOT-layout arrays (frame, id, x, y, w, h[, conf, class, visibility]). Ratios are fractions
    (1.0 = perfect); HOTA/DetA/AssA/LocA are averaged over TrackEval's 19 localisation thresholds.
    """
    from trackeval.datasets._base_dataset import _BaseDataset
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt = np.asarray(gt, np.float64)
    res = np.asarray(res, np.float64)
    if res.size == 0:
        res = np.zeros((0, 7))
    if gt.size == 0:
        gt = np.zeros((0, 7))
    if gt.ndim != 2 or gt.shape[1] < 6:
        raise InputError(f"ground truth must be an (N, >=6) MOT array, got shape {gt.shape}")
    if res.ndim != 2 or res.shape[1] < 6:
        raise InputError(f"results must be an (N, >=6) MOT array, got shape {res.shape}")
    _check_unique(gt[:, 1], gt[:, 0], "ground truth")
    _check_unique(res[:, 1], res[:, 0], "results")

    classed = _has_classes(gt)
    g_conf = gt[:, 6] if gt.shape[1] >= 7 else np.ones(len(gt))
    g_cls = gt[:, 7] if classed else np.ones(len(gt))
    frames = np.concatenate([gt[:, 0], res[:, 0]]).astype(np.int64)
    first, last = (min(1, int(frames.min())), int(frames.max())) if len(frames) else (1, 0)

    iou = _BaseDataset._calculate_box_ious
    data: dict[str, object] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    g_ids_all: list[np.ndarray] = []
    t_ids_all: list[np.ndarray] = []
    g_by_f = rows_by_frame(gt, first, last)
    r_by_f = rows_by_frame(res, first, last)
    for f in range(first, last + 1):
        gi, ri = g_by_f[f - first], r_by_f[f - first]
        sim = iou(gt[gi, 2:6].copy(), res[ri, 2:6].copy(), box_format="xywh") if len(gi) and len(ri) else \
            np.zeros((len(gi), len(ri)))
        drop = np.zeros(len(ri), bool)
        if classed and len(gi) and len(ri):
            m = np.where(sim < 0.5 - np.finfo(float).eps, 0.0, sim)
            r, c = linear_sum_assignment(-m)
            ok = m[r, c] > np.finfo(float).eps
            r, c = r[ok], c[ok]
            drop[c[np.isin(g_cls[gi][r], _DISTRACTORS)]] = True
        keep_g = (g_conf[gi] != 0) & (g_cls[gi] == 1)
        g_ids_all.append(gt[gi, 1][keep_g].astype(np.int64))
        t_ids_all.append(res[ri, 1][~drop].astype(np.int64))
        data["similarity_scores"].append(sim[keep_g][:, ~drop])  # type: ignore[union-attr]

    g_map = {v: k for k, v in enumerate(np.unique(np.concatenate(g_ids_all)) if g_ids_all else [])}
    t_map = {v: k for k, v in enumerate(np.unique(np.concatenate(t_ids_all)) if t_ids_all else [])}
    data["gt_ids"] = [np.array([g_map[v] for v in a], np.int64) for a in g_ids_all]
    data["tracker_ids"] = [np.array([t_map[v] for v in a], np.int64) for a in t_ids_all]
    data.update(
        num_timesteps=len(g_ids_all),
        num_gt_ids=len(g_map),
        num_tracker_ids=len(t_map),
        num_gt_dets=int(sum(len(a) for a in g_ids_all)),
        num_tracker_dets=int(sum(len(a) for a in t_ids_all)),
    )

    hota = HOTA().eval_sequence(data)
    clear = CLEAR({"THRESHOLD": 0.5, "PRINT_CONFIG": False}).eval_sequence(data)
    ident = Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False}).eval_sequence(data)
    out = {k: float(np.mean(hota[k])) for k in ("HOTA", "DetA", "AssA", "LocA")}
    out.update({k: float(clear[k]) for k in ("MOTA", "MOTP", "IDSW", "MT", "PT", "ML", "Frag")})
    out.update(FP=float(clear["CLR_FP"]), FN=float(clear["CLR_FN"]), TP=float(clear["CLR_TP"]))
    out.update({k: float(ident[k]) for k in ("IDF1", "IDP", "IDR")})
    out.update(GT_IDs=float(data["num_gt_ids"]), IDs=float(data["num_tracker_ids"]),
               GT_Dets=float(data["num_gt_dets"]), Dets=float(data["num_tracker_dets"]))
    return {k: out[k] for k in SUMMARY_KEYS}


def format_summary(m: dict[str, float]) -> str:
    """Two-line table of the headline metrics (percent for ratios, integers for counts)."""
    ratio = ("HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR")
    keys = [k for k in SUMMARY_KEYS if k in m and k != "LocA"]
    cells = [f"{100 * m[k]:.2f}" if k in ratio else f"{int(round(m[k]))}" for k in keys]
    widths = [max(len(k), len(c)) for k, c in zip(keys, cells, strict=True)]
    head = "  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))
    row = "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
    return f"{head}\n{row}"
