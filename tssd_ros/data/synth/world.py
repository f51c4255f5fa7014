"""The seabed: an infinite plane of square tiles (albedo + object-id map), each generated on demand.

Why tiles: a dive covers an unbounded area, but only the few tiles under the camera are needed at once;
each tile depends only on (seed, tile index), so any frame renders the same whatever came before.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import cv2
import numpy as np

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.data.synth.animals import SPRITE_MAKERS, Feature, Sprite
from tssd_ros.data.synth.noise import fbm, smoothstep, value_noise

F32 = np.float32

#: relative abundance of the animals (Dirichlet concentration of a dive's class mix); the drawing order is
#: this dict's, not the class list's, so reordering ``UNDERWATER_CLASSES`` changes labels, never scenes
ABUNDANCE: dict[str, float] = {"seaurchin": 9.0, "scallop": 18.0, "seacucumber": 6.0, "starfish": 8.0}
_LABELS = np.array([UNDERWATER_CLASSES.index(name) for name in ABUNDANCE])


class SeabedWorld:
    """Infinite tiled seabed: albedo (uint8 BGR) and object-id (float32, 0 = none) per world pixel."""

    def __init__(self, seed: int, px_per_m: float, density: float = 1.0) -> None:
        self.seed = int(seed)
        self.s = float(px_per_m)
        self.tile = max(32, int(round(0.67 * self.s)))
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
        self.class_weights = rng.dirichlet(list(ABUNDANCE.values()))
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
            label = int(_LABELS[rng.choice(len(_LABELS), p=self.class_weights)])
            cx, cy = tx * T + rng.uniform(0, T), ty * T + rng.uniform(0, T)
            members = 1 + rng.poisson(2.2)
            spread = 0.07 * s
            for _m in range(members):
                dx, dy = np.clip(rng.normal(0, spread, 2), -0.17 * s, 0.17 * s)
                out.append(Feature((tx, ty, k), label, cx + dx, cy + dy, rng.random(), int(rng.integers(2**31))))
                k += 1
        for _ in range(rng.poisson(lam_s)):
            label = int(_LABELS[rng.choice(len(_LABELS), p=self.class_weights)])
            out.append(Feature((tx, ty, k), label, tx * T + rng.uniform(0, T), ty * T + rng.uniform(0, T),
                               rng.random(), int(rng.integers(2**31))))
            k += 1
        self._features[key] = out
        return out

    def sprite(self, f: Feature) -> Sprite:
        """The animal's sprite (LRU cached); the first call also gives it its renderer-internal number."""
        sp = self._sprites.get(f.key)
        if sp is None:
            rng = np.random.default_rng([self.seed, 31, f.seed])
            sp = SPRITE_MAKERS[UNDERWATER_CLASSES[f.label]](rng, self.s, f.x, f.y)
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
        """Reflectance (T, T, 3) of one tile: sand ripples, gravel and shell hash, rock, weed, relief shading."""
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
        alb = self.sand_b + (self.sand_a - self.sand_b) * smoothstep(0.25, 0.75, tone)[..., None]
        detritus = smoothstep(0.55, 0.8, fbm(x0, y0, T, T, [0.25 * s, 0.06 * s, 0.02 * s], key + 17))
        alb = alb * (1 - 0.35 * detritus[..., None])
        cd, sd = math.cos(self.ripple_dir), math.sin(self.ripple_dir)
        warp = fbm(x0, y0, T, T, [0.5 * s, 0.2 * s], key + 4)
        lam = 0.09 * s
        rip = np.sin((xx * cd + yy * sd) / lam * 2 * np.pi + 7.0 * warp)
        rip_amp = smoothstep(0.35, 0.7, N(1.5, 5)) * self.ripples
        height = 1.6 * rip * rip_amp + 1.5 * grain + 1.5 * grain2
        # gravel / shell-hash fields: pebbles from thresholded small-cell noise
        gravel_w = smoothstep(0.5, 0.7, fbm(x0, y0, T, T, [1.8 * s, 0.6 * s], key + 6)) * self.gravel
        # two incommensurate lattices: no grid look
        peb = (0.6 * value_noise(x0, y0, T, T, 0.024 * s, key + 7)
               + 0.4 * value_noise(x0, y0, T, T, 0.0155 * s, key + 18) + 0.35 * grain2)
        pebm = smoothstep(0.55, 0.64, peb) * gravel_w
        pc = value_noise(x0, y0, T, T, 0.022 * s, key + 8)
        peb_col = np.stack([0.20 + 0.35 * pc, 0.23 + 0.32 * pc, 0.27 + 0.30 * pc], -1).astype(F32)
        alb = alb * (1 - pebm[..., None]) + peb_col * pebm[..., None]
        height += 5.0 * pebm
        shell = smoothstep(0.80, 0.86, value_noise(x0, y0, T, T, 0.011 * s, key + 9)) * (0.35 + gravel_w)
        alb = alb + (np.array([0.78, 0.82, 0.86], F32) - alb) * np.clip(shell, 0, 1)[..., None] * 0.85
        # rock outcrops
        rock_n = fbm(x0, y0, T, T, [1.2 * s, 0.5 * s, 0.2 * s, 0.08 * s, 0.03 * s], key + 10)
        rock_p = value_noise(x0, y0, T, T, 4.0 * s, key + 11)
        rock = smoothstep(0.62, 0.66, rock_n * (0.5 + 0.6 * rock_p) * self.rocks)
        rock_tex = fbm(x0, y0, T, T, [0.1 * s, 0.03 * s], key + 12) + 0.3 * grain2
        rock_col = np.array([0.20, 0.22, 0.25], F32)[None, None] * (0.6 + 0.8 * rock_tex[..., None])
        enc = smoothstep(0.6, 0.7, value_noise(x0, y0, T, T, 0.05 * s, key + 13))[..., None]
        rock_col = rock_col * (1 - enc * 0.7) + np.array([0.35, 0.30, 0.55], F32) * enc * 0.7
        alb = alb * (1 - rock[..., None]) + rock_col * rock[..., None]
        height += 8.0 * rock * (rock_n - 0.5) + rock * 3 * rock_tex
        # weed: patches of algal turf (blobby tufts) inside low-frequency patches
        weed_p = smoothstep(0.62, 0.74, fbm(x0, y0, T, T, [1.0 * s, 0.35 * s], key + 14)) * self.weed
        tuft = value_noise(x0, y0, T, T, 0.007 * s, key + 15) + 0.8 * grain
        weed = weed_p * smoothstep(0.2, 0.6, tuft) * 0.85
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
        for f in feats:
            sp = self.sprite(f)
            _paint(alb, ids, tx * T, ty * T, sp, self.uid_of[f.key])
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



