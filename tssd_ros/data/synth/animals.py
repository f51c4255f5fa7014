"""Animal sprites: sea urchins, scallops, sea cucumbers and starfish as they look from an ROV.

Why sprites: each animal is drawn once, supersampled, into a small reflectance + coverage patch from its
own random stream, so it looks the same in every tile and frame that shows it and its coverage mask is
the ground truth of its pixels. Sizes are in metres times ``s`` (world pixels per metre).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

F32 = np.float32


@dataclass
class Feature:
    """One animal on the seabed: label (index into ``UNDERWATER_CLASSES``), world pixel position, paint
    order z and the seed of its own random stream (so its sprite never depends on render order)."""

    key: tuple[int, int, int]
    label: int
    x: float
    y: float
    z: float
    seed: int


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
    """Sea urchin: dark mottled test (2-4 cm radius) under a halo of lighter spines, some debris on top."""
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
    """Scallop: ribbed fan shell with hinge ears, growth rings, silt; sometimes gaping or half buried."""
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
    """Sea cucumber (12-28 cm): bent, tapered cylinder covered in lighter-tipped papillae."""
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




_STARFISH_COLOURS = np.array(  # BGR reflectance: orange, yellow-brown, yellow-orange, tan, purple, red-violet
    [[0.10, 0.30, 0.70], [0.13, 0.34, 0.52], [0.12, 0.45, 0.74], [0.20, 0.34, 0.55], [0.36, 0.16, 0.30],
     [0.26, 0.12, 0.38]], F32
)
_STARFISH_P = np.array([0.3, 0.2, 0.15, 0.1, 0.15, 0.1])  # orange and yellow-brown morphs are the commonest
_STARFISH_BLOTCH = np.array([0.30, 0.12, 0.30], F32)  # purple-violet patches along the arms' backs
_STARFISH_UNDER = np.array([0.30, 0.62, 0.80], F32)  # pale yellow underside, seen at upturned tips


def _star_body(rng: np.random.Generator, R: float, narm: int, theta0: float, disc_r: float, base_w: float,
               half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star-shaped body on a (2 half + 1)^2 grid: inside mask, position across the arm (0 on its axis, 1 at
    its edge) and along it (0 at the disc, 1 at the tip).

    Each arm is a centre line in polar form (slight sideways bend, tip foreshortened when curled up) with a
    tapering half-width; a pixel belongs to the arm (or the disc) it lies deepest inside.
    """
    n = 2 * half + 1
    yy, xx = np.mgrid[0:n, 0:n].astype(F32) - half
    rho, phi = np.hypot(xx, yy).ravel(), np.arctan2(yy, xx).ravel()
    t = np.linspace(0.0, 1.0, 40, dtype=F32)
    depth = rho / disc_r
    cross, along, depth = depth.copy(), np.zeros(n * n, F32), 1 - depth
    for k in range(narm):
        ang = theta0 + 2 * np.pi * k / narm + rng.normal(0, 0.07)
        length = R * rng.uniform(0.85, 1.05)
        if rng.random() < 0.1:  # regrowing arm
            length *= rng.uniform(0.45, 0.75)
        bend = rng.normal(0, 0.12)
        curl = rng.uniform(0.0, 0.5)
        r_t = length * (t - curl * np.clip(t - 0.75, 0, None) ** 2 * 2.0)  # increasing in t
        w_t = base_w * (1 - 0.92 * t) ** 0.85 * (1 + 0.05 * np.sin(t * rng.uniform(10, 16)))
        ta = np.interp(rho, r_t, t)  # the arm point at the pixel's radius
        dphi = (phi - (ang + bend * ta * ta) + np.pi) % (2 * np.pi) - np.pi
        past_tip = np.maximum(rho * np.cos(dphi) - r_t[-1], 0)
        c = np.hypot(rho * np.sin(dphi), past_tip) / np.interp(ta, t, w_t)
        c[np.cos(dphi) <= 0] = np.inf
        better = 1 - c > depth
        depth[better], cross[better], along[better] = 1 - c[better], c[better], ta[better]
    return (depth >= 0).reshape(n, n), np.clip(cross, 0, 1).reshape(n, n), along.reshape(n, n)


