"""Detection quality: per-class VOC AP@0.5 (all-point interpolation), mAP, and score stability.

Why VOC style: it is what the paper reports (ImageNet VID / VOC mAP), and ignore ("difficult") objects
neither reward nor penalise a detector, which is how barely visible or tiny objects are treated here.
Why score stability: the paper's association loss exists to make a tracked object's score steady over time;
this measures it (per track: std of the score and mean absolute frame-to-frame change).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tssd_ros.boxes import box_iou
from tssd_ros.classes import class_name
from tssd_ros.data.sequence import FrameTargets


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC2010+ all-point interpolation)."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@dataclass
class ClassAP:
    """AP of one class with the curve it came from."""

    name: str
    ap: float
    n_gt: int
    n_det: int
    precision: np.ndarray
    recall: np.ndarray

    def to_dict(self) -> dict:
        return {"ap": self.ap, "n_gt": self.n_gt, "n_det": self.n_det,
                "max_recall": float(self.recall[-1]) if len(self.recall) else 0.0}


@dataclass
class DetectionEvaluator:
    """Accumulates detections and ground truth frame by frame; ``result()`` gives per-class AP and mAP."""

    class_names: tuple[str, ...]
    iou_threshold: float = 0.5
    _dets: dict[int, list[tuple[float, int, np.ndarray]]] = field(default_factory=lambda: defaultdict(list))
    _gts: list[FrameTargets] = field(default_factory=list)

    def add(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, gt: FrameTargets) -> None:
        """One frame: detections (xyxy px, score, 0-based label) and its ground truth."""
        f = len(self._gts)
        self._gts.append(gt)
        for b, s, c in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.ravel(scores), np.ravel(labels),
                           strict=True):
            self._dets[int(c)].append((float(s), f, b))

    def class_ap(self, k: int) -> ClassAP:
        dets = sorted(self._dets.get(k, []), key=lambda d: -d[0])
        gts = [(g.boxes[g.labels == k].astype(np.float64), g.ignore[g.labels == k]) for g in self._gts]
        n_gt = int(sum((~ig).sum() for _, ig in gts))
        used = [np.zeros(len(b), bool) for b, _ in gts]
        tp = np.zeros(len(dets))
        fp = np.zeros(len(dets))
        for j, (_, f, box) in enumerate(dets):
            gb, ig = gts[f]
            ov = box_iou(box, gb)[0]
            m = int(np.argmax(ov)) if len(ov) else -1
            if m >= 0 and ov[m] >= self.iou_threshold:
                if ig[m]:
                    continue  # matched an ignore object: neither TP nor FP
                if not used[f][m]:
                    used[f][m] = True
                    tp[j] = 1
                else:
                    fp[j] = 1
            else:
                fp[j] = 1
        keep = (tp + fp) > 0
        tp, fp = np.cumsum(tp[keep]), np.cumsum(fp[keep])
        rec = tp / max(n_gt, 1)
        prec = tp / np.maximum(tp + fp, 1e-12)
        ap = voc_ap(rec, prec) if n_gt > 0 else float("nan")
        return ClassAP(class_name(k, self.class_names), ap, n_gt, int(keep.sum()), prec, rec)

    def result(self) -> tuple[list[ClassAP], float]:
        """Per-class AP and mAP (mean over classes that have ground truth; NaN when none has)."""
        aps = [self.class_ap(k) for k in range(len(self.class_names))]
        valid = [a.ap for a in aps if a.n_gt > 0]
        return aps, float(np.mean(valid)) if valid else float("nan")


class ScoreStability:
    """Score of each identity along its track: per track std and mean |score(t) - score(t-1)|.

    Only frames where the identity is matched to a detection count; tracks with fewer than ``min_len``
    scores are skipped (a 2-frame flicker says nothing about stability).
    """

    def __init__(self, min_len: int = 3) -> None:
        self.min_len = min_len
        self._scores: dict[object, list[float]] = defaultdict(list)

    def add(self, key: object, score: float) -> None:
        self._scores[key].append(float(score))

    def result(self) -> dict[str, float]:
        tracks = [np.asarray(s) for s in self._scores.values() if len(s) >= self.min_len]
        if not tracks:
            return {"tracks": 0, "mean_score_std": float("nan"), "mean_abs_score_change": float("nan"),
                    "mean_score": float("nan")}
        return {"tracks": len(tracks),
                "mean_score_std": float(np.mean([t.std() for t in tracks])),
                "mean_abs_score_change": float(np.mean([np.abs(np.diff(t)).mean() for t in tracks])),
                "mean_score": float(np.mean([t.mean() for t in tracks]))}
