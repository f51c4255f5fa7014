"""Torch datasets: clips for the temporal stages (rss), still frames for the SSD stage.

Why: both training stages read the same sequences (MOT folders, VID snippets, synthetic dives); only the
sampling differs. Targets per frame are dicts ``{"boxes": (K,4) float32 normalised xyxy, "labels": (K,)
int64 0-based, "ids": (K,) int64}``; barely visible or tiny objects (and ignore/difficult ones) are
dropped, because asking a detector to fire on a 5 %-visible sliver teaches it noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tssd_ros.data.rss import rss_indices
from tssd_ros.data.sequence import FrameTargets, VideoSequence

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


class ClipDataset(Dataset):
    """Clips of ``seq_len`` frames drawn by random skip sampling.

    Each item is ``(clip, targets)``: clip (T, 3, H, W) (preprocessed, or raw uint8 BGR when ``preprocess``
    is None) and a list of T target dicts. ``clips_per_sequence`` items per sequence and epoch; with a
    ``seed`` the draws are reproducible (item i of epoch e always gives the same clip; call
    ``set_epoch``).
    """

    def __init__(self, sequences: Sequence[VideoSequence], seq_len: int = 8, preprocess: Preprocess | None = None,
                 clips_per_sequence: int = 1, seed: int | None = None, min_visibility: float = 0.25,
                 min_size: float = 4.0) -> None:
        if not sequences:
            raise ValueError("ClipDataset needs at least one sequence")
        self.sequences = list(sequences)
        self.seq_len = seq_len
        self.preprocess = preprocess
        self.clips_per_sequence = clips_per_sequence
        self.seed = seed
        self.epoch = 0
        self.min_visibility, self.min_size = min_visibility, min_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sequences) * self.clips_per_sequence

    def indices(self, item: int) -> tuple[int, np.ndarray]:
        """(sequence index, frame indices) of an item."""
        s = item // self.clips_per_sequence
        rng = np.random.default_rng(None if self.seed is None else [self.seed, self.epoch, item])
        return s, rss_indices(len(self.sequences[s]), self.seq_len, rng)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        s, idx = self.indices(item)
        seq = self.sequences[s]
        frames, targets = [], []
        for i in idx.tolist():
            img = seq.image(i)
            h, w = img.shape[:2]
            frames.append(to_tensor(img, self.preprocess))
            targets.append(target_dict(seq.targets(i), w, h, self.min_visibility, self.min_size))
        return torch.stack(frames), targets


class StillDataset(Dataset):
    """Single frames (every ``stride``-th of each sequence) for the SSD stage, with optional augmentation
    ``augment(img, boxes_px, labels) -> (img, boxes_px, labels)`` applied before preprocessing."""

    def __init__(self, sequences: Sequence[VideoSequence], preprocess: Preprocess | None = None, stride: int = 1,
                 augment: Augment | None = None, min_visibility: float = 0.25, min_size: float = 4.0,
                 skip_empty: bool = False) -> None:
        self.sequences = list(sequences)
        self.preprocess, self.augment = preprocess, augment
        self.min_visibility, self.min_size = min_visibility, min_size
        self.items = [(s, i) for s, seq in enumerate(self.sequences) for i in range(0, len(seq), max(1, stride))
                      if not skip_empty or len(seq.targets(i))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s, i = self.items[item]
        seq = self.sequences[s]
        img = seq.image(i)
        t = seq.targets(i)
        if self.augment is not None:
            t = t.select(~t.ignore)
            wh = t.boxes[:, 2:] - t.boxes[:, :2]
            t = t.select((t.visibility >= self.min_visibility) & (wh.min(1) >= self.min_size))
            img, boxes, labels = self.augment(img, t.boxes.copy(), t.labels.copy())
            n = len(boxes)
            t = FrameTargets(np.asarray(boxes, np.float32).reshape(n, 4), np.asarray(labels, np.int64),
                             np.full(n, -1, np.int64), np.ones(n, np.float32), np.zeros(n, bool))
        h, w = img.shape[:2]
        return to_tensor(img, self.preprocess), target_dict(t, w, h, self.min_visibility, self.min_size)


def collate_clips(batch: list[tuple[torch.Tensor, list[dict[str, torch.Tensor]]]]
                  ) -> tuple[torch.Tensor, list[list[dict[str, torch.Tensor]]]]:
    """(B, T, 3, H, W) clips and B lists of T target dicts."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def collate_stills(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]
                   ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """(B, 3, H, W) images and B target dicts."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
