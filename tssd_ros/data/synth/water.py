"""Water and light: presets, and the optical effects between the seabed and the sensor.

Why a physical-ish model: detectors trained on synthetic dives must cope with what real water does to
an image: colour lost with depth and range (red first), a veil of backscatter, a lamp beam that leaves the
corners dark, caustics in shallow water and marine snow drifting through the lights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tssd_ros.data.synth.camera import CameraPose

F32 = np.float32


@dataclass(frozen=True)
class WaterPreset:
    """Water and camera conditions of one difficulty level (colours in BGR order, per metre)."""

    name: str
    depth_m: float  # water depth: filters the ambient light (red lost first)
    kd: tuple[float, float, float]  # diffuse attenuation of the ambient light [1/m]
    beta: tuple[float, float, float]  # beam attenuation along the viewing path [1/m]
    backscatter: tuple[float, float, float]  # veiling light colour far away
    ambient: float  # strength of the daylight reaching the seabed (before depth filtering)
    lights: float  # strength of the vehicle lights
    beam_power: float  # lights: cos^p beam falloff (bright centre, dark corners)
    caustics: float  # caustic modulation of the ambient light
    snow: int  # number of marine-snow particles (at 640x480)
    noise: float  # sensor noise (std on [0,1] at mid grey)
    altitude: tuple[float, float]  # altitude range [m]
    exposure_events: float  # expected exposure jumps per 100 frames
    haze_gain: float  # backscatter multiplier
    awb: float = 0.5  # strength of the camera's auto white balance (0 none, 1 grey world)
    target: float = 0.42  # auto-exposure target (mean display value)


PRESETS: dict[str, WaterPreset] = {
    # shallow, sunlit scallop bed: caustics, mild blue-green cast, little snow
    "clear": WaterPreset(
        name="clear", depth_m=8.0, kd=(0.05, 0.07, 0.30), beta=(0.10, 0.08, 0.40), backscatter=(0.62, 0.55, 0.22),
        ambient=1.0, lights=0.35, beam_power=3.0, caustics=0.35, snow=120, noise=0.012, altitude=(1.1, 1.8),
        exposure_events=0.6, haze_gain=0.18, awb=0.7, target=0.45,
    ),
    # coastal, plankton/sediment-laden: green veil, low contrast, dense snow
    "turbid": WaterPreset(
        name="turbid", depth_m=12.0, kd=(0.30, 0.18, 0.55), beta=(0.50, 0.36, 0.75), backscatter=(0.38, 0.50, 0.30),
        ambient=0.8, lights=0.8, beam_power=3.0, caustics=0.1, snow=420, noise=0.02, altitude=(0.9, 1.5),
        exposure_events=1.0, haze_gain=1.0, awb=0.45, target=0.42,
    ),
    # deep, no daylight: the vehicle's lights only (bright centre, dark corners), lit snow, more noise
    "dark": WaterPreset(
        name="dark", depth_m=60.0, kd=(0.06, 0.08, 0.45), beta=(0.12, 0.10, 0.35), backscatter=(0.55, 0.42, 0.15),
        ambient=0.01, lights=1.0, beam_power=4.0, caustics=0.0, snow=260, noise=0.03, altitude=(0.9, 1.6),
        exposure_events=0.4, haze_gain=0.5, awb=0.5, target=0.32,
    ),
}



class WaterOptics:
    """Light reaching the camera from the seabed: ``image = albedo x mul + add`` (linear, BGR).

    The fields are smooth, so they are computed on a coarse pixel grid (every 8th pixel) and upsampled.
    """

    def __init__(self, preset: WaterPreset, K: np.ndarray, width: int, height: int, px_per_m: float) -> None:
        self.p = preset
        self.size = (width, height)
        self.px_per_m = px_per_m
        step = 8
        gu, gv = np.meshgrid(np.linspace(0, width - 1, width // step + 1), np.linspace(0, height - 1,
                                                                                      height // step + 1))
        self.rays = np.linalg.inv(K) @ np.stack([gu.ravel(), gv.ravel(), np.ones(gu.size)])
        self.grid_shape = gu.shape
        cu, cv = np.meshgrid(np.arange(width // 4) * 4 + 1.5, np.arange(height // 4) * 4 + 1.5)
        self.caus_pts = np.stack([cu.ravel(), cv.ravel(), np.ones(cu.size)])
        self.caus_shape = cu.shape

    def light(self, pose: CameraPose, R: np.ndarray, Hinv: np.ndarray, time_s: float, gains: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """Multiplicative (direct light, with caustics) and additive (backscatter) fields at full
        resolution, the camera's per-channel ``gains`` folded in (saves full-resolution passes)."""
        p = self.p
        mul, add = self._fields(R, pose.altitude, gains)
        if p.caustics > 0:
            amb = np.exp(-np.array(p.kd, F32) * p.depth_m) * p.ambient
            att = np.exp(-np.array(p.beta, F32) * 2 * pose.altitude / math.cos(pose.tilt))
            k = p.caustics * float(np.exp(-0.15 * max(pose.altitude - 1.0, 0)))
            mul += self._caustics(time_s, Hinv, (amb * att * k * gains).astype(F32))
        return mul, add

    def _fields(self, R: np.ndarray, alt: float, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lamp beam and filtered daylight, attenuated along the path, and the backscatter veil."""
        p = self.p
        d = R.T @ self.rays  # world directions
        norm = np.linalg.norm(self.rays, axis=0)
        down = np.maximum(-d[2], 1e-3)
        rng_m = alt / down * norm  # range to the seabed along the ray
        cos_inc = down / norm
        cos_ax = 1.0 / norm  # angle to the optical axis (lights are aimed along it)
        beam = cos_ax ** (p.beam_power * 4.0)
        beta = np.array(p.beta)[:, None]
        att = np.exp(-beta * rng_m[None])
        amb_col = np.exp(-np.array(p.kd)[:, None] * p.depth_m)
        lamp = p.lights * beam * cos_inc / np.maximum(rng_m, 0.3) ** 2 * 2.2
        direct = (lamp[None] * att + p.ambient * amb_col) * att
        bsc = np.array(p.backscatter)[:, None] * (1 - att) * p.haze_gain
        bsc = bsc * (p.ambient * amb_col.mean() * 1.5 + p.lights * (0.1 + 0.3 * beam[None]) * 0.25)
        gh, gw = self.grid_shape
        direct = direct * gains[:, None]
        bsc = bsc * gains[:, None]
        mul = cv2.resize(direct.T.reshape(gh, gw, 3).astype(F32), self.size, interpolation=cv2.INTER_LINEAR)
        add = cv2.resize(bsc.T.reshape(gh, gw, 3).astype(F32), self.size, interpolation=cv2.INTER_LINEAR)
        return mul, add

    def _caustics(self, time_s: float, Hinv: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Caustic network on the seabed (world-locked, drifting), at quarter resolution, BGR."""
        w = Hinv @ self.caus_pts
        x = ((w[0] / w[2]) / self.px_per_m * 11.0).astype(F32)
        y = ((w[1] / w[2]) / self.px_per_m * 11.0).astype(F32)
        t = F32(time_s * 1.6)
        c = np.zeros_like(x)
        for a1, a2, b1, b2, sp in ((1.3, 0.0, 0.0, 0.9, 0.4), (0.0, 1.1, 1.2, 0.0, -0.3), (0.8, 0.8, 0.7, -0.7, 0.6)):
            u = x * a1 + y * a2
            v = x * b1 + y * b2
            q = 1 - np.abs(np.sin(u + 1.5 * np.sin(v + t) + sp * t))
            q *= q
            q *= q
            q *= q
            c += q * q
        c3 = (c - 0.12).reshape(*self.caus_shape, 1) * colour  # colour at low resolution, then upsample
        return cv2.resize(c3, self.size, interpolation=cv2.INTER_LINEAR)


class MarineSnow:
    """Particles drifting in front of the camera (camera frame, metres), lit by the vehicle's lights.

    Shares the renderer's random stream: snow is stateful from frame to frame anyway.
    """

    def __init__(self, preset: WaterPreset, f: float, width: int, height: int, rng: np.random.Generator) -> None:
        self.p = preset
        self.f = f
        self.width, self.height = width, height
        self.rng = rng
        self.particles = self._spawn(int(preset.snow * (width * height) / (640 * 480)))

    def _spawn(self, n: int) -> np.ndarray:
        """(n, 4) particles x, y, z (camera frame, m) and size factor, spread over the view."""
        W, H = self.width, self.height
        z = self.rng.uniform(0.15, 1.6, n)
        x = (self.rng.uniform(0, W, n) - W / 2) / self.f * z
        y = (self.rng.uniform(0, H, n) - H / 2) / self.f * z
        return np.stack([x, y, z, self.rng.uniform(0.5, 1.5, n)], 1)

    def layer(self, R: np.ndarray, motion_m: np.ndarray) -> np.ndarray:
        """Move the particles by the vehicle's motion ``motion_m`` (world, m) and render their light (H, W):
        near particles big and soft (defocus), far ones small points."""
        W, H = self.width, self.height
        sn = self.particles
        # the water moves relative to the camera: opposite to the vehicle's motion + slow drift/sinking
        sn[:, :3] -= (R @ motion_m)[None, :]
        sn[:, 0] += self.rng.normal(0, 0.002, len(sn))
        sn[:, 1] += self.rng.normal(0.0015, 0.002, len(sn))
        z = np.maximum(sn[:, 2], 1e-3)
        u = self.f * sn[:, 0] / z + W / 2
        v = self.f * sn[:, 1] / z + H / 2
        out = (sn[:, 2] < 0.1) | (sn[:, 2] > 1.7) | (u < -20) | (u > W + 20) | (v < -20) | (v > H + 20)
        if out.any():
            sn[out] = self._spawn(int(out.sum()))
            z = sn[:, 2]
            u = self.f * sn[:, 0] / z + W / 2
            v = self.f * sn[:, 1] / z + H / 2
        scale = W / 640
        size = sn[:, 3] * 0.25 * scale / z  # physical image radius
        defocus = 2.5 * scale * np.abs(1 / z - 1 / 1.4)  # thin-lens blur circle (focus near the seabed)
        rad = np.clip(np.maximum(size, defocus), 0.3, 14 * scale)
        cos_ax = 1.0 / np.sqrt(1 + ((u - W / 2) ** 2 + (v - H / 2) ** 2) / self.f**2)
        beam = cos_ax ** (self.p.beam_power * 4.0)
        lit = (self.p.lights * 0.5 * beam + self.p.ambient * 0.05) / (0.3 + z**2) * sn[:, 3] ** 2
        lit = lit * np.exp(-float(np.mean(self.p.beta)) * z * 2)
        lit = lit * np.clip((np.maximum(size, 0.8) / np.maximum(rad, 0.8)) ** 2, 0.01, 1)  # bokeh: spread
        lit = np.where(rad > 2.5 * scale, lit * 0.5, lit)
        layer = np.zeros((H, W), F32)
        vis = (u >= 0) & (u < W) & (v >= 0) & (v < H)
        small = vis & (rad < 1.2)
        # small particles: splat into pixels (the blur below makes them soft dots)
        np.add.at(layer, (v[small].astype(np.int64), u[small].astype(np.int64)), (lit[small] * 1.2).astype(F32))
        for k in np.nonzero(~small & (u >= -15) & (u < W + 15) & (v >= -15) & (v < H + 15))[0]:
            cv2.circle(layer, (int(u[k] * 4), int(v[k] * 4)), max(int(rad[k] * 4), 2), float(lit[k]), -1,
                       cv2.LINE_AA, 2)
        return cv2.GaussianBlur(layer, (0, 0), 0.8)
