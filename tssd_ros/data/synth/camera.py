"""The ROV camera: its path over the seabed and the plane-to-image geometry.

Why a homography: the seabed is a plane, so one 3x3 matrix per frame maps world pixels to image pixels;
the albedo and the id map are warped with the same matrix, which keeps the ground truth exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class CameraPose:
    """Camera pose over the seabed: position (m), altitude (m), heading/pitch/roll (rad)."""

    x: float
    y: float
    altitude: float
    heading: float
    tilt: float
    roll: float


def _smooth_random(rng: np.random.Generator, t: np.ndarray, periods: tuple[float, float], n: int = 3
                   ) -> np.ndarray:
    """Sum of a few random sinusoids in [-1, 1]: slow, smooth changes without a visible period."""
    out = np.zeros_like(t)
    for _ in range(n):
        p = rng.uniform(*periods)
        out += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * t / p + rng.uniform(0, 2 * np.pi))
    return out / n


def camera_path(seed: int, frames: int, fps: float, altitude: tuple[float, float]) -> list[CameraPose]:
    """Forward travel with slow altitude and heading changes, small pitch/roll wobble (own random stream,
    so a shorter dive is a prefix of a longer one)."""
    rng = np.random.default_rng([seed, 3])
    t = np.arange(frames) / fps
    speed = rng.uniform(0.18, 0.32) * (1 + 0.25 * _smooth_random(rng, t, (8, 30)))
    heading = rng.uniform(0, 2 * np.pi) + np.deg2rad(rng.uniform(15, 35)) * _smooth_random(rng, t, (20, 60))
    lo, hi = altitude
    alt = (lo + hi) / 2 + (hi - lo) / 2 * np.clip(1.3 * _smooth_random(rng, t, (10, 40)), -1, 1)
    tilt0 = np.deg2rad(rng.uniform(12, 28))
    tilt = tilt0 + np.deg2rad(2.5) * _smooth_random(rng, t, (2, 6))
    roll = np.deg2rad(2.0) * _smooth_random(rng, t, (2, 7))
    sway = 0.05 * _smooth_random(rng, t, (3, 9))
    dt = 1.0 / fps
    x = np.cumsum(speed * np.cos(heading) * dt) - np.sin(heading) * sway
    y = np.cumsum(speed * np.sin(heading) * dt) + np.cos(heading) * sway
    return [CameraPose(float(x[i]), float(y[i]), float(alt[i]), float(heading[i]), float(tilt[i]),
                       float(roll[i])) for i in range(frames)]


def rotation(p: CameraPose) -> np.ndarray:
    """World -> camera rotation (rows: camera x right, y down, z optical axis)."""
    f = np.array([math.cos(p.heading), math.sin(p.heading), 0.0])
    ez = np.array([0.0, 0.0, 1.0])
    xc = np.cross(f, ez)
    ct, st = math.cos(p.tilt), math.sin(p.tilt)
    zc = -ct * ez + st * f
    yc = -(ct * f + st * ez)
    cr, sr = math.cos(p.roll), math.sin(p.roll)
    xr = cr * xc + sr * yc
    yr = -sr * xc + cr * yc
    return np.stack([xr, yr, zc])


def seabed_homography(K: np.ndarray, p: CameraPose, px_per_m: float) -> np.ndarray:
    """World pixel (seabed plane z = 0, ``px_per_m`` pixels per metre) -> image pixel homography."""
    R = rotation(p)
    C = np.array([p.x, p.y, p.altitude])
    H = K @ np.column_stack([R[:, 0], R[:, 1], -R @ C])
    return H @ np.diag([1 / px_per_m, 1 / px_per_m, 1.0])


def area_scale(H: np.ndarray, x: float, y: float) -> float:
    """|det J| of the homography at world pixel (x, y): image pixels per world pixel."""
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w
    v = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w
    j = np.array([[H[0, 0] - u * H[2, 0], H[0, 1] - u * H[2, 1]],
                  [H[1, 0] - v * H[2, 0], H[1, 1] - v * H[2, 1]]]) / w
    return abs(float(np.linalg.det(j)))
