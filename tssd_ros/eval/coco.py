"""COCO-style detection mAP (AP@0.5 and AP@0.5:0.95) on annotated stills, computed by ``pycocotools``.

Why the maintained evaluator and not :mod:`tssd_ros.eval.detection`: numbers on URPC/DUO/RUIE stills are
compared with published detectors, which report COCO's 101-point AP averaged over IoU 0.5:0.95; only the
reference implementation gives numbers that can sit in the same table. The VOC evaluator stays for video.

Ground truth marked ``ignore`` becomes a COCO crowd region (``iscrowd=1``): detections on it are neither
true nor false positives (COCO's crowd IoU is intersection over the detection's area), and it is not counted
in a class's number of ground truth. ``maxDets`` defaults to (1, 10, 300) because a seabed still can hold
well over 100 animals and COCO's usual 100 would truncate the ranking.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tssd_ros.boxes import box_iou
from tssd_ros.data.sequence import FrameTargets

# mAP needs the whole ranking down to weak detections; a deployment threshold (0.3-0.5) cuts recall short
# and under-reports AP.
EVAL_CONF_THRESHOLD = 0.01
MAX_DETS = (1, 10, 300)


class _Boxes(Protocol):
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


Prediction = _Boxes | tuple[np.ndarray, np.ndarray, np.ndarray]


def _pred_arrays(p: Prediction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, scores, labels = p if isinstance(p, tuple) else (p.boxes, p.scores, p.labels)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return b, np.asarray(scores, np.float64).reshape(len(b)), np.asarray(labels, np.int64).reshape(len(b))


def _xywh(b: np.ndarray) -> list[float]:
    return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]


def _coco(images: list[dict], cats: list[dict], anns: list[dict]) -> Any:
    from pycocotools.coco import COCO

    c = COCO()
    c.dataset = {"images": images, "categories": cats, "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        c.createIndex()
    return c


def _mean_valid(p: np.ndarray) -> float | None:
    """COCO's summary rule: mean over the entries that exist (-1 = no ground truth)."""
    v = p[p > -1]
    return float(v.mean()) if v.size else None


