"""Random skip sampling (rss, paper eq. 5): which frames of a video form one training clip.

Why: clips with a random stride teach the temporal units several apparent speeds from one video, which is
what lets TSSD cope with a vehicle that speeds up or slows down.
"""

from __future__ import annotations

import numpy as np


def rss_params(n_frames: int, seq_len: int, rng: np.random.Generator) -> tuple[int, int]:
    """(skip, start) per eq. 5: skip = randint(1, floor(N/len)), start = randint(0, N - len*skip).

    Both bounds are inclusive (Python's ``random.randint``). Requires ``n_frames >= seq_len``.
    """
    if seq_len < 1 or n_frames < seq_len:
        raise ValueError(f"rss needs 1 <= seq_len <= n_frames, got seq_len={seq_len}, n_frames={n_frames}")
    skip = int(rng.integers(1, n_frames // seq_len + 1))
    start = int(rng.integers(0, n_frames - seq_len * skip + 1))
    return skip, start


def rss_indices(n_frames: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of one clip: start, start+skip, ...; a video shorter than the clip repeats frames
    (each frame about seq_len/N times, in order), as the reference did for short videos."""
    if n_frames < 1:
        raise ValueError("cannot sample a clip from an empty video")
    if n_frames < seq_len:
        return (np.arange(seq_len) * n_frames // seq_len).astype(np.int64)
    skip, start = rss_params(n_frames, seq_len, rng)
    return start + skip * np.arange(seq_len, dtype=np.int64)
