"""Box geometry shared by the tracker, the evaluators and the augmentation (numpy, xyxy, continuous pixels).

Why one module: IoU is the rule that decides matches in OTA, true positives in AP and kept boxes in a crop;
copies of it drift (+1 pixel conventions, empty inputs). The model's batched torch IoU lives with the losses.
"""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes (no +1); degenerate boxes and empty inputs give 0 / (0, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)  # np.maximum: np.clip costs 3x more per call
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter  # >= inter >= 0; 0 only where inter is 0 too
    return inter / np.maximum(union, 1e-12)  # 0 / eps = 0 for degenerate pairs; cheaper than a masked divide