def coco_map(gts: Sequence[FrameTargets], preds: Sequence[Prediction], class_names: Sequence[str],
             max_dets: Sequence[int] = MAX_DETS) -> dict[str, Any]:
    """COCO bbox evaluation of per-image predictions against per-image ground truth, as a plain dict.

    ``gts[i]`` and ``preds[i]`` belong to image ``i``; boxes are xyxy pixels, labels 0-based indices into
    ``class_names`` (predictions with another label raise ValueError). Predictions are anything with
    ``boxes``/``scores``/``labels`` (e.g. :class:`~tssd_ros.types.Detections`) or such a tuple.

    Returns (JSON-ready; ``None`` where a class has no ground truth, excluded from the means)::

        mAP50, mAP50_95, mAP50_95_by_area {small, medium, large}, images, max_dets,
        per_class {name: {n_gt, n_ignored, n_det, AP50, AP50_95, recall50}},
        pr_curves {iou: 0.5, recall: [101 points], precision: {name: [101 values] | None}}
    """
    from pycocotools.cocoeval import COCOeval

    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground-truth images but {len(preds)} prediction images")
    names = tuple(class_names)
    k_cls = len(names)
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(names)]
    images = [{"id": i + 1} for i in range(len(gts))]
    gt_anns: list[dict] = []
    dt_anns: list[dict] = []
    n_gt = np.zeros(k_cls, np.int64)
    n_ign = np.zeros(k_cls, np.int64)
    n_det = np.zeros(k_cls, np.int64)
    for i, (g, p) in enumerate(zip(gts, preds, strict=True)):
        ignore = np.zeros(len(g.labels), bool) if g.ignore is None else np.asarray(g.ignore, bool)
        for b, lab, ig in zip(np.asarray(g.boxes, np.float64).reshape(-1, 4), g.labels, ignore, strict=True):
            if not 0 <= int(lab) < k_cls:
                raise ValueError(f"ground-truth label {int(lab)} outside {k_cls} classes")
            xywh = _xywh(b)
            # ids start at 1: COCOeval stores the matched id and treats 0 as "unmatched"
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": i + 1, "category_id": int(lab) + 1, "bbox": xywh,
                            "area": xywh[2] * xywh[3], "iscrowd": int(ig), "ignore": int(ig)})
            (n_ign if ig else n_gt)[int(lab)] += 1
        boxes, scores, labels = _pred_arrays(p)
        if len(labels) and (labels.min() < 0 or labels.max() >= k_cls):
            raise ValueError(f"predicted label {int(labels.max())} outside {k_cls} classes")
        np.add.at(n_det, labels, 1)
        for b, s, lab in zip(boxes, scores, labels, strict=True):
            xywh = _xywh(b)
            dt_anns.append({"id": len(dt_anns) + 1, "image_id": i + 1, "category_id": int(lab) + 1, "bbox": xywh,
                            "area": xywh[2] * xywh[3], "score": float(s), "iscrowd": 0})

    ev = COCOeval(_coco(images, cats, gt_anns), _coco(images, cats, dt_anns), iouType="bbox")
    ev.params.maxDets = sorted(int(m) for m in max_dets)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"]  # (T iou, R recall, K class, A area, M maxDets); -1 where no gt
    rec = ev.eval["recall"]  # (T, K, A, M)
    iou = np.asarray(ev.params.iouThrs)
    t50 = int(np.argmin(np.abs(iou - 0.5)))
    area = list(ev.params.areaRngLbl)
    a_all = area.index("all")
    p_all = prec[:, :, :, a_all, -1]  # (T, R, K) at the largest maxDets

    per_class: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[float] | None] = {}
    for k, c in enumerate(names):
        ap50, ap = _mean_valid(p_all[t50, :, k]), _mean_valid(p_all[:, :, k])
        r50 = float(rec[t50, k, a_all, -1])
        per_class[c] = {"n_gt": int(n_gt[k]), "n_ignored": int(n_ign[k]), "n_det": int(n_det[k]),
                        "AP50": ap50, "AP50_95": ap, "recall50": r50 if r50 > -1 else None}
        curves[c] = p_all[t50, :, k].astype(float).tolist() if ap50 is not None else None

    def mean_over_classes(key: str) -> float | None:
        v = [d[key] for d in per_class.values() if d[key] is not None]
        return float(np.mean(v)) if v else None

    by_area = {a: _mean_valid(prec[:, :, :, area.index(a), -1]) for a in ("small", "medium", "large") if a in area}
    return {"mAP50": mean_over_classes("AP50"), "mAP50_95": mean_over_classes("AP50_95"),
            "mAP50_95_by_area": by_area, "images": len(gts), "max_dets": int(ev.params.maxDets[-1]),
            "per_class": per_class,
            "pr_curves": {"iou": float(iou[t50]), "recall": np.asarray(ev.params.recThrs, float).tolist(),
                          "precision": curves}}


