"""Run detector + OTA over annotated sequences and report detection, tracking, counting and stability.

Why one runner: every number in the report comes from the same online pass as on the vehicle: the node's
:class:`~tssd_ros.pipeline.Pipeline` (built from its parameters, stream rules on), reset and with fresh
counts at the start of each sequence, each frame stamped ``index / fps``; detections are scored as the node
outputs them, identities and counts as it publishes them (confirmed only). The report holds, per model:
per-class AP@0.5 and mAP (VOC, all-point), HOTA/MOTA/IDF1/IDSW via ``evaluate_mot`` (class-agnostic over all
sequences, and per class), count error per class (``tssd_ros.eval.counting``) and score stability of tracked
objects (``ScoreStability``).

Ground truth that is barely visible (visibility < min_visibility) or tiny (box side < min_size px) is
"ignore": for AP it is VOC "difficult"; for tracking, result boxes matching it (IoU >= 0.5, Hungarian) are
removed together with it before ``evaluate_mot`` (as TrackEval does with distractors).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from tssd_ros.data.sequence import FrameTargets, VideoSequence, mark_difficult
from tssd_ros.errors import InputError
from tssd_ros.eval.counting import count_error, ids_per_identity, true_counts_over_time
from tssd_ros.eval.detection import ClassAP, DetectionEvaluator, ScoreStability
from tssd_ros.types import Detections


@dataclass
class EvalOptions:
    """Thresholds of the evaluation (documented in the report's "definitions")."""

    min_hits: int = 5  # counter and tracker confirmation; also min frames of a countable gt identity
    min_visibility: float = 0.3  # below: ignore for AP/tracking
    min_size: float = 8.0  # px, box side below: ignore
    count_min_visibility: float = 0.5  # a gt identity is countable when seen min_hits times at least this visible
    max_frames: int | None = None
    progress: bool = True


@dataclass
class SequenceRun:
    """Everything recorded for one sequence and one model."""

    name: str
    gt_rows: np.ndarray  # (N, 7) MOT rows, flag 0 = ignore
    res_rows: np.ndarray  # (M, 8) MOT rows + label column
    pred_counts: np.ndarray  # (T, C) cumulative confirmed identities per class
    true_counts: np.ndarray  # (T, C)


def _mot_rows(frame: int, ids: np.ndarray, boxes: np.ndarray, conf: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.column_stack([np.full(len(b), frame), ids, b[:, 0] + 1, b[:, 1] + 1, b[:, 2] - b[:, 0],
                            b[:, 3] - b[:, 1], conf])


def label_map(det_names: tuple[str, ...], data_names: tuple[str, ...]) -> np.ndarray:
    """Detector label -> data label by class name (-1 = class not in the data)."""
    low = {c.lower(): i for i, c in enumerate(data_names)}
    m = np.array([low.get(c.lower(), -1) for c in det_names], np.int64)
    if (m < 0).all():
        raise InputError(f"the model's classes {list(det_names)} share no name with the data's {list(data_names)}")
    return m


def run_sequence(pipe: Any, seq: VideoSequence, class_names: tuple[str, ...], opts: EvalOptions,
                 det_eval: DetectionEvaluator, stability: ScoreStability, tag: str = "") -> SequenceRun:
    """One online pass of the pipeline over a sequence (see module doc); feeds the AP and stability
    accumulators. Labels are mapped to the data's classes by name on the pipeline's output."""
    n = len(seq) if opts.max_frames is None else min(len(seq), opts.max_frames)
    lmap = label_map(tuple(pipe.class_names), class_names)
    fps = float(getattr(seq, "frame_rate", 30.0) or 30.0)
    pipe.reset("sequence")
    pipe.reset_counts()
    gt_frames: list[FrameTargets] = []
    gt_rows, res_rows = [], []
    pred_counts = np.zeros((n, len(class_names)), np.int64)
    col = {c: k for k, c in enumerate(class_names)}
    for i in tqdm(range(n), desc=f"eval {tag}{seq.name}", unit="frame", disable=not opts.progress, leave=False):
        img = seq.image(i)
        gt = mark_difficult(seq.targets(i), opts.min_visibility, opts.min_size)
        gt_frames.append(gt)
        res = pipe.process(img, i / fps)
        d: Detections = res.detections
        lab = lmap[d.labels] if len(d) else d.labels
        keep = lab >= 0
        det_eval.add(d.boxes[keep], d.scores[keep], lab[keep], gt)
        for c, (unique, _) in res.counts.items():
            if c in col:
                pred_counts[i, col[c]] = unique
        ids = np.array([-1 if u is None else u for u in res.published_ids()], np.int64)
        pub = keep & (ids >= 0)
        for k in np.flatnonzero(pub):
            stability.add((tag, seq.name, int(ids[k])), float(d.scores[k]))
        if pub.any():
            res_rows.append(np.column_stack([_mot_rows(i + 1, ids[pub], d.boxes[pub], d.scores[pub]), lab[pub]]))
        if len(gt):
            gt_rows.append(np.column_stack([_mot_rows(i + 1, gt.ids, gt.boxes, (~gt.ignore).astype(float)),
                                            gt.labels]))
    true_counts = true_counts_over_time(gt_frames, len(class_names), opts.min_hits, opts.count_min_visibility,
                                        opts.min_size)
    return SequenceRun(seq.name, np.concatenate(gt_rows) if gt_rows else np.zeros((0, 8)),
                       np.concatenate(res_rows) if res_rows else np.zeros((0, 8)), pred_counts, true_counts)


def drop_ignored(gt: np.ndarray, res: np.ndarray, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Remove ignore gt rows (flag 0) and the result rows they match (IoU >= iou, Hungarian per frame)."""
    from tssd_ros.boxes import box_iou

    if len(gt) == 0:
        return gt, res
    ign = gt[:, 6] == 0
    drop = np.zeros(len(res), bool)
    for f in np.unique(gt[ign, 0]):
        gi = np.flatnonzero(ign & (gt[:, 0] == f))
        ri = np.flatnonzero(res[:, 0] == f) if len(res) else np.zeros(0, np.int64)
        if not len(ri):
            continue
        rb = res[ri, 2:6].copy()
        rb[:, 2:] += rb[:, :2]
        m = box_iou(np.column_stack([gt[gi, 2:4], gt[gi, 2:4] + gt[gi, 4:6]]), rb)
        m = np.where(m >= iou, m, 0.0)
        r, c = linear_sum_assignment(-m)
        ok = m[r, c] > 0
        drop[ri[c[ok]]] = True
    return gt[~ign], res[~drop]


def tracking_metrics(runs: list[SequenceRun], class_names: tuple[str, ...]) -> dict[str, Any]:
    """evaluate_mot over all sequences joined end to end (frame and id offsets), overall and per class."""
    from tssd_ros.eval.mot import evaluate_mot

    def joined(label: int | None) -> tuple[np.ndarray, np.ndarray]:
        gs, rs = [], []
        f_off, g_off, r_off = 0, 0, 0
        for run in runs:
            g, r = drop_ignored(run.gt_rows, run.res_rows)
            if label is not None:
                g, r = g[g[:, 7] == label], r[r[:, 7] == label]
            g, r = g[:, :7].copy(), r[:, :7].copy()
            g[:, 0] += f_off
            r[:, 0] += f_off
            g[:, 1] += g_off
            r[:, 1] += r_off
            gs.append(g)
            rs.append(r)
            f_off += len(run.pred_counts)
            g_off += int(run.gt_rows[:, 1].max()) + 1 if len(run.gt_rows) else 0
            r_off += int(run.res_rows[:, 1].max()) + 1 if len(run.res_rows) else 0
        return np.concatenate(gs), np.concatenate(rs)

    out: dict[str, Any] = {"all": _clean(evaluate_mot(*joined(None)) | ids_per_identity(*joined(None)))}
    out["per_class"] = {c: _clean(evaluate_mot(*joined(k))) for k, c in enumerate(class_names)}
    out["per_sequence"] = {}
    for run in runs:
        g, r = drop_ignored(run.gt_rows, run.res_rows)
        out["per_sequence"][run.name] = _clean(evaluate_mot(g[:, :7], r[:, :7]))
    return out


def _clean(d: dict) -> dict:
    return {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v) for k, v in d.items()}


def nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x


def evaluate_model(pipe: Any, sequences: list[VideoSequence], class_names: tuple[str, ...],
                   opts: EvalOptions, tag: str = "") -> tuple[dict[str, Any], list[ClassAP], list[SequenceRun]]:
    """The report section of one model (a :class:`~tssd_ros.pipeline.Pipeline`), plus the PR curves and runs
    for the plots."""
    det_eval = DetectionEvaluator(class_names)
    stab = ScoreStability()
    runs = [run_sequence(pipe, s, class_names, opts, det_eval, stab, tag) for s in sequences]
    aps, m_ap = det_eval.result()
    counts = {}
    for run in runs:
        counts[run.name] = count_error(run.pred_counts[-1] if len(run.pred_counts) else np.zeros(len(class_names)),
                                       run.true_counts[-1] if len(run.true_counts) else np.zeros(len(class_names)),
                                       class_names)
    tot_p = sum((r.pred_counts[-1] for r in runs if len(r.pred_counts)), np.zeros(len(class_names), np.int64))
    tot_t = sum((r.true_counts[-1] for r in runs if len(r.true_counts)), np.zeros(len(class_names), np.int64))
    section = {
        "detection": {"mAP": m_ap, "per_class": {a.name: a.to_dict() for a in aps}, "iou_threshold": 0.5},
        "tracking": tracking_metrics(runs, class_names),
        "counting": {"total": count_error(tot_p, tot_t, class_names), "per_sequence": counts,
                     "mean_rel_abs_error_over_sequences": float(np.mean([c["mean_rel_abs_error"]
                                                                         for c in counts.values()]))},
        "score_stability": stab.result(),
        "frames": int(sum(len(r.pred_counts) for r in runs)),
    }
    return section, aps, runs


DEFINITIONS = {
    "AP": "VOC all-point interpolated AP at IoU 0.5 per class; ignore gt (visibility < min_visibility or box "
          "side < min_size) neither TP nor FP; mAP = mean over classes with gt",
    "tracking": "evaluate_mot (TrackEval HOTA/CLEAR/Identity) on all sequences joined; 'all' is class-agnostic; "
                "ignored gt and the result boxes matching it are removed first; ids_per_identity (double count): "
                "predicted identities per matched true individual (1.0 = none split)",
    "counting": "predicted = identities confirmed by DiveCounter (min_hits matches); true = gt identities seen "
                "in >= min_hits frames with visibility >= count_min_visibility and box side >= min_size; "
                "rel_abs_error = |pred - true| / max(true, 1)",
    "score_stability": "over tracks with >= 3 matched frames: mean of the per-track score std, and mean absolute "
                       "frame-to-frame score change (lower = steadier)",
}


def write_report(path: str | Path, models: dict[str, tuple[dict, list[ClassAP], list[SequenceRun]]],
                 meta: dict[str, Any], class_names: tuple[str, ...]) -> list[Path]:
    """Write the JSON report and its PNG plots (beside it); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**meta, "class_names": list(class_names), "definitions": DEFINITIONS,
           "models": {k: v[0] for k, v in models.items()}}
    path.write_text(json.dumps(nan_to_none(doc), indent=2) + "\n")
    files = [path]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]

    fig, axes = plt.subplots(1, len(class_names), figsize=(4.2 * len(class_names), 4), squeeze=False)
    for k, c in enumerate(class_names):
        ax = axes[0, k]
        for m, (name, (_, aps, _)) in enumerate(models.items()):
            a = aps[k]
            label = f"{name} AP={a.ap:.3f}" if a.n_gt else f"{name} (no gt)"
            ax.plot(np.r_[0, a.recall], np.r_[1, a.precision] if len(a.precision) else [1], color=colours[m % 4],
                    label=label)
        ax.set(title=c, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    pr = path.with_name(path.stem + "_pr.png")
    fig.savefig(pr, dpi=90)
    plt.close(fig)
    files.append(pr)

    runs0 = next(iter(models.values()))[2]
    n = len(runs0)
    cols = min(n, 3)
    rows = math.ceil(n / cols) if n else 1
    fig, axes = plt.subplots(rows, max(cols, 1), figsize=(5 * max(cols, 1), 3.4 * rows), squeeze=False)
    for s in range(rows * max(cols, 1)):
        ax = axes[s // max(cols, 1), s % max(cols, 1)]
        if s >= n:
            ax.axis("off")
            continue
        ax.plot(runs0[s].true_counts.sum(1), "k--", label="true")
        for m, (name, (_, _, runs)) in enumerate(models.items()):
            ax.plot(runs[s].pred_counts.sum(1), color=colours[m % 4], label=name)
        ax.set(title=runs0[s].name, xlabel="frame", ylabel="individuals counted (all classes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    cp = path.with_name(path.stem + "_counts.png")
    fig.savefig(cp, dpi=90)
    plt.close(fig)
    files.append(cp)
    return files
