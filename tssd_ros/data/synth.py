"""Synthetic ROV dive generator with exact ground truth (boxes, identities, visibility).

Why: no public underwater tracking set can be fetched here, yet training and every claim of the
benchmark need scenes like an ROV's with exact identities. The generator renders a planar seabed
(sand, gravel, rock, weed, shell hash) populated with sea urchins, scallops and sea cucumbers, seen from
a camera that flies forward with slow altitude/heading changes, through a water model (depth-dependent
colour attenuation, backscatter, vehicle lights, caustics, marine snow, noise, blur, exposure changes).

How: the world is an infinite plane cut into square tiles (albedo + object-id map), each tile generated
deterministically from (seed, tile index) with hash-lattice value noise (seamless across tiles). Each frame
the tiles under the camera footprint are warped into the image by the plane-to-image homography; the
id map is warped with the same homography (nearest), so the box of an object is the tight box of its
rendered pixels and its visibility is its visible pixel count over its full (unclipped, unoccluded) area.

Ground-truth conventions (see ``SynthFrame``):
- an object is in the frame's ground truth iff at least one of its pixels is visible (id map); fully
  hidden objects are absent; tiny or barely visible objects stay in with their visibility (consumers
  decide, e.g. VOC "difficult" below a visibility/size threshold);
- box = tight box of its pixels in the id map (a pixel is the object's where the object's coverage is at
  least one half), clipped to the frame by construction;
- visibility = visible pixels / (object area on the seabed x local homography area scale), in [0, 1];
  it accounts for occlusion by other objects and by the frame edge, not for marine snow, blur or darkness.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tssd_ros.data.classes import UNDERWATER_CLASSES
from tssd_ros.errors import InputError

F32 = np.float32
#: bump when the rendering changes, so that cached benchmark sequences are re-rendered
GENERATOR_VERSION = 1

# ---------------------------------------------------------------------------------------------------------
# presets


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


@dataclass
class SynthConfig:
    """One dive: seed, length, image size, frame rate and water preset."""

    seed: int = 0
    frames: int = 300
    width: int = 640
    height: int = 480
    fps: float = 15.0
    preset: str = "clear"
    density: float = 1.0  # multiplier of the animal density
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset '{self.preset}': choose one of {', '.join(PRESETS)}")
        if self.width < 32 or self.height < 32 or self.width > 8192 or self.height > 8192:
            raise InputError(f"image size {self.width}x{self.height} out of range: use 32..8192 per side")
        if self.frames < 1:
            raise InputError(f"--frames must be >= 1, got {self.frames}")
        if not (0.5 <= self.fps <= 240):
            raise InputError(f"--fps must be in [0.5, 240], got {self.fps}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")


# ---------------------------------------------------------------------------------------------------------
# hash-lattice value noise (seamless across tiles: lattice values depend only on world lattice indices)

_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def _hash(ix: np.ndarray, iy: np.ndarray, key: int) -> np.ndarray:
    """Deterministic uniform [0,1) value per integer lattice point (splitmix-style mixing)."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= iy.astype(np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= np.uint64(key & 0xFFFFFFFFFFFF) * np.uint64(0x165667B19E3779F9)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float64) / float(1 << 24)).astype(F32)


