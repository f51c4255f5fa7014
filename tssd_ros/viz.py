"""Drawing identity-tagged detections, as in the paper's figures (``ID:class:conf``), with counts.

Shared by tssd_node's ``image_annotated`` and the offline tools, so what an operator sees in RViz is what
``tssd`` writes to disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from tssd_ros.types import Detections

_GREY = (160, 160, 160)


def identity_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per identity (golden-ratio hue walk)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 220, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_detections(
    bgr: np.ndarray,
    dets: Detections,
    ids: Sequence[int | None],
    counts: Mapping[str, tuple[int, int]] | None = None,
) -> np.ndarray:
    """Return a copy of ``bgr`` with boxes coloured by identity (grey: no confirmed identity)."""
    out = np.ascontiguousarray(bgr).copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(1.0, w / 960))
    thick = max(1, int(round(2 * scale)))
    for i in range(len(dets)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in dets.boxes[i])
        tid = ids[i] if i < len(ids) else None
        colour = identity_colour(tid) if tid is not None else _GREY
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        label = f"{tid if tid is not None else '-'}:{dets.class_name(i)}:{float(dets.scores[i]):.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        ty = max(th + base, y1)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), colour, -1)
        cv2.putText(out, label, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    if counts:
        lines = [f"{name}: {u} ({v} in view)" for name, (u, v) in counts.items()]
        y = int(22 * scale) + 4
        for line in lines:
            cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
            y += int(24 * scale) + 2
    return out
