"""Constant-velocity Kalman filter on boxes in image space, vectorised over tubelets.

Why: the ROV moves, so a tubelet's next box is where its velocity carries it, and a filter weighs a noisy
new box against that prediction (a least-squares line over a fixed window cannot tell box noise from a
change of speed, and forgets slowly). State per tubelet: centre x, y, width, height and their velocities
(px and px/s); ``dt`` comes from time stamps, so a dropped frame only lengthens ``dt``.

With diagonal process and measurement noise the 8-state filter splits exactly into four independent
(position, velocity) filters, one per box coordinate, so each step is a few elementwise numpy operations
over all tubelets: the covariance is stored as (n, 4, 3) = (p_pp, p_pv, p_vv) per coordinate instead of
(n, 8, 8) matrices. Noise scales with the box size (mean of width and height), so one setting serves a
40 px sea urchin and a 400 px scallop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: chi-square 99 % quantile with 4 degrees of freedom: the gate of :meth:`BoxKalman.distance`.
CHI2_4DOF_99 = 13.277


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64).reshape(-1, 4)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + wh / 2, wh], 1)


def cxcywh_to_xyxy(z: np.ndarray) -> np.ndarray:
    """Boxes from (n, >=4) states; width and height clipped to >= 1 px (a long extrapolation can shrink them)."""
    half = np.maximum(z[:, 2:4], 1.0) / 2
    return np.concatenate([z[:, :2] - half, z[:, :2] + half], 1)


@dataclass(frozen=True)
class BoxKalman:
    """The filter's noise model (all relative to the box size ``s`` = mean of width and height).

    meas_std: std of a detected box coordinate, in ``s`` (detector noise; 0.05 = 2 px on a 40 px box).
    accel_std: std of the acceleration, in ``s`` per s^2 (continuous white-noise acceleration: how fast an
        object's or the scene's speed may change).
    vel_std0: std of the velocity at birth, in ``s`` per s (large: the second box sets the speed).
    """

    meas_std: float = 0.05
    accel_std: float = 1.0
    vel_std0: float = 10.0

    def init(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x (n, 8), P (n, 4, 3)) for new tubelets: position = the box, velocity 0 +- vel_std0."""
        z = xyxy_to_cxcywh(boxes)
        s = _size(z)[:, None]
        x = np.concatenate([z, np.zeros_like(z)], 1)
        P = np.zeros((len(z), 4, 3))
        P[..., 0] = (self.meas_std * s) ** 2
        P[..., 2] = (self.vel_std0 * s) ** 2
        return x, P

    def predict(self, x: np.ndarray, P: np.ndarray, dt: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """State and covariance ``dt`` seconds later (per row or scalar); inputs are not modified.

        x' = x + v dt; P' = F P F^T + Q with Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]], q = (accel_std s)^2.
        """
        dt = np.reshape(np.asarray(dt, np.float64), (-1, 1))
        xn = x.copy()
        xn[:, :4] += x[:, 4:] * dt
        qdt = (self.accel_std**2 * dt) * _size(x)[:, None] ** 2
        pp, pv, vv = P[..., 0], P[..., 1], P[..., 2]
        vvdt = vv * dt
        Pn = np.empty_like(P)
        Pn[..., 0] = pp + dt * (2 * pv + vvdt) + qdt * dt * dt / 3
        Pn[..., 1] = pv + vvdt + qdt * dt / 2
        Pn[..., 2] = vv + qdt
        return xn, Pn

    def update(self, x: np.ndarray, P: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior after measuring ``boxes`` (xyxy), for already predicted ``x, P``."""
        z = xyxy_to_cxcywh(boxes)
        r = (self.meas_std**2) * _size(x)[:, None] ** 2
        pp, pv, vv = P[..., 0], P[..., 1], P[..., 2]
        inv = 1.0 / (pp + r)
        k0, k1 = pp * inv, pv * inv
        y = z - x[:, :4]
        xn = np.empty_like(x)
        xn[:, :4] = x[:, :4] + k0 * y
        xn[:, 4:] = x[:, 4:] + k1 * y
        Pn = np.empty_like(P)
        Pn[..., 0] = pp - k0 * pp
        Pn[..., 1] = pv - k0 * pv
        Pn[..., 2] = vv - k1 * pv
        return xn, Pn

    def distance(self, x: np.ndarray, P: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance (n_boxes, n_states) of measured boxes to predicted states (4 dof)."""
        z = xyxy_to_cxcywh(boxes)
        var = P[..., 0] + (self.meas_std * _size(x))[:, None] ** 2  # (n_states, 4)
        return (((z[:, None, :] - x[None, :, :4]) ** 2) / var[None]).sum(-1)


def _size(x: np.ndarray) -> np.ndarray:
    return np.maximum((x[:, 2] + x[:, 3]) / 2, 1.0)
