"""BGR uint8 frame(s) -> the network's input: the one preprocessing rule of the detector and the trainer.

Why one function: a model trained on inputs made one way and run on inputs made another way loses accuracy
silently. One ``cv2.dnn.blobFromImages`` pass does the reference's steps (bilinear resize on uint8, minus the
mean, divided by std, BGR->RGB) without intermediate copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tssd_ros.model.config import PreprocessConfig


def to_blob(images: np.ndarray | Sequence[np.ndarray], cfg: PreprocessConfig) -> np.ndarray:
    """One HxWx3 image or a list of them -> (N, 3, S, S) float32."""
    imgs = [images] if isinstance(images, np.ndarray) else list(images)
    rgb = cfg.channel_order == "rgb"
    mean = tuple(float(v) for v in (cfg.mean_bgr[::-1] if rgb else cfg.mean_bgr))  # blobFromImage swaps first
    return cv2.dnn.blobFromImages(imgs, 1.0 / cfg.std, (cfg.input_size, cfg.input_size), mean, swapRB=rgb,
                                  crop=False)
