"""One JSON object per frame: the offline output of ``tssd detect`` and ``tssd replay``.

``{"frame": i, "stamp": s, "detections": [{"box": [x1, y1, x2, y2], "score": s, "label": k,
"class_name": "...", "track_id": id-or-null}]}``; ``track_id`` is the identity exactly as tssd_node
publishes it in ``Detection2D.id`` (confirmed identities only), null otherwise or with tracking off.
"""

from __future__ import annotations

from typing import Any

from tssd_ros.types import Detections


def frame_record(index: int, dets: Detections, track_ids: list[int | None] | None = None,
                 stamp: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"frame": int(index)}
    if stamp is not None:
        out["stamp"] = round(float(stamp), 9)
    out["detections"] = [
        {
            "box": [round(float(v), 2) for v in dets.boxes[i]],
            "score": round(float(dets.scores[i]), 5),
            "label": int(dets.labels[i]),
            "class_name": dets.class_name(i),
            "track_id": None if track_ids is None else track_ids[i],
        }
        for i in range(len(dets))
    ]
    return out


def bad_frame_record(index: int, stamp: float, error: str) -> dict[str, Any]:
    """The record of a frame that could not be processed (it is dropped, as the node drops it)."""
    return {"frame": int(index), "stamp": round(float(stamp), 9), "error": error}
