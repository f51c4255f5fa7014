"""Hash-lattice value noise: the seabed's texture source.

Why hashed lattices: a lattice value depends only on its world index and a key, so the noise is seamless
across independently generated tiles and identical whatever order the tiles are rendered in.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


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

    Separable smoothstep interpolation done with gathers rather than matrix products (small BLAS calls
    are slow and thread-hungry on a busy machine).
    """
    cx, cy = (cell, cell) if isinstance(cell, (int, float)) else cell
    ix, sx, lx, nx = _interp_weights(np.arange(x0, x0 + w, dtype=np.float64), max(cx, 1.0))
    iy, sy, ly, ny = _interp_weights(np.arange(y0, y0 + h, dtype=np.float64), max(cy, 1.0))
    gy, gx = np.mgrid[ly : ly + ny, lx : lx + nx]
    g = _hash(gx, gy, key)
    rows = g[iy] * (1 - sy)[:, None] + g[iy + 1] * sy[:, None]  # (h, nx)
    return rows[:, ix] * (1 - sx) + rows[:, ix + 1] * sx


def fbm(x0: int, y0: int, w: int, h: int, cells: list[float], key: int, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value-noise octaves, normalised to about [0,1]."""
    out = np.zeros((h, w), F32)
    amp, tot = 1.0, 0.0
    for k, c in enumerate(cells):
        out += amp * value_noise(x0, y0, w, h, c, key * 131 + k)
        tot += amp
        amp *= gain
    return out / tot


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """0 below ``e0``, 1 above ``e1``, smooth in between: soft thresholds for blending seabed types."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
