"""Plain data passed between detector, tracker, counter and adapters (numpy only).

Why a shared type: the detector produces it, OTA consumes it, and the ROS node, the bag replay and the
CLI all read the same fields, so that live and offline runs give the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tssd_ros.classes import class_name


@dataclass
class Detections:
    """Detections of one frame.

    boxes: (N, 4) float32, x1, y1, x2, y2 in input-image pixels.
    scores: (N,) float32 confidence.
    labels: (N,) int64, 0-based foreground class index (background excluded).
    attention: (N, D) float32 appearance vector per detection (TSSD: the 147-d attention vector used by
        OTA), or None when the source has none (plain MOT detections).
    class_names: names of the foreground classes, indexed by ``labels``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    attention: np.ndarray | None = None
    class_names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(n)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(n)
        if self.attention is not None:
            att = np.asarray(self.attention, dtype=np.float32)
            self.attention = att.reshape(n, att.shape[-1] if att.ndim == 2 else -1)
        self.class_names = tuple(self.class_names)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = (), dim: int | None = None) -> Detections:
        att = None if dim is None else np.zeros((0, dim), np.float32)
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), att, class_names)

    def select(self, index: np.ndarray) -> Detections:
        """Subset by boolean mask or integer index (keeps class_names)."""
        att = None if self.attention is None else self.attention[index]
        return Detections(self.boxes[index], self.scores[index], self.labels[index], att, self.class_names)

    def class_name(self, i: int) -> str:
        return class_name(int(self.labels[i]), self.class_names)


def stamp_to_sec(stamp: Any) -> float:
    """builtin_interfaces/Time (rclpy or rosbags message: anything with ``sec`` and ``nanosec``) -> seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9
