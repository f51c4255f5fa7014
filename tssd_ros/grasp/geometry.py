"""Pixel -> viewing ray in the camera optical frame (pure numpy/OpenCV, no rclpy).

The manipulator controller needs a direction, not a pixel: a unit ray through the box centre lets it
servo (or intersect with a range measurement) without knowing the camera model. The ray is expressed in
the ROS optical frame (x right, y down, z forward) of the camera described by the CameraInfo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

#: Distortion models handled by cv2.undistortPoints (5, 8, 12 or 14 coefficients).
PINHOLE_MODELS = ("plumb_bob", "rational_polynomial", "")
#: Fisheye model (4 coefficients), handled by cv2.fisheye.undistortPoints.
FISHEYE_MODELS = ("equidistant",)


def camera_matrix_valid(k: Sequence[float]) -> bool:
    """A CameraInfo K is usable when it has 9 finite values and positive focal lengths.

    Uncalibrated drivers publish K all zeros; using it would produce NaN rays.
    """
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        return False
    return k[0] > 0.0 and k[4] > 0.0


def pixel_to_ray(
    u: float, v: float, k: Sequence[float], d: Sequence[float] = (), model: str = "plumb_bob"
) -> tuple[float, float, float]:
    """Unit ray (x, y, z) through pixel (u, v): undistort with K and D, then normalise (x', y', 1).

    Raises ValueError for an unusable K or an unknown distortion model, so the caller can fall back.
    """
    if not camera_matrix_valid(k):
        raise ValueError("camera matrix K is not calibrated (zero or non-finite focal length)")
    kmat = np.asarray(k, dtype=np.float64).reshape(3, 3)
    pix = np.array([[[u, v]]], dtype=np.float64)
    dist = np.asarray(d, dtype=np.float64).ravel()
    if dist.size and not np.all(np.isfinite(dist)):
        raise ValueError("distortion coefficients D are not finite")
    if model in FISHEYE_MODELS:
        if dist.size < 4:
            raise ValueError(f"distortion model {model!r} needs 4 coefficients, got {dist.size}")
        norm = cv2.fisheye.undistortPoints(pix, kmat, dist[:4])
    elif model in PINHOLE_MODELS:
        if not dist.size or not np.any(dist):
            fx, fy, cx, cy = kmat[0, 0], kmat[1, 1], kmat[0, 2], kmat[1, 2]
            skew = kmat[0, 1]
            yn = (v - cy) / fy
            norm = np.array([[[(u - cx - skew * yn) / fx, yn]]])
        else:
            try:
                norm = cv2.undistortPoints(pix, kmat, dist)
            except cv2.error as exc:
                raise ValueError(f"cannot undistort with {dist.size} coefficients: {exc}") from exc
    else:
        raise ValueError(
            f"unsupported distortion model {model!r} (use plumb_bob, rational_polynomial or equidistant)"
        )
    x, y = float(norm[0, 0, 0]), float(norm[0, 0, 1])
    n = math.sqrt(x * x + y * y + 1.0)
    return x / n, y / n, 1.0 / n
