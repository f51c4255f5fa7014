"""Training targets and input tensors of one frame (the trainer's datasets, ``tssd_ros.train.sources``, use them).

Targets per frame are dicts ``{"boxes": (K,4) float32 normalised xyxy, "labels": (K,)
int64 0-based, "ids": (K,) int64}``; barely visible or tiny objects (and ignore/difficult ones) are
dropped, because asking a detector to fire on a 5 %-visible sliver teaches it noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tssd_ros.data.sequence import FrameTargets

Preprocess = Callable[[np.ndarray], Any]  # BGR uint8 HxWx3 -> CHW array/tensor
Augment = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def target_dict(t: FrameTargets, width: int, height: int, min_visibility: float = 0.25, min_size: float = 4.0
                ) -> dict[str, torch.Tensor]:
    """Training targets of one frame: normalised, clipped boxes of the objects worth detecting."""
    wh = t.boxes[:, 2:] - t.boxes[:, :2]
    keep = ~t.ignore & (t.visibility >= min_visibility) & (wh.min(1) >= min_size) if len(t) else np.zeros(0, bool)
    b = t.boxes[keep] / np.array([width, height, width, height], np.float32)
    return {"boxes": torch.from_numpy(np.clip(b, 0, 1).astype(np.float32)).reshape(-1, 4),
            "labels": torch.from_numpy(t.labels[keep].astype(np.int64)),
            "ids": torch.from_numpy(t.ids[keep].astype(np.int64))}


def to_tensor(img: np.ndarray, preprocess: Preprocess | None) -> torch.Tensor:
    """preprocess(img) as a tensor, or the raw uint8 image as 3xHxW (BGR order kept)."""
    if preprocess is None:
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    out = preprocess(img)
    return out if isinstance(out, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(out))