def _paint(alb: np.ndarray, ids: np.ndarray, x0: int, y0: int, sp: Sprite, uid: int) -> None:
    """Composite one sprite into a tile whose top-left world pixel is (x0, y0): a contact shadow (ambient
    occlusion) around the animal, then the animal; its mask pixels take ``uid`` in the id map."""
    T = ids.shape[0]
    h, w = sp.alpha.shape
    ax0, ay0 = max(sp.x0, x0), max(sp.y0, y0)
    ax1, ay1 = min(sp.x0 + w, x0 + T), min(sp.y0 + h, y0 + T)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    pad = 9
    bx0, by0 = max(ax0 - pad, x0), max(ay0 - pad, y0)
    bx1, by1 = min(ax1 + pad, x0 + T), min(ay1 + pad, y0 + T)
    big = np.zeros((by1 - by0, bx1 - bx0), F32)
    sx0, sy0 = max(sp.x0, bx0), max(sp.y0, by0)
    sx1, sy1 = min(sp.x0 + w, bx1), min(sp.y0 + h, by1)
    big[sy0 - by0 : sy1 - by0, sx0 - bx0 : sx1 - bx0] = sp.alpha[sy0 - sp.y0 : sy1 - sp.y0, sx0 - sp.x0 : sx1 - sp.x0]
    ao = cv2.GaussianBlur(big, (0, 0), 3.0)
    alb[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] *= (1 - 0.6 * np.minimum(ao * 1.3, 1.0))[..., None]
    sa = sp.alpha[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0, None]
    sc = sp.albedo[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0]
    region = alb[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    region[:] = region * (1 - sa) + sc * sa
    m = sp.mask[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0]
    ids[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0][m] = uid
