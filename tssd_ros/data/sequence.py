"""Annotated video sequences: the common interface of every loader, and per-frame targets.

Why: training (clips, stills) and evaluation read MOTChallenge folders, ImageNet-VID snippets and the
synthetic dives the same way, so a user's own footage in either format drops into the same pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from tssd_ros.errors import InputError


@dataclass
class FrameTargets:
    """Ground truth of one frame.

    boxes: (K, 4) float32 xyxy in pixels (0-based, pixel i spans [i, i+1)).
    labels: (K,) int64 0-based foreground class. ids: (K,) int64 track identity (-1 if unknown).
    visibility: (K,) float32 in [0, 1] (1 when the format has none).
    ignore: (K,) bool, True for objects to neither reward nor penalise (VOC "difficult", MOT flag 0).
    """

    boxes: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    visibility: np.ndarray
    ignore: np.ndarray

    @classmethod
    def empty(cls) -> FrameTargets:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros(0, np.float32), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> FrameTargets:
        return FrameTargets(self.boxes[keep], self.labels[keep], self.ids[keep], self.visibility[keep],
                            self.ignore[keep])


class VideoSequence(Protocol):
    """What every loader returns: an ordered, annotated video (frames 0..len-1)."""

    name: str
    class_names: tuple[str, ...]
    frame_rate: float

    def __len__(self) -> int: ...

    def image(self, index: int) -> np.ndarray:
        """BGR uint8 image of frame ``index`` (0-based)."""
        ...

    def targets(self, index: int) -> FrameTargets: ...


IMAGE_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` names an image by its extension (case-insensitive), the one rule every loader uses."""
    return path.suffix.lower() in IMAGE_EXTS


def read_image(path: Path) -> np.ndarray:
    """cv2.imread that raises a one-line InputError instead of returning None."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"cannot read image {path}: missing or not an image")
    return img


def mark_difficult(t: FrameTargets, min_visibility: float, min_size: float) -> FrameTargets:
    """Flag objects that are barely visible or tiny as ignore (they neither count as hits nor misses)."""
    wh = t.boxes[:, 2:] - t.boxes[:, :2]
    weak = (t.visibility < min_visibility) | (wh.min(1) < min_size) if len(t) else np.zeros(0, bool)
    return FrameTargets(t.boxes, t.labels, t.ids, t.visibility, t.ignore | weak)
