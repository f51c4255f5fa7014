"""Camera-motion compensation: how far the whole image moved between two frames.

Why: the ROV moves and the whole scene shifts with it, by tens of pixels per frame, and its speed changes;
a tubelet's own velocity cannot follow a change of camera speed while the object is hidden. One shift
measured on the image (or, without images, from the boxes that did match) moves every tubelet's
prediction, so the Kalman filters only model each object's own motion.

Method: phase correlation (``cv2.phaseCorrelate``) of two downscaled grey frames with a Hanning window:
one FFT pair per frame (~1 ms at 320 px wide), sub-pixel, robust to uniform brightness changes, and
translation is what a forward-looking ROV camera mostly sees frame to frame. A weak correlation peak
(turbid water, a featureless sea floor) gives no estimate rather than a wrong one.
"""

from __future__ import annotations

import cv2
import numpy as np


class CameraMotion:
    """Frame-to-frame image translation from consecutive frames.

    width: frames are downscaled to this width before correlating (accuracy ~0.1 px at that scale).
    min_response: correlation peak below which the estimate is discarded (None returned).
    """

    def __init__(self, width: int = 320, min_response: float = 0.05) -> None:
        self.width = int(width)
        self.min_response = float(min_response)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (new video)."""
        self._prev: np.ndarray | None = None
        self._window: np.ndarray | None = None

    def estimate(self, frame: np.ndarray) -> np.ndarray | None:
        """Shift (dx, dy) in full-resolution px that carries a point of the previous frame to this one, or None
        (first frame, image size changed, or no reliable peak). The frame becomes the next reference."""
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape[:2]
        scale = min(1.0, self.width / w)
        small = cv2.resize(grey, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = small.astype(np.float32)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            self._window = cv2.createHanningWindow(small.shape[::-1], cv2.CV_32F)
            return None
        (dx, dy), response = cv2.phaseCorrelate(prev, small, self._window)
        if not response >= self.min_response:
            return None
        return np.array([dx * w / small.shape[1], dy * h / small.shape[0]])


def median_shift(residuals: np.ndarray, min_count: int = 3) -> np.ndarray | None:
    """Median (dx, dy) of (n, 2) box displacements, the frame-less fallback: most matched boxes move with the
    scene, a few with their own motion or a wrong match; None when fewer than ``min_count`` boxes."""
    n = len(residuals)
    if n < min_count:
        return None
    r = np.sort(residuals, axis=0)  # np.median costs 5x more at these sizes
    return (r[(n - 1) // 2] + r[n // 2]) / 2