def _starfish(rng: np.random.Generator, s: float, fx: float, fy: float) -> Sprite:
    """Starfish (Asterias amurensis): small disc, five (rarely 4 or 6) broad-based arms tapering to
    pointed, slightly upturned tips, 3-10 cm arm radius; orange, yellow-brown or purple, often with purple
    patches, covered in small spines (a bumpy surface)."""
    ss = 2
    R = rng.uniform(0.03, 0.10) * s * ss
    narm = int(rng.choice([4, 5, 6], p=[0.05, 0.9, 0.05]))
    half = int(math.ceil(R * 1.05)) + 4
    n = 2 * half + 1
    disc_r = R * rng.uniform(0.20, 0.27)
    base_w = R * rng.uniform(0.16, 0.22)  # arm half-width where it leaves the disc
    theta0 = rng.uniform(0, 2 * np.pi)
    body, cross, along = _star_body(rng, R, narm, theta0, disc_r, base_w, half)
    # colour: base, purple patches on the backs of the arms and the disc, pale underside at curled tips
    col = _STARFISH_COLOURS[rng.choice(len(_STARFISH_COLOURS), p=_STARFISH_P)] * rng.uniform(0.8, 1.2)
    blotch = cv2.GaussianBlur(rng.random((n, n), dtype=F32), (0, 0), R * 0.06 + 1)
    blotch = (blotch - blotch.mean()) / (blotch.std() + 1e-6)
    patch = rng.uniform(0.0, 0.9) * np.clip(blotch * 0.5 + 0.4, 0, 1) * (1 - cross) ** 0.5
    alb = col * (1 - patch[..., None]) + _STARFISH_BLOTCH * rng.uniform(0.8, 1.2) * patch[..., None]
    tip = np.clip((along - 0.8) / 0.2, 0, 1)[..., None] * rng.uniform(0.2, 0.6)
    alb = alb * (1 - tip) + _STARFISH_UNDER * tip
    # bumpy surface: spines in a rough net on the back, a fringe of marginal spines along the edges
    nsp = int(body.sum() / (R * 0.045 + 1.5) ** 2)
    spines = np.zeros((n, n), F32)
    ys, xs = np.nonzero(body)
    pick = rng.integers(0, len(xs), nsp)
    for x, y in zip(xs[pick], ys[pick], strict=True):
        cv2.circle(spines, (int(x * 4 + rng.integers(4)), int(y * 4 + rng.integers(4))),
                   int(4 * rng.uniform(0.6, 0.04 * R + 1.0)), 1.0, -1, cv2.LINE_AA, 2)
    spines = cv2.GaussianBlur(spines, (0, 0), 0.8)
    fringe = np.exp(-((cross - 0.85) / 0.08) ** 2) * (0.6 + 0.4 * np.sin(along * rng.uniform(60, 90)))
    spine_col = np.clip(col * 1.6 + 0.08, 0, 0.85)
    bumps = np.clip(spines * 0.7 + fringe * 0.35, 0, 1)
    alb = alb * (1 - 0.6 * bumps[..., None]) + spine_col * 0.6 * bumps[..., None]
    # relief: rounded arms, raised curled tips, spines; lit from above (the vehicle)
    height = np.sqrt(np.clip(1 - cross * cross, 0, 1)) * (0.35 + 0.65 * (1 - along)) + 1.5 * tip[..., 0]
    height = (height + 0.25 * spines) * body * base_w * 0.5
    hs = cv2.GaussianBlur(height, (0, 0), 1.0)
    gx = cv2.Sobel(hs, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(hs, cv2.CV_32F, 0, 1, ksize=3)
    shade = np.clip(1.0 - 0.12 * (gx * 0.4 + gy), 0.5, 1.4) * (0.6 + 0.4 * np.sqrt(np.clip(1 - cross, 0, 1)))
    skin = 0.85 + 0.3 * cv2.GaussianBlur(rng.random((n, n), dtype=F32), (0, 0), 1.2)
    alb = alb * (shade * skin)[..., None]
    # madreporite: a small pale plate off the disc's centre
    mang, mr = theta0 + np.pi / narm, disc_r * 0.5
    cv2.circle(alb, (int((half + mr * math.cos(mang)) * 4), int((half + mr * math.sin(mang)) * 4)),
               int(4 * max(disc_r * 0.12, 0.7)), tuple(float(v) for v in (col + _STARFISH_UNDER) * 0.6), -1,
               cv2.LINE_AA, 2)
    silt = rng.uniform(0.0, 0.3) ** 1.5
    alb = alb * (1 - silt) + _SILT * silt
    a = cv2.GaussianBlur(body.astype(F32), (3, 3), 0.6)
    return _finish(alb.astype(F32), a, ss, half, half, fx, fy)


SpriteMaker = Callable[[np.random.Generator, float, float, float], Sprite]

#: class name (as in ``tssd_ros.classes.UNDERWATER_CLASSES``) -> sprite maker(rng, px_per_m, world x, world y)
SPRITE_MAKERS: dict[str, SpriteMaker] = {
    "seaurchin": _urchin,
    "scallop": _scallop,
    "seacucumber": _cucumber,
    "starfish": _starfish,
}