def _interp_weights(pos: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Lattice index (relative to the first), smoothstep weight, first lattice index, lattice count."""
    q = pos / cell
    i0 = np.floor(q).astype(np.int64)
    f = q - i0
    s = (f * f * (3.0 - 2.0 * f)).astype(F32)
    lo = int(i0.min())
    return i0 - lo, s, lo, int(i0.max()) - lo + 2


def value_noise(x0: int, y0: int, w: int, h: int, cell: tuple[float, float] | float, key: int) -> np.ndarray:
    """(h, w) value noise in [0,1] over world pixels [x0, x0+w) x [y0, y0+h).

    Separable smoothstep interpolation of hashed lattice values, done with gathers rather than matrix
    products (small BLAS calls are slow and thread-hungry on a busy machine).
    """
    cx, cy = (cell, cell) if isinstance(cell, (int, float)) else cell
    ix, sx, lx, nx = _interp_weights(np.arange(x0, x0 + w, dtype=np.float64), max(cx, 1.0))
    iy, sy, ly, ny = _interp_weights(np.arange(y0, y0 + h, dtype=np.float64), max(cy, 1.0))
    gy, gx = np.mgrid[ly : ly + ny, lx : lx + nx]
    g = _hash(gx, gy, key)
    rows = g[iy] * (1 - sy)[:, None] + g[iy + 1] * sy[:, None]  # (h, nx)
    return rows[:, ix] * (1 - sx) + rows[:, ix + 1] * sx


def fbm(x0: int, y0: int, w: int, h: int, cells: list[float], key: int, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value noise octaves, normalised to about [0,1]."""
    out = np.zeros((h, w), F32)
    amp, tot = 1.0, 0.0
    for k, c in enumerate(cells):
        out += amp * value_noise(x0, y0, w, h, c, key * 131 + k)
        tot += amp
        amp *= gain
    return out / tot


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ---------------------------------------------------------------------------------------------------------
# animals


@dataclass
class Feature:
    """One animal on the seabed (world pixel position, paint order z, own random stream)."""

    key: tuple[int, int, int]
    label: int
    x: float
    y: float
    z: float
    seed: int
    cluster: int


@dataclass
class Sprite:
    """Rendered animal: reflectance (BGR, [0,1]), coverage alpha, top-left world pixel, area in px."""

    albedo: np.ndarray
    alpha: np.ndarray
    x0: int
    y0: int
    mask: np.ndarray = field(init=False)
    area: int = field(init=False)

    def __post_init__(self) -> None:
        self.mask = self.alpha >= 0.5
        self.area = int(self.mask.sum())


_URCHIN_COLOURS = np.array(  # BGR reflectance: purple, green-brown, violet-red, dark, olive
    [[0.14, 0.08, 0.16], [0.08, 0.15, 0.12], [0.14, 0.10, 0.24], [0.07, 0.07, 0.09], [0.06, 0.14, 0.16]], F32
)
_SCALLOP_COLOURS = np.array(  # orange-brown, red-brown, cream, pink, pale
    [[0.30, 0.45, 0.70], [0.25, 0.32, 0.60], [0.55, 0.65, 0.78], [0.40, 0.42, 0.70], [0.62, 0.66, 0.72],
     [0.35, 0.50, 0.62]], F32
)
_CUCUMBER_COLOURS = np.array(  # red-brown, dark brown, orange, tan, black
    [[0.10, 0.16, 0.38], [0.08, 0.12, 0.22], [0.12, 0.26, 0.55], [0.22, 0.32, 0.45], [0.05, 0.05, 0.07]], F32
)
_SILT = np.array([0.40, 0.45, 0.50], F32)


def _finish(alb: np.ndarray, a: np.ndarray, ss: int, cx: float, cy: float, fx: float, fy: float) -> Sprite:
    """Downsample a supersampled sprite; (cx, cy) = sprite centre in sprite px, (fx, fy) = world centre."""
    h, w = a.shape
    h2, w2 = h // ss, w // ss
    alb = cv2.resize(alb[: h2 * ss, : w2 * ss] * a[: h2 * ss, : w2 * ss, None], (w2, h2),
                     interpolation=cv2.INTER_AREA)
    a = cv2.resize(a[: h2 * ss, : w2 * ss], (w2, h2), interpolation=cv2.INTER_AREA)
    alb = alb / np.maximum(a, 1e-4)[..., None]
    x0 = int(round(fx - cx / ss))
    y0 = int(round(fy - cy / ss))
    return Sprite(np.clip(alb, 0, 1).astype(F32), a.astype(F32), x0, y0)


def _urchin(rng: np.random.Generator, s: float, fx: float, fy: float) -> Sprite:
    ss = 2
    r = rng.uniform(0.020, 0.042) * s * ss
    spine = r * rng.uniform(0.35, 0.65)
    half = int(math.ceil(r + spine * 1.2)) + 3
    n = 2 * half + 1
    col = _URCHIN_COLOURS[rng.integers(len(_URCHIN_COLOURS))] * rng.uniform(0.75, 1.3)
    tip = np.clip(col * rng.uniform(1.3, 2.2), 0, 0.6)
    yy, xx = np.mgrid[0:n, 0:n].astype(F32) - half
    d = np.hypot(xx, yy) / r
    z = np.sqrt(np.clip(1 - d * d, 0, 1))
    body = d <= 1.0
    # top-lit sphere with a dark aboral centre and mottling
    mott = 0.8 + 0.4 * rng.random((n, n), dtype=F32)
    shade = (0.45 + 0.55 * z) * cv2.GaussianBlur(mott, (0, 0), 1.2)
    alb = np.zeros((n, n, 3), F32)
    alb[body] = (col[None, :] * shade[body, None])
    a = body.astype(F32)
    nsp = int(rng.integers(90, 170))
    ang = rng.uniform(0, 2 * np.pi, nsp)
    r0 = r * np.sqrt(rng.uniform(0.05, 1.0, nsp))
    ln = spine * rng.uniform(0.6, 1.2, nsp) + (r - r0) * 0.9
    jit = ang + rng.normal(0, 0.15, nsp)
    for k in range(nsp):
        p0 = (half + r0[k] * math.cos(ang[k]), half + r0[k] * math.sin(ang[k]))
        p1 = (p0[0] + ln[k] * math.cos(jit[k]), p0[1] + ln[k] * math.sin(jit[k]))
        c = tip if k % 3 else col * 1.6
        c = tuple(float(v) for v in np.clip(c * rng.uniform(0.6, 1.2), 0, 1))
        q0 = (int(p0[0] * 4), int(p0[1] * 4))
        q1 = (int(p1[0] * 4), int(p1[1] * 4))
        cv2.line(alb, q0, q1, c, 2, cv2.LINE_AA, 2)
        cv2.line(a, q0, q1, 1.0, 2, cv2.LINE_AA, 2)
    # shell/gravel debris carried on the test
    for _ in range(int(rng.integers(0, 4))):
        px, py = rng.normal(0, r * 0.4, 2)
        cv2.circle(alb, (int(half + px), int(half + py)), int(rng.uniform(1.0, 0.12 * r + 2)),
                   tuple(float(v) for v in _SILT * rng.uniform(0.8, 1.3)), -1, cv2.LINE_AA)
    return _finish(alb, np.clip(a, 0, 1), ss, half, half, fx, fy)


def _scallop(rng: np.random.Generator, s: float, fx: float, fy: float) -> Sprite:
    ss = 2
    r = rng.uniform(0.035, 0.065) * s * ss
    half = int(math.ceil(r * 1.25)) + 3
    n = 2 * half + 1
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:n, 0:n].astype(F32) - half
    ct, st = math.cos(theta), math.sin(theta)
    u = xx * ct + yy * st  # along the hinge line
    v = -xx * st + yy * ct  # hinge -> ventral margin
    hinge_v = -0.85 * r
    disc = (u * u + (v * 1.05) ** 2) <= r * r
    ears = (np.abs(u) <= 0.55 * r) & (v >= hinge_v - 0.08 * r) & (v <= hinge_v + 0.35 * r)
    ears &= (np.abs(u) - 0.55 * r) <= (v - hinge_v) * 0.1
    shape = disc | ears
    dv = v - hinge_v
    phi = np.arctan2(u, np.maximum(dv, 1e-3))
    dist = np.hypot(u, dv)
    nrib = int(rng.integers(14, 22))
    rib = 0.80 + 0.20 * np.cos(nrib * phi * 2.0)
    ring = 0.93 + 0.07 * np.sin(dist / r * rng.uniform(18, 30))
    col = _SCALLOP_COLOURS[rng.integers(len(_SCALLOP_COLOURS))] * rng.uniform(0.8, 1.2)
    mott = cv2.GaussianBlur(rng.random((n, n), dtype=F32), (0, 0), r * 0.12 + 1)
    mott = 0.75 + 0.5 * (mott - mott.mean()) / (mott.std() + 1e-6) * 0.25
    dt = cv2.distanceTransform(shape.astype(np.uint8), cv2.DIST_L2, 3) / (0.5 * r)
    dome = 0.55 + 0.45 * np.sqrt(np.clip(dt, 0, 1))
    shade = rib * ring * mott * dome
    alb = col[None, None, :] * shade[..., None]
    # dark gape / mantle edge along the ventral margin (shell slightly open)
    rim = shape & (dt < 0.15)
    alb[rim] *= 1.25
    if rng.random() < 0.6:
        edge = shape & (dt < 0.12) & (v > 0.2 * r)
        alb[edge] *= 0.3
    # silt dusting
    silt = rng.uniform(0.0, 0.4) ** 1.5
    alb = alb * (1 - silt) + _SILT * silt * rng.uniform(0.8, 1.1)
    a = shape.astype(F32)
    # half buried: sediment covers the part beyond a wavy line
    if rng.random() < 0.35:
        bang = rng.uniform(0, 2 * np.pi)
        proj = xx * math.cos(bang) + yy * math.sin(bang)
        cut = rng.uniform(-0.2, 0.45) * r + 0.06 * r * np.sin(yy * 0.3 + xx * 0.2)
        a *= (proj < cut).astype(F32)
    a = cv2.GaussianBlur(a, (3, 3), 0.6)
    return _finish(alb.astype(F32), a, ss, half, half, fx, fy)


