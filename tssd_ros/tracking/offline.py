"""Run OTA or a baseline (Roboflow ``trackers`` SORT / ByteTrack) over MOTChallenge detections.

Why: ``tssd track`` and the benchmark must feed every tracker the same frames, so that a comparison is one
command. Detections are MOT rows (frame, id, x, y, w, h, conf, ...); results are MOT result rows
(frame, id, x, y, w, h, conf, -1, -1, -1) with 1-based ids (tracker id + 1). Every frame from 1 to the
last one is fed, frames without detections included, so age and velocity see dropped frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from tssd_ros.data.mot import rows_by_frame
from tssd_ros.errors import InputError
from tssd_ros.tracking.ota import OTAConfig, OTATracker
from tssd_ros.types import Detections

TrackerName = Literal["ota", "sort", "bytetrack"]
#: which OTA rows a result file gets: every identity (``all``), confirmed ones from their confirmation on
#: (``confirmed``, what the node publishes), or confirmed identities with the rows before their confirmation
#: filled in once confirmed (``backfill``: a file is written after the whole sequence, so an identity's first
#: frames need not be lost, while a tubelet never confirmed, usually a false positive, writes nothing).
OUTPUTS: tuple[str, ...] = ("backfill", "confirmed", "all")


def mot_labels(det: np.ndarray, class_col: int | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """0-based labels and class names from a 1-based column (``None``: one class, named "object")."""
    if class_col is None:
        return np.zeros(len(det), np.int64), ("object",)
    if not 1 <= class_col <= det.shape[1]:
        raise InputError(f"--class-col {class_col} is outside the detections' {det.shape[1]} columns")
    values = det[:, class_col - 1]
    uniq, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int64), tuple(f"{v:g}" for v in uniq)


def iter_frames(det: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, row indices) for every frame 1..max(frame), empty frames included."""
    if len(det) == 0:
        return
    first = min(1, int(det[:, 0].min()))
    for k, idx in enumerate(rows_by_frame(det, first, int(det[:, 0].max()))):
        yield first + k, idx


def _xyxy(rows: np.ndarray) -> np.ndarray:
    b = rows[:, 2:6].copy()
    b[:, 2:] += b[:, :2]
    return b


def _row(frame: int, tid: int, box: np.ndarray, score: float) -> list[float]:
    return [frame, tid + 1, box[0], box[1], box[2] - box[0], box[3] - box[1], score, -1, -1, -1]


def track_mot(
    det: np.ndarray,
    tracker: TrackerName = "ota",
    config: OTAConfig | None = None,
    feats: np.ndarray | None = None,
    fps: float = 30.0,
    class_col: int | None = None,
    output: str = "backfill",
    baseline_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """Track MOT detections; returns (K, 10) MOT result rows in frame order.

    feats: (len(det), D) appearance vectors, one per det row (OTA attention / motion modes).
    output: OTA's rows, one of OUTPUTS (see there); the baselines report an id only once their own
    ``minimum_consecutive_frames`` is reached.
    """
    if output not in OUTPUTS:
        raise InputError(f"unknown output {output!r} ({', '.join(OUTPUTS)})")
    det = np.asarray(det, np.float64)
    if det.ndim != 2 or (len(det) and det.shape[1] < 7):
        raise InputError(f"detections must be (N, >=7) MOT rows, got shape {det.shape}")
    if feats is not None:
        feats = np.asarray(feats, np.float32)
        if feats.ndim != 2 or len(feats) != len(det):
            raise InputError(f"appearance array has shape {feats.shape} but the detections have {len(det)} rows; "
                             "it needs one row per det.txt line")
    labels, names = mot_labels(det, class_col)
    boxes = _xyxy(det) if len(det) else np.zeros((0, 4))
    out: list[list[float]] = []
    if tracker == "ota":
        ota = OTATracker(config or OTAConfig())
        pending: dict[int, list[list[float]]] = {}  # backfill: rows of identities not yet confirmed
        for frame, idx in iter_frames(det):
            d = Detections(boxes[idx], det[idx, 6], labels[idx], None if feats is None or not len(idx) else feats[idx],
                           names)
            rows = []
            for t in ota.update(d, timestamp=(frame - 1) / fps):
                if t.track_id < 0:
                    continue
                row = _row(frame, t.track_id, boxes[idx[t.det_index]], det[idx[t.det_index], 6])
                if t.confirmed or output == "all":
                    rows.extend(pending.pop(t.track_id, []))
                    rows.append(row)
                elif output == "backfill":
                    pending.setdefault(t.track_id, []).append(row)
            out.extend(rows)
        if output == "backfill":
            out.sort(key=lambda r: (r[0], r[1]))
    elif tracker in ("sort", "bytetrack"):
        out = _track_baseline(det, boxes, labels, tracker, fps, baseline_kwargs or {})
    else:
        raise InputError(f"unknown tracker {tracker!r} (ota, sort, bytetrack)")
    return np.asarray(out, np.float64).reshape(-1, 10)


def make_baseline(name: str, fps: float = 30.0, **kwargs: Any) -> Any:
    """A ``trackers`` 2.6.1 SORT or ByteTrack instance with its defaults (frame_rate = fps)."""
    from trackers import ByteTrackTracker, SORTTracker

    cls = {"sort": SORTTracker, "bytetrack": ByteTrackTracker}[name]
    return cls(frame_rate=fps, **kwargs)


def to_supervision(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> Any:
    """supervision.Detections carrying each row's index in ``data['det_index']`` (ByteTrack reorders)."""
    import supervision as sv

    n = len(boxes)
    return sv.Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        confidence=np.asarray(scores, np.float32),
        class_id=np.asarray(labels, int),
        data={"det_index": np.arange(n)},
    )


def _track_baseline(det: np.ndarray, boxes: np.ndarray, labels: np.ndarray, name: str, fps: float,
                    kwargs: dict[str, Any]) -> list[list[float]]:
    """One baseline instance per class (they are class-agnostic); ids remapped to be globally unique."""
    trackers = {int(c): make_baseline(name, fps, **kwargs) for c in np.unique(labels)}
    global_id: dict[tuple[int, int], int] = {}
    out: list[list[float]] = []
    for frame, idx in iter_frames(det):
        for c, trk in trackers.items():
            sel = idx[labels[idx] == c]
            res = trk.update(to_supervision(boxes[sel], det[sel, 6], labels[sel]))
            if len(res) == 0:
                continue
            rows = []
            for k, tid in zip(res.data["det_index"], res.tracker_id, strict=True):
                if tid < 0:
                    continue
                gid = global_id.setdefault((c, int(tid)), len(global_id))
                i = sel[int(k)]
                rows.append((int(i), _row(frame, gid, boxes[i], det[i, 6])))
            out.extend(r for _, r in sorted(rows))
    return out