def save_pr_curves(result: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """PNG of the per-class precision-recall curves at IoU 0.5 of a :func:`coco_map` result (AP in the legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pr = result["pr_curves"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for c, p in pr["precision"].items():
        d = result["per_class"][c]
        if p is None:
            ax.plot([], [], label=f"{c} (no gt)")
            continue
        ax.plot(pr["recall"], p, label=f"{c} AP50={d['AP50']:.3f} (n={d['n_gt']})")
    m = result.get("mAP50")
    ax.set(title=title or (f"PR @ IoU {pr['iou']:.2f}, mAP50 = {m:.3f}" if m is not None else "PR (no gt)"),
           xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def evaluate_stills(detector: Any, stills: Any, conf_threshold: float | None = None, progress: bool = True,
                    limit: int | None = None, max_dets: Sequence[int] = MAX_DETS, clip_len: int = 1,
                    seed: int = 0, operating_threshold: float | None = None) -> dict[str, Any]:
    """Run a streaming detector on each still and score it with :func:`coco_map`; adds ``images_per_s``.

    ``detector.reset()`` before every still: stills are not a video, so no recurrent state may leak from one
    to the next. With ``clip_len`` > 1 each still becomes a moving-camera clip of that many frames
    (:class:`~tssd_ros.data.still_clips.StillClip`, seeded), run with the state carried through the clip:
    mAP over every frame, plus the temporal figures of :func:`stability` (a TSSD should beat its own SSD
    there). The score threshold is lowered while evaluating (``conf_threshold``; default: the detector's own,
    capped at 0.01) because AP integrates over the full ranking; the detector's postprocessing is restored
    afterwards. Detector labels are mapped to the data's classes by name. ``images_per_s`` counts
    ``detector.step`` only (not image decoding). ``operating_threshold``: the score the clip figures (recall,
    flicker) are taken at; default the detector's own (a pipeline's detector may run below its published
    threshold: pass ``Pipeline.conf_threshold``).
    """
    from tqdm import tqdm

    from tssd_ros.data.still_clips import StillClip
    from tssd_ros.eval.report import label_map

    n = len(stills) if limit is None else min(len(stills), int(limit))
    names = tuple(stills.class_names)
    lmap = label_map(tuple(detector.class_names), names)
    old = detector.postprocess
    operating = float(old.conf_threshold if operating_threshold is None else operating_threshold)
    thr = min(float(old.conf_threshold), EVAL_CONF_THRESHOLD) if conf_threshold is None else float(conf_threshold)
    gts: list[FrameTargets] = []
    preds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    tracks: list[list[tuple[FrameTargets, tuple[np.ndarray, np.ndarray, np.ndarray]]]] = []
    t_det = 0.0
    try:
        detector.set_postprocess(conf_threshold=thr)
        for i in tqdm(range(n), desc=f"eval {getattr(stills, 'name', 'stills')}", unit="img",
                      disable=not progress, leave=False):
            img, tgt = stills.image(i), stills.targets(i)
            clip = StillClip(img, tgt, clip_len, seed=(seed, i)) if clip_len > 1 else None
            detector.reset()
            frames = []
            for t in range(clip_len):
                frame, gt = (clip.image(t), clip.targets(t)) if clip is not None else (img, tgt)
                t0 = time.perf_counter()
                d = detector.step(frame)
                t_det += time.perf_counter() - t0
                lab = lmap[d.labels] if len(d) else np.zeros(0, np.int64)
                keep = lab >= 0
                pred = (d.boxes[keep], d.scores[keep], lab[keep])
                preds.append(pred)
                gts.append(gt)
                frames.append((gt, pred))
            tracks.append(frames)
    finally:
        detector.postprocess = old
    out = coco_map(gts, preds, names, max_dets)
    out["conf_threshold"] = thr
    out["images_per_s"] = len(gts) / t_det if t_det > 0 else math.nan
    if clip_len > 1:
        out["clips"] = {"count": n, "length": clip_len, **stability(tracks, operating)}
    return out


def stability(tracks: Sequence[Sequence[tuple[FrameTargets, Prediction]]], operating_threshold: float,
              iou: float = 0.5) -> dict[str, float]:
    """Temporal steadiness of detections on objects seen through a clip (same ids in every frame).

    For each ground-truth object and frame, its score is the best same-class detection at IoU >= ``iou`` (0 if
    none). Reported: mean |score(t) - score(t-1)| and mean per-object std of that score, the recall at the
    operating threshold, and ``flicker``: how often per object-frame the detection appears or disappears at the
    operating threshold (what an operator sees as blinking boxes). Objects in view for < 3 frames are skipped.
    """
    from tssd_ros.eval.detection import ScoreStability

    stab = ScoreStability(min_len=3)
    seen: dict[tuple[int, int], list[float]] = {}
    for c, frames in enumerate(tracks):
        for gt, pred in frames:
            boxes, scores, labels = _pred_arrays(pred)
            keep = ~gt.ignore
            gb, gl, gid = gt.boxes[keep], gt.labels[keep], gt.ids[keep]
            m = box_iou(gb, boxes)
            for k in range(len(gb)):
                ok = (m[k] >= iou) & (labels == gl[k]) if m.shape[1] else np.zeros(0, bool)
                sc = float(scores[ok].max()) if ok.any() else 0.0
                seen.setdefault((c, int(gid[k])), []).append(sc)
                stab.add((c, int(gid[k])), sc)
    series = [np.asarray(v) for v in seen.values() if len(v) >= 3]
    res = stab.result()
    if not series:
        return {**res, "recall_at_threshold": math.nan, "flicker": math.nan}
    on = [s >= operating_threshold for s in series]
    switches = sum(int(np.count_nonzero(np.diff(o.astype(np.int8)))) for o in on)
    steps = sum(len(o) - 1 for o in on)
    return {**res, "recall_at_threshold": float(np.mean(np.concatenate(on))),
            "flicker": switches / max(steps, 1)}