def _cucumber(rng: np.random.Generator, s: float, fx: float, fy: float) -> Sprite:
    ss = 2
    length = rng.uniform(0.12, 0.28) * s * ss
    width = length * rng.uniform(0.16, 0.26)
    half = int(math.ceil(length * 0.6 + width)) + 3
    n = 2 * half + 1
    theta = rng.uniform(0, 2 * np.pi)
    bend = rng.uniform(-0.35, 0.35) * length
    t = np.linspace(0, 1, 48)
    # quadratic Bezier centre line, centred on the sprite
    p0 = np.array([-length / 2, 0.0])
    p2 = np.array([length / 2, 0.0])
    p1 = np.array([0.0, bend])
    pts = ((1 - t)[:, None] ** 2) * p0 + (2 * (1 - t) * t)[:, None] * p1 + (t[:, None] ** 2) * p2
    pts[:, 1] -= bend / 2
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    pts = pts @ rot.T + half
    prof = width / 2 * (0.35 + 0.65 * np.sin(np.pi * np.clip(t * 1.05 - 0.02, 0, 1)) ** 0.6)
    prof *= 1 + 0.08 * np.sin(t * rng.uniform(8, 14))
    mask = np.zeros((n, n), np.uint8)
    for (px, py), pr in zip(pts, prof, strict=True):
        cv2.circle(mask, (int(px * 4), int(py * 4)), max(int(pr * 4), 4), 1, -1, cv2.LINE_8, 2)
    dt = cv2.distanceTransform(mask, cv2.DIST_L2, 3) / (width / 2)
    col = _CUCUMBER_COLOURS[rng.integers(len(_CUCUMBER_COLOURS))] * rng.uniform(0.8, 1.25)
    cyl = 0.45 + 0.55 * np.sqrt(np.clip(dt, 0, 1))
    alb = col[None, None, :] * cyl[..., None]
    # papillae / tubercles: conical warts, lighter tips, along the back and flanks
    nb = int(rng.integers(25, 60))
    idx = rng.integers(3, len(pts) - 3, nb)
    off = rng.uniform(-0.8, 0.8, nb)
    warts = np.zeros((n, n), F32)
    for k in range(nb):
        i = idx[k]
        tang = pts[min(i + 1, len(pts) - 1)] - pts[i - 1]
        nrm = np.array([-tang[1], tang[0]]) / (np.linalg.norm(tang) + 1e-6)
        c = pts[i] + nrm * off[k] * prof[i]
        cv2.circle(warts, (int(c[0] * 4), int(c[1] * 4)), int(4 * rng.uniform(0.8, 0.22 * width + 1)), 1.0,
                   -1, cv2.LINE_AA, 2)
    warts = cv2.GaussianBlur(warts, (0, 0), 1.0) * (mask > 0)
    tipc = np.clip(col * rng.uniform(1.4, 2.2), 0, 0.8)
    alb = alb * (1 - 0.7 * warts[..., None]) + tipc * 0.7 * warts[..., None]
    skin = 0.85 + 0.3 * cv2.GaussianBlur(rng.random((n, n), dtype=F32), (0, 0), 1.5)
    alb = alb * skin[..., None]
    silt = rng.uniform(0.0, 0.3)
    alb = alb * (1 - silt) + _SILT * silt
    a = cv2.GaussianBlur(mask.astype(F32), (3, 3), 0.6)
    return _finish(alb.astype(F32), a, ss, half, half, fx, fy)


_SPRITE_FNS = (_urchin, _scallop, _cucumber)


# ---------------------------------------------------------------------------------------------------------
# the world


class SeabedWorld:
    """Infinite tiled seabed: albedo (uint8 BGR) and object-id (float32, 0 = none) per world pixel."""

    def __init__(self, seed: int, px_per_m: float, preset: WaterPreset, density: float = 1.0) -> None:
        self.seed = int(seed)
        self.s = float(px_per_m)
        self.tile = max(32, int(round(0.67 * self.s)))
        self.preset = preset
        self.density = density
        self._tiles: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._features: dict[tuple[int, int], list[Feature]] = {}
        self._sprites: OrderedDict[tuple[int, int, int], Sprite] = OrderedDict()
        self.uid_of: dict[tuple[int, int, int], int] = {}
        self.features_by_uid: list[Feature | None] = [None]
        self.area_by_uid: list[int] = [0]
        self.centre_by_uid: list[tuple[float, float]] = [(0.0, 0.0)]
        rng = np.random.default_rng([self.seed, 11])
        self.ripple_dir = rng.uniform(0, np.pi)
        self.sand_a = np.array([0.44, 0.54, 0.62], F32) * rng.uniform(0.85, 1.1, 3).astype(F32)
        self.sand_b = np.array([0.26, 0.33, 0.40], F32) * rng.uniform(0.85, 1.1, 3).astype(F32)
        self.weed_col = np.array([0.10, 0.22, 0.20], F32) if rng.random() < 0.5 else np.array(
            [0.10, 0.14, 0.30], F32)
        self.class_weights = rng.dirichlet([9.0, 18.0, 6.0])
        # how much of each seabed type this dive has (scallop beds: sand and gravel, some rock and weed)
        self.ripples, self.gravel = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.2)
        self.rocks, self.weed = rng.uniform(0.7, 1.1), rng.uniform(0.3, 1.1)

    # -- features ------------------------------------------------------------------------------------
    def features(self, tx: int, ty: int) -> list[Feature]:
        """Animals whose cluster centre lies in tile (tx, ty) (deterministic per tile)."""
        key = (tx, ty)
        if key in self._features:
            return self._features[key]
        T, s = self.tile, self.s
        rng = np.random.default_rng([self.seed, 23, tx & 0xFFFFFFFF, ty & 0xFFFFFFFF])
        # beds: density follows a low-frequency field so that some areas are empty, others dense
        bed = float(value_noise(tx * T + T // 2, ty * T + T // 2, 1, 1, 2.5 * s, self.seed * 7 + 5)[0, 0])
        area = (T / s) ** 2
        lam_c = self.density * area * 2.0 * (0.1 + 1.6 * bed**2)
        lam_s = self.density * area * 1.6 * (0.15 + bed)
        out: list[Feature] = []
        k = 0
        for _ in range(rng.poisson(lam_c)):
            label = int(rng.choice(3, p=self.class_weights))
            cx, cy = tx * T + rng.uniform(0, T), ty * T + rng.uniform(0, T)
            members = 1 + rng.poisson(2.2)
            spread = 0.07 * s
            for _m in range(members):
                dx, dy = np.clip(rng.normal(0, spread, 2), -0.17 * s, 0.17 * s)
                out.append(Feature((tx, ty, k), label, cx + dx, cy + dy, rng.random(),
                                   int(rng.integers(2**31)), k))
                k += 1
        for _ in range(rng.poisson(lam_s)):
            label = int(rng.choice(3, p=self.class_weights))
            out.append(Feature((tx, ty, k), label, tx * T + rng.uniform(0, T), ty * T + rng.uniform(0, T),
                               rng.random(), int(rng.integers(2**31)), -1))
            k += 1
        self._features[key] = out
        return out

    def sprite(self, f: Feature) -> Sprite:
        sp = self._sprites.get(f.key)
        if sp is None:
            rng = np.random.default_rng([self.seed, 31, f.seed])
            sp = _SPRITE_FNS[f.label](rng, self.s, f.x, f.y)
            self._sprites[f.key] = sp
            if len(self._sprites) > 4000:
                self._sprites.popitem(last=False)
        else:
            self._sprites.move_to_end(f.key)
        if f.key not in self.uid_of:
            self.uid_of[f.key] = len(self.features_by_uid)
            self.features_by_uid.append(f)
            self.area_by_uid.append(sp.area)
            self.centre_by_uid.append((sp.x0 + (sp.alpha.shape[1] - 1) / 2, sp.y0 + (sp.alpha.shape[0] - 1) / 2))
        return sp

    # -- seabed ----------------------------------------------------------------------------------------
    def _seabed(self, tx: int, ty: int) -> np.ndarray:
        T, s, key = self.tile, self.s, self.seed * 1000
        x0, y0 = tx * T, ty * T

        def N(cell_m: float | tuple[float, float], k: int) -> np.ndarray:  # noqa: N802
            c = (cell_m * s, cell_m * s) if isinstance(cell_m, float) else (cell_m[0] * s, cell_m[1] * s)
            return value_noise(x0, y0, T, T, c, key + k)

        yy, xx = np.mgrid[y0 : y0 + T, x0 : x0 + T].astype(F32)
        # per-pixel grain: plain random numbers (seams at tile borders are invisible at this scale)
        rng = np.random.default_rng([self.seed, 41, tx & 0xFFFFFFFF, ty & 0xFFFFFFFF])
        grain = cv2.GaussianBlur(rng.random((T, T), dtype=F32), (0, 0), 0.8) - 0.5
        grain2 = cv2.GaussianBlur(rng.random((T, T), dtype=F32), (0, 0), 1.6) - 0.5
        # sand: colour patches, fine grain, ripples with wandering crests
        tone = fbm(x0, y0, T, T, [0.9 * s, 0.3 * s, 0.1 * s], key + 1)
        alb = self.sand_b + (self.sand_a - self.sand_b) * _smoothstep(0.25, 0.75, tone)[..., None]
        detritus = _smoothstep(0.55, 0.8, fbm(x0, y0, T, T, [0.25 * s, 0.06 * s, 0.02 * s], key + 17))
        alb = alb * (1 - 0.35 * detritus[..., None])
        cd, sd = math.cos(self.ripple_dir), math.sin(self.ripple_dir)
        warp = fbm(x0, y0, T, T, [0.5 * s, 0.2 * s], key + 4)
        lam = 0.09 * s
        rip = np.sin((xx * cd + yy * sd) / lam * 2 * np.pi + 7.0 * warp)
        rip_amp = _smoothstep(0.35, 0.7, N(1.5, 5)) * self.ripples
        height = 1.6 * rip * rip_amp + 1.5 * grain + 1.5 * grain2
        # gravel / shell-hash fields: pebbles from thresholded small-cell noise
        gravel_w = _smoothstep(0.5, 0.7, fbm(x0, y0, T, T, [1.8 * s, 0.6 * s], key + 6)) * self.gravel
        # two incommensurate lattices: no grid look
        peb = (0.6 * value_noise(x0, y0, T, T, 0.024 * s, key + 7)
               + 0.4 * value_noise(x0, y0, T, T, 0.0155 * s, key + 18) + 0.35 * grain2)
        pebm = _smoothstep(0.55, 0.64, peb) * gravel_w
        pc = value_noise(x0, y0, T, T, 0.022 * s, key + 8)
        peb_col = np.stack([0.20 + 0.35 * pc, 0.23 + 0.32 * pc, 0.27 + 0.30 * pc], -1).astype(F32)
        alb = alb * (1 - pebm[..., None]) + peb_col * pebm[..., None]
        height += 5.0 * pebm
        shell = _smoothstep(0.80, 0.86, value_noise(x0, y0, T, T, 0.011 * s, key + 9)) * (0.35 + gravel_w)
        alb = alb + (np.array([0.78, 0.82, 0.86], F32) - alb) * np.clip(shell, 0, 1)[..., None] * 0.85
        # rock outcrops
        rock_n = fbm(x0, y0, T, T, [1.2 * s, 0.5 * s, 0.2 * s, 0.08 * s, 0.03 * s], key + 10)
        rock_p = value_noise(x0, y0, T, T, 4.0 * s, key + 11)
        rock = _smoothstep(0.62, 0.66, rock_n * (0.5 + 0.6 * rock_p) * self.rocks)
        rock_tex = fbm(x0, y0, T, T, [0.1 * s, 0.03 * s], key + 12) + 0.3 * grain2
        rock_col = np.array([0.20, 0.22, 0.25], F32)[None, None] * (0.6 + 0.8 * rock_tex[..., None])
        enc = _smoothstep(0.6, 0.7, value_noise(x0, y0, T, T, 0.05 * s, key + 13))[..., None]
        rock_col = rock_col * (1 - enc * 0.7) + np.array([0.35, 0.30, 0.55], F32) * enc * 0.7
        alb = alb * (1 - rock[..., None]) + rock_col * rock[..., None]
        height += 8.0 * rock * (rock_n - 0.5) + rock * 3 * rock_tex
        # weed: patches of algal turf (blobby tufts) inside low-frequency patches
        weed_p = _smoothstep(0.62, 0.74, fbm(x0, y0, T, T, [1.0 * s, 0.35 * s], key + 14)) * self.weed
        tuft = value_noise(x0, y0, T, T, 0.007 * s, key + 15) + 0.8 * grain
        weed = weed_p * _smoothstep(0.2, 0.6, tuft) * 0.85
        alb = alb * (1 - weed[..., None]) + self.weed_col * (0.4 + 0.8 * tuft[..., None]) * weed[..., None]
        height += 2.0 * weed * tuft
        # relief shading: light from the vehicle (top of the image, roughly) + crevice darkening
        hs = cv2.GaussianBlur(height.astype(F32), (0, 0), 1.0)
        gx = cv2.Sobel(hs, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(hs, cv2.CV_32F, 0, 1, ksize=3)
        shade = np.clip(1.0 - 0.09 * (gx * 0.5 + gy) - 0.015 * np.abs(gx), 0.4, 1.6)
        alb = alb * shade[..., None] * (1.0 + 0.45 * grain[..., None])
        return np.clip(alb, 0, 1).astype(F32)

    def tile_maps(self, tx: int, ty: int) -> tuple[np.ndarray, np.ndarray]:
        """Albedo uint8 (T,T,3) and object ids float32 (T,T) of one tile (LRU cached)."""
        key = (tx, ty)
        got = self._tiles.get(key)
        if got is not None:
            self._tiles.move_to_end(key)
            return got
        T = self.tile
        alb = self._seabed(tx, ty)
        ids = np.zeros((T, T), F32)
        feats = [f for dx in (-1, 0, 1) for dy in (-1, 0, 1) for f in self.features(tx + dx, ty + dy)]
        feats.sort(key=lambda f: (f.z, f.key))
        x0, y0 = tx * T, ty * T
        for f in feats:
            sp = self.sprite(f)
            h, w = sp.alpha.shape
            ax0, ay0 = max(sp.x0, x0), max(sp.y0, y0)
            ax1, ay1 = min(sp.x0 + w, x0 + T), min(sp.y0 + h, y0 + T)
            if ax0 >= ax1 or ay0 >= ay1:
                continue
            # contact shadow (ambient occlusion) around the animal, then the animal itself
            pad = 9
            bx0, by0 = max(ax0 - pad, x0), max(ay0 - pad, y0)
            bx1, by1 = min(ax1 + pad, x0 + T), min(ay1 + pad, y0 + T)
            big = np.zeros((by1 - by0, bx1 - bx0), F32)
            sx0, sy0 = max(sp.x0, bx0), max(sp.y0, by0)
            sx1, sy1 = min(sp.x0 + w, bx1), min(sp.y0 + h, by1)
            big[sy0 - by0 : sy1 - by0, sx0 - bx0 : sx1 - bx0] = sp.alpha[sy0 - sp.y0 : sy1 - sp.y0,
                                                                            sx0 - sp.x0 : sx1 - sp.x0]
            ao = cv2.GaussianBlur(big, (0, 0), 3.0)
            alb[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] *= (1 - 0.6 * np.minimum(ao * 1.3, 1.0))[..., None]
            sa = sp.alpha[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0, None]
            sc = sp.albedo[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0]
            region = alb[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
            region[:] = region * (1 - sa) + sc * sa
            m = sp.mask[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0]
            ids[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0][m] = self.uid_of[f.key]
        out = (np.clip(alb * 255.0 + 0.5, 0, 255).astype(np.uint8), ids)
        self._tiles[key] = out
        if len(self._tiles) > 96:
            self._tiles.popitem(last=False)
        return out

    def canvas(self, tx0: int, ty0: int, tx1: int, ty1: int) -> tuple[np.ndarray, np.ndarray]:
        """Albedo and id maps of tiles [tx0, tx1] x [ty0, ty1] stitched together."""
        T = self.tile
        nx, ny = tx1 - tx0 + 1, ty1 - ty0 + 1
        alb = np.empty((ny * T, nx * T, 3), np.uint8)
        ids = np.empty((ny * T, nx * T), F32)
        for j in range(ny):
            for i in range(nx):
                a, d = self.tile_maps(tx0 + i, ty0 + j)
                alb[j * T : (j + 1) * T, i * T : (i + 1) * T] = a
                ids[j * T : (j + 1) * T, i * T : (i + 1) * T] = d
        return alb, ids


# ---------------------------------------------------------------------------------------------------------
# camera path


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


def camera_path(cfg: SynthConfig, preset: WaterPreset) -> list[CameraPose]:
    """Forward travel with slow altitude and heading changes, small pitch/roll wobble."""
    rng = np.random.default_rng([cfg.seed, 3])
    n = cfg.frames
    t = np.arange(n) / cfg.fps
    speed = rng.uniform(0.18, 0.32) * (1 + 0.25 * _smooth_random(rng, t, (8, 30)))
    heading = rng.uniform(0, 2 * np.pi) + np.deg2rad(rng.uniform(15, 35)) * _smooth_random(rng, t, (20, 60))
    lo, hi = preset.altitude
    alt = (lo + hi) / 2 + (hi - lo) / 2 * np.clip(1.3 * _smooth_random(rng, t, (10, 40)), -1, 1)
    tilt0 = np.deg2rad(rng.uniform(12, 28))
    tilt = tilt0 + np.deg2rad(2.5) * _smooth_random(rng, t, (2, 6))
    roll = np.deg2rad(2.0) * _smooth_random(rng, t, (2, 7))
    sway = 0.05 * _smooth_random(rng, t, (3, 9))
    dt = 1.0 / cfg.fps
    x = np.cumsum(speed * np.cos(heading) * dt) - np.sin(heading) * sway
    y = np.cumsum(speed * np.sin(heading) * dt) + np.cos(heading) * sway
    return [CameraPose(float(x[i]), float(y[i]), float(alt[i]), float(heading[i]), float(tilt[i]),
                       float(roll[i])) for i in range(n)]


def _rotation(p: CameraPose) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------------------
# frames


@dataclass
class SynthFrame:
    """One rendered frame and its exact ground truth.

    image: (H, W, 3) uint8 BGR.
    ids: (H, W) int32 object-id mask: 0 = seabed, else the object's track id (same as ``track_ids``).
    boxes: (K, 4) float32 xyxy pixels, tight box of the object's pixels (pixel i spans [i, i+1)).
    labels: (K,) int64 0-based class; track_ids: (K,) int64 >= 1; visibility: (K,) float32 in [0, 1];
    stamp: seconds since the start of the dive (fps-spaced plus small jitter).
    """

    index: int
    image: np.ndarray
    uid: np.ndarray = field(repr=False)  # renderer-internal object numbers
    lut: np.ndarray = field(repr=False)  # internal number -> track id (only ever grows)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), F32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    visibility: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    stamp: float = 0.0

    @property
    def ids(self) -> np.ndarray:
        """(H, W) int32 object-id mask (0 = seabed, else the track id); computed on demand."""
        return self.lut[self.uid]


class DiveRenderer:
    """Renders the frames of one dive in order (state: tiles, snow, exposure, identity numbering)."""

    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        self.p = PRESETS[cfg.preset]
        W, H = cfg.width, cfg.height
        self.f = 0.85 * W
        self.K = np.array([[self.f, 0, W / 2], [0, self.f, H / 2], [0, 0, 1]])
        h_nom = sum(self.p.altitude) / 2 / math.cos(math.radians(20))
        self.px_per_m = self.f / h_nom
        self.world = SeabedWorld(cfg.seed, self.px_per_m, self.p, cfg.density)
        self.path = camera_path(cfg, self.p)
        rng = np.random.default_rng([cfg.seed, 5])
        self.rng = rng
        jitter = np.random.default_rng([cfg.seed, 6]).normal(0, 0.002, cfg.frames)  # own stream: prefix-stable
        self.stamps = np.arange(cfg.frames) / cfg.fps + np.clip(jitter, -0.004, 0.004)
        self.stamps[0] = 0.0
        self.stamps = np.maximum.accumulate(self.stamps)
        # noise bank: random crops of two pre-drawn fields (cheap, deterministic)
        self.noise = rng.standard_normal(H * W * 3 + 3 * 4096, dtype=F32)
        # low-resolution pixel grid for the smooth water fields
        self.step = 8
        gu, gv = np.meshgrid(np.linspace(0, W - 1, W // self.step + 1), np.linspace(0, H - 1, H // self.step + 1))
        self.rays = np.linalg.inv(self.K) @ np.stack([gu.ravel(), gv.ravel(), np.ones(gu.size)])
        self.grid_shape = gu.shape
        cu, cv = np.meshgrid(np.arange(W // 4) * 4 + 1.5, np.arange(H // 4) * 4 + 1.5)
        self.caus_pts = np.stack([cu.ravel(), cv.ravel(), np.ones(cu.size)])
        self.caus_shape = cu.shape
        # marine snow: particles in camera coordinates (metres)
        ns = int(self.p.snow * (W * H) / (640 * 480) ** 1.0)
        self.snow = self._spawn(ns, fresh=True)
        self.gain = 1.0
        self.gain_event = 1.0
        self.wb = np.ones(3)
        self.snow_colour = (np.array(self.p.backscatter, F32) * 0.4 + 0.6).astype(F32)
        self.prev_H: np.ndarray | None = None
        self.track_of_uid: dict[int, int] = {}
        self.lut = np.zeros(1024, np.int32)
        self._canvas_key: tuple[int, int, int, int] | None = None
        self._canvas: tuple[np.ndarray, np.ndarray] | None = None

    # -- geometry ------------------------------------------------------------------------------------
    def homography(self, i: int) -> np.ndarray:
        """World pixel -> image pixel homography of frame i."""
        p = self.path[i]
        R = _rotation(p)
        C = np.array([p.x, p.y, p.altitude])
        H = self.K @ np.column_stack([R[:, 0], R[:, 1], -R @ C])
        return H @ np.diag([1 / self.px_per_m, 1 / self.px_per_m, 1.0])

    def _spawn(self, n: int, fresh: bool) -> np.ndarray:
        """(n, 4) particles x, y, z (camera frame, m) and size factor."""
        W, H = self.cfg.width, self.cfg.height
        z = self.rng.uniform(0.15, 1.6, n)
        x = (self.rng.uniform(0, W, n) - W / 2) / self.f * z
        y = (self.rng.uniform(0, H, n) - H / 2) / self.f * z
        return np.stack([x, y, z, self.rng.uniform(0.5, 1.5, n)], 1)

    def _fields(self, R: np.ndarray, alt: float, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Multiplicative (direct light) and additive (backscatter) fields at full resolution, with the
        camera's per-channel gains folded in at low resolution (saves full-resolution passes)."""
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
        amb_col = np.exp(-np.array(p.kd)[:, None] * (p.depth_m + 0.0))
        lamp = p.lights * beam * cos_inc / np.maximum(rng_m, 0.3) ** 2 * 2.2
        direct = (lamp[None] * att + p.ambient * amb_col) * att
        bsc = np.array(p.backscatter)[:, None] * (1 - att) * p.haze_gain
        bsc = bsc * (p.ambient * amb_col.mean() * 1.5 + p.lights * (0.1 + 0.3 * beam[None]) * 0.25)
        gh, gw = self.grid_shape
        size = (self.cfg.width, self.cfg.height)
        direct = direct * gains[:, None]
        bsc = bsc * gains[:, None]
        mul = cv2.resize(direct.T.reshape(gh, gw, 3).astype(F32), size, interpolation=cv2.INTER_LINEAR)
        add = cv2.resize(bsc.T.reshape(gh, gw, 3).astype(F32), size, interpolation=cv2.INTER_LINEAR)
        return mul, add

    def _caustics(self, i: int, Hinv: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Caustic network on the seabed (world-locked, drifting), at quarter resolution, BGR."""
        w = Hinv @ self.caus_pts
        x = ((w[0] / w[2]) / self.px_per_m * 11.0).astype(F32)
        y = ((w[1] / w[2]) / self.px_per_m * 11.0).astype(F32)
        t = F32(i / self.cfg.fps * 1.6)
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
        return cv2.resize(c3, (self.cfg.width, self.cfg.height), interpolation=cv2.INTER_LINEAR)

    def _snow_layer(self, R: np.ndarray, motion_m: np.ndarray) -> np.ndarray:
        """Marine snow lit by the lights: near particles big and soft, far ones small points."""
        W, H = self.cfg.width, self.cfg.height
        sn = self.snow
        # the water moves relative to the camera: opposite to the vehicle's motion + slow drift/sinking
        sn[:, :3] -= (R @ motion_m)[None, :]
        sn[:, 0] += self.rng.normal(0, 0.002, len(sn))
        sn[:, 1] += self.rng.normal(0.0015, 0.002, len(sn))
        z = np.maximum(sn[:, 2], 1e-3)
        u = self.f * sn[:, 0] / z + W / 2
        v = self.f * sn[:, 1] / z + H / 2
        out = (sn[:, 2] < 0.1) | (sn[:, 2] > 1.7) | (u < -20) | (u > W + 20) | (v < -20) | (v > H + 20)
        if out.any():
            sn[out] = self._spawn(int(out.sum()), fresh=False)
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

    def _ground_truth(self, uid: np.ndarray, Hw: np.ndarray) -> tuple[list, list, list, list]:
        """Boxes, labels, track ids and visibility of every object with at least one visible pixel."""
        W = self.cfg.width
        flat = np.flatnonzero(uid)
        if flat.size == 0:
            return [], [], [], []
        vals = uid.ravel()[flat]
        present, inv, counts = np.unique(vals, return_inverse=True, return_counts=True)
        n = len(present)
        ys, xs = np.divmod(flat, W)
        occx = np.bincount(inv * W + xs, minlength=n * W).reshape(n, W) > 0
        occy = np.bincount(inv * self.cfg.height + ys, minlength=n * self.cfg.height).reshape(n, -1) > 0
        x0 = occx.argmax(1)
        x1 = W - occx[:, ::-1].argmax(1)
        y0 = occy.argmax(1)
        y1 = occy.shape[1] - occy[:, ::-1].argmax(1)
        boxes, labels, tids, vis = [], [], [], []
        for k, u_ in enumerate(present.tolist()):
            f = self.world.features_by_uid[u_]
            assert f is not None
            tid = self.track_of_uid.get(u_)
            if tid is None:
                tid = len(self.track_of_uid) + 1
                self.track_of_uid[u_] = tid
                if u_ >= self.lut.size:
                    self.lut = np.concatenate([self.lut, np.zeros(u_ + 1024 - self.lut.size, np.int32)])
                self.lut[u_] = tid
            # full area in the image: seabed area x local area scale of the homography at the object
            cxw, cyw = self.world.centre_by_uid[u_]
            full = self.world.area_by_uid[u_] * _area_scale(Hw, cxw, cyw)
            boxes.append((x0[k], y0[k], x1[k], y1[k]))
            labels.append(f.label)
            tids.append(tid)
            vis.append(min(1.0, counts[k] / max(full, 1e-6)))
        return boxes, labels, tids, vis

    # -- main ------------------------------------------------------------------------------------------
    def render(self, i: int) -> SynthFrame:
        """Render frame i (frames must be rendered in order for snow/exposure continuity)."""
        cfg, p = self.cfg, self.p
        W, H = cfg.width, cfg.height
        pose = self.path[i]
        R = _rotation(pose)
        Hw = self.homography(i)
        Hinv = np.linalg.inv(Hw)
        # tiles under the footprint
        corners = Hinv @ np.array([[0, W, W, 0], [0, 0, H, H], [1, 1, 1, 1]], float)
        cx, cy = corners[0] / corners[2], corners[1] / corners[2]
        T = self.world.tile
        key = (int(math.floor((cx.min() - 2) / T)), int(math.floor((cy.min() - 2) / T)),
               int(math.floor((cx.max() + 2) / T)), int(math.floor((cy.max() + 2) / T)))
        if key != self._canvas_key:
            self._canvas = self.world.canvas(*key)
            self._canvas_key = key
        alb_c, ids_c = self._canvas  # type: ignore[misc]
        Hc = Hw @ np.array([[1, 0, key[0] * T], [0, 1, key[1] * T], [0, 0, 1]], float)
        alb = cv2.warpPerspective(alb_c, Hc, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        idw = cv2.warpPerspective(ids_c, Hc, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=0)
        uid = idw.astype(np.int32)
        boxes, labels, tids, vis = self._ground_truth(uid, Hw)

        # camera gains of this frame: white balance x auto exposure (with occasional jumps) x flicker
        if self.rng.random() < p.exposure_events / 100.0:
            self.gain_event = float(self.rng.choice([0.6, 0.75, 1.35, 1.6]))
        self.gain_event = 1.0 + (self.gain_event - 1.0) * 0.9
        g = self.gain * self.gain_event * (1 + self.rng.normal(0, 0.01))
        gains = (self.wb * g).astype(F32)
        # motion blur along the image motion of the centre (or a little defocus), on the 8-bit albedo:
        # the light fields are smooth, so blurring before lighting is the same and much cheaper
        blur_len, ang = 0.0, 0.0
        if self.prev_H is not None:
            wc = Hinv @ np.array([W / 2, H / 2, 1.0])
            prev = self.prev_H @ wc
            dx, dy = prev[0] / prev[2] - W / 2, prev[1] / prev[2] - H / 2
            blur_len, ang = math.hypot(dx, dy) * 0.35, math.atan2(dy, dx)
        self.prev_H = Hw
        if blur_len >= 1.5:
            k = max(3, int(min(blur_len, 15)) | 1)
            ker = np.zeros((k, k), F32)
            c0, h0 = (k - 1) / 2, blur_len / 2
            cv2.line(ker, (int((c0 - math.cos(ang) * h0) * 16), int((c0 - math.sin(ang) * h0) * 16)),
                     (int((c0 + math.cos(ang) * h0) * 16), int((c0 + math.sin(ang) * h0) * 16)), 1.0, 1,
                     cv2.LINE_AA, 4)
            ker = cv2.GaussianBlur(ker, (0, 0), 0.6)
            if ker.sum() > 0:
                alb = cv2.filter2D(alb, -1, ker / ker.sum())
        else:
            alb = cv2.GaussianBlur(alb, (0, 0), 0.7)
        # water and light: signal = albedo x (lights + ambient [+ caustics]) x attenuation + backscatter
        mul, add = self._fields(R, pose.altitude, gains)
        if p.caustics > 0:
            amb = np.exp(-np.array(p.kd, F32) * p.depth_m) * p.ambient
            att = np.exp(-np.array(p.beta, F32) * 2 * pose.altitude / math.cos(pose.tilt))
            k = p.caustics * float(np.exp(-0.15 * max(pose.altitude - 1.0, 0)))
            mul += self._caustics(i, Hinv, (amb * att * k * gains).astype(F32))
        lin = cv2.multiply(alb, mul, scale=1.0 / 255.0, dtype=cv2.CV_32F)
        if p.snow:
            motion = np.zeros(3)
            if i > 0:
                q = self.path[i - 1]
                motion = np.array([pose.x - q.x, pose.y - q.y, pose.altitude - q.altitude])
            snow = self._snow_layer(R, motion)
            snow *= F32(g)
            add += snow[..., None]  # lit particles: near white
        cv2.add(lin, add, dst=lin)
        # partial auto white balance from this frame's colour before the gains (applied from the next frame;
        # the first frame starts converged: white balance and exposure set from itself)
        sub = lin[::8, ::8].reshape(-1, 3).mean(0) / gains + 1e-4
        wb_target = (sub.mean() / sub) ** p.awb
        if i == 0:
            m = float(np.sqrt(lin[::8, ::8] * wb_target.astype(F32)).mean())
            f = float(np.clip((p.target / max(m, 1e-3)) ** 2, 0.2 / self.gain, 60.0 / self.gain))
            lin *= (wb_target * f).astype(F32)
            self.gain *= f
            self.wb = wb_target
        else:
            self.wb = self.wb * 0.9 + wb_target * 0.1
        out = cv2.sqrt(lin)  # display gamma (about sRGB); lin >= 0
        mean = float(out[::4, ::4].mean()) / (self.gain_event + 1e-6) ** 0.5
        self.gain = float(np.clip(self.gain * (p.target / max(mean, 1e-3)) ** 0.3, 0.2, 60.0))
        off = 3 * int(self.rng.integers(0, 4096))  # contiguous window: no copy
        nz = self.noise[off : off + H * W * 3].reshape(H, W, 3)
        # read + shot noise, the shot part approximated at the frame's mean level (one pass)
        out = cv2.scaleAdd(nz, float(p.noise * (0.5 + 0.8 * mean)), out)
        image = cv2.convertScaleAbs(out, alpha=255.0)

        nb = len(boxes)
        order = np.argsort(np.asarray(tids, np.int64), kind="stable")
        return SynthFrame(
            index=i,
            image=image,
            uid=uid,
            lut=self.lut,
            boxes=np.asarray(boxes, F32).reshape(nb, 4)[order],
            labels=np.asarray(labels, np.int64).reshape(nb)[order],
            track_ids=np.asarray(tids, np.int64).reshape(nb)[order],
            visibility=np.asarray(vis, F32).reshape(nb)[order],
            stamp=float(self.stamps[i]),
        )

    def __iter__(self) -> Iterator[SynthFrame]:
        for i in range(self.cfg.frames):
            yield self.render(i)


def _area_scale(H: np.ndarray, x: float, y: float) -> float:
    """|det J| of the homography at world pixel (x, y): image pixels per world pixel."""
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w
    v = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w
    j = np.array([[H[0, 0] - u * H[2, 0], H[0, 1] - u * H[2, 1]],
                  [H[1, 0] - v * H[2, 0], H[1, 1] - v * H[2, 1]]]) / w
    return abs(float(np.linalg.det(j)))


CLASS_NAMES = UNDERWATER_CLASSES
