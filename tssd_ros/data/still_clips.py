"""Sequential augmentation: short clips made from annotated stills, as seen by a moving camera.

Why: we have real annotated stills (seabed photos full of small objects) but no annotated real video, and the
temporal units of TSSD need clips. Flying a virtual camera over a still (smooth pan, zoom, small rotation,
motion blur, brightness drift) turns each still into a clip with real appearance and exact identities (every
object keeps the id of its still annotation), without labelling a single video frame. This is the
"sequential augmentation" the TSSD paper lists as future work.

How: ``camera_trajectory`` draws one still-pixel -> frame-pixel homography (affine) per frame along a smooth
random path; ``StillClip`` warps the still lazily per frame and projects the still's boxes with the same
homography; ``clips_from_stills`` wraps an image collection (any ``VideoSequence``-like object) without
loading its images up front. Coordinates follow ``FrameTargets``: pixel i spans [i, i+1).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import cv2
import numpy as np

from tssd_ros.data.sequence import FrameTargets

Seed = int | Sequence[int]


@dataclass
class CameraMotion:
    """Virtual camera of a still clip (all ranges are (low, high), drawn uniformly per clip).

    zoom: magnification of the clip's widest frame relative to the still cropped to the output aspect
    (>= 1 keeps the frame filled by the still); zoom_change: end zoom / start zoom (log-uniform).
    pan: distance the view centre travels over the clip, as a fraction of the frame (width along x, height
    along y); curve: sideways bow of the path, as a fraction of the pan distance.
    rotation_deg: the start and end roll each lie in +-rotation_deg/2, so the change is at most rotation_deg.
    keep_inside: place and shorten the pan so the (rotated) view stays inside the still where the zoom allows;
    whatever the still does not cover is padded by reflection (BORDER_REFLECT101).
    blur_prob: probability that a clip has motion blur; the blur of a frame runs along its image motion, with
    length blur_exposure (fraction of the frame interval the shutter is open) x image speed, at most
    blur_max px. brightness: the gain drifts smoothly from 1+a to 1+b, a and b in +-brightness.
    size: output (width, height), None for the still's own size.
    """

    zoom: tuple[float, float] = (1.0, 1.4)
    zoom_change: tuple[float, float] = (0.85, 1.25)
    pan: tuple[float, float] = (0.05, 0.3)
    curve: float = 0.3
    rotation_deg: float = 8.0
    keep_inside: bool = True
    blur_prob: float = 0.3
    blur_exposure: tuple[float, float] = (0.2, 0.8)
    blur_max: float = 9.0
    brightness: float = 0.1
    size: tuple[int, int] | None = None
    frame_rate: float = 10.0

    def __post_init__(self) -> None:
        for name in ("zoom", "zoom_change", "pan", "blur_exposure"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"CameraMotion.{name} must be 0 <= low <= high, got {(lo, hi)}")
        if self.zoom[0] <= 0 or self.zoom_change[0] <= 0:
            raise ValueError("CameraMotion.zoom and zoom_change must be positive")


class StillCollection(Protocol):
    """What ``clips_from_stills`` reads: annotated images (a ``VideoSequence`` whose frames are stills)."""

    name: str
    class_names: tuple[str, ...]

    def __len__(self) -> int: ...

    def image(self, index: int) -> np.ndarray: ...

    def targets(self, index: int) -> FrameTargets: ...


def smoothstep(t: np.ndarray) -> np.ndarray:
    """3t^2 - 2t^3: 0 -> 1 with zero speed at both ends (the camera starts and stops gently)."""
    return t * t * (3.0 - 2.0 * t)


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def camera_trajectory(rng: np.random.Generator, length: int, still_size: tuple[int, int],
                      motion: CameraMotion | None = None) -> np.ndarray:
    """(length, 3, 3) float64 homographies (affine) mapping still pixels to frame pixels, one per frame.

    The pose (view centre in the still, 1/zoom, roll) follows a quadratic Bezier curve from a random start
    to a random end pose, traversed with ``smoothstep``: position, speed and acceleration change gradually.
    """
    m = motion or CameraMotion()
    if length < 1:
        raise ValueError(f"a clip needs at least one frame, got length={length}")
    ws, hs = still_size
    wo, ho = m.size or still_size
    s0 = max(wo / ws, ho / hs)  # scale at which the output crop covers the still along one axis
    half = math.radians(m.rotation_deg) / 2
    th0, th2 = rng.uniform(-half, half, 2)
    z_min = rng.uniform(*m.zoom)
    ratio = math.exp(rng.uniform(math.log(m.zoom_change[0]), math.log(m.zoom_change[1])))
    z0, z2 = (z_min, z_min * ratio) if ratio >= 1 else (z_min / ratio, z_min)
    dist, phi = rng.uniform(*m.pan), rng.uniform(0, 2 * math.pi)
    u0, off = rng.uniform(0, 1, 2), rng.uniform(-1, 1)

    # half extent of the (rotated by at most `half`) view in still pixels at zoom 1, and the centre's slack
    c, s = math.cos(half), math.sin(half)
    ext = np.array([wo * c + ho * s, wo * s + ho * c]) / (2 * s0)
    centre = np.array([ws, hs]) / 2

    def slack(z: float) -> np.ndarray:
        return np.maximum(centre - ext / z, 0.0)

    h0, h2 = slack(z0), slack(z2)
    d = dist * np.array([wo * math.cos(phi), ho * math.sin(phi)]) / (s0 * math.sqrt(z0 * z2))
    if m.keep_inside:  # shorten the pan (same direction) to what the slack allows, then place it
        room = h0 + h2
        d = d * min([1.0, *(room[k] / abs(d[k]) for k in range(2) if abs(d[k]) > 1e-12)])
        lo, hi = np.maximum(-h0, -h2 - d), np.minimum(h0, h2 - d)
        c0 = centre + lo + u0 * np.maximum(hi - lo, 0.0)
    else:
        c0 = centre - h0 + u0 * 2 * h0
    c2 = c0 + d
    norm = float(np.hypot(*d))
    c1 = (c0 + c2) / 2 + (off * m.curve * np.array([-d[1], d[0]]) if norm > 0 else 0.0)
    z1 = 2 / (1 / z0 + 1 / z2)
    if m.keep_inside:
        h1 = slack(z1)
        c1 = np.clip(c1, centre - h1, centre + h1)

    # Bezier in (centre, 1/zoom, roll); the middle control point of 1/zoom and roll is the midpoint: linear
    p0 = np.array([*c0, 1 / z0, th0])
    p1 = np.array([*c1, 1 / z1, (th0 + th2) / 2])
    p2 = np.array([*c2, 1 / z2, th2])
    w = smoothstep(np.linspace(0.0, 1.0, length) if length > 1 else np.zeros(1))[:, None]
    poses = (1 - w) ** 2 * p0 + 2 * w * (1 - w) * p1 + w**2 * p2
    out = np.empty((length, 3, 3))
    for i, (cx, cy, v, th) in enumerate(poses):
        sc = s0 / v
        rot = np.array([[math.cos(th) * sc, -math.sin(th) * sc, 0.0], [math.sin(th) * sc, math.cos(th) * sc, 0.0],
                        [0.0, 0.0, 1.0]])
        out[i] = _translate(wo / 2, ho / 2) @ rot @ _translate(-cx, -cy)
    return out


def project_targets(t: FrameTargets, h: np.ndarray, width: int, height: int) -> FrameTargets:
    """Targets of a warped frame: each box's corners through ``h``, the quadrilateral clipped to the frame,
    and the axis-aligned box of what remains (for a box crossing the frame edge this is tighter than
    clipping the box of the whole quadrilateral when the frame is rotated).

    visibility = clipped area / unclipped area (of the quadrilateral) x the still's visibility; boxes wholly
    outside the frame are dropped.
    """
    if not len(t):
        return FrameTargets.empty()
    b = t.boxes.astype(np.float64)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)  # (K, 4, 2)
    pts = np.concatenate([corners, np.ones((*corners.shape[:2], 1))], 2) @ h.T
    quads = pts[..., :2] / pts[..., 2:]
    limit = np.array([width, height, width, height], np.float64)
    full = np.concatenate([quads.min(1), quads.max(1)], 1)
    boxes = np.clip(full, 0, limit)
    frac = np.ones(len(b))
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    for k in np.nonzero((boxes != full).any(1) & (boxes[:, 2:] > boxes[:, :2]).all(1))[0]:
        q = quads[k].astype(np.float32)
        area = abs(cv2.contourArea(q))
        if area <= 0:  # empty still box: dropped below
            continue
        inter, poly = cv2.intersectConvexConvex(q, frame)
        if poly is None or inter <= 0:
            boxes[k] = 0  # touches the frame only along an edge: dropped below
            continue
        poly = poly.reshape(-1, 2).astype(np.float64)
        boxes[k] = np.clip(np.concatenate([poly.min(0), poly.max(0)]), 0, limit)
        frac[k] = min(1.0, inter / area)
    keep = (boxes[:, 2:] > boxes[:, :2]).all(1) & (b[:, 2:] > b[:, :2]).all(1)
    vis = (frac * t.visibility).astype(np.float32)
    return FrameTargets(boxes[keep].astype(np.float32), t.labels[keep], t.ids[keep], vis[keep], t.ignore[keep])


def line_kernel(dx: float, dy: float, length: float) -> np.ndarray:
    """Normalised float32 kernel of a centred, anti-aliased line segment of ``length`` px along (dx, dy)."""
    size = 2 * math.ceil(length / 2) + 3
    k = np.zeros((size, size), np.float64)
    n = max(2, math.ceil(4 * length))
    norm = math.hypot(dx, dy) or 1.0
    ts = np.linspace(-length / 2, length / 2, n)
    x, y = size // 2 + ts * dx / norm, size // 2 + ts * dy / norm
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for ox, oy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + oy, x0 + ox), wgt)
    return (k / k.sum()).astype(np.float32)


def _cv_matrix(h: np.ndarray) -> np.ndarray:
    """``h`` (pixel i spans [i, i+1)) in OpenCV's convention (pixel i centred on i), as a 2x3 affine."""
    return (_translate(-0.5, -0.5) @ h @ _translate(0.5, 0.5))[:2]


class StillClip:
    """One still seen by a moving camera, as a ``VideoSequence`` of ``length`` frames (computed lazily).

    ``image`` and ``targets`` are the still's BGR uint8 image and its targets, or zero-argument callables
    returning them (called per frame and not kept: the caller may cache). Objects keep the still's ids; an
    unknown id (-1) becomes the object's index within the still. Same seed, same clip.
    """

    def __init__(self, image: np.ndarray | Callable[[], np.ndarray],
                 targets: FrameTargets | Callable[[], FrameTargets], length: int,
                 motion: CameraMotion | None = None, seed: Seed = 0, name: str = "",
                 class_names: Sequence[str] = (), frame_rate: float | None = None) -> None:
        if length < 1:
            raise ValueError(f"a clip needs at least one frame, got length={length}")
        self._image, self._targets = image, targets
        self.length = length
        self.motion = motion or CameraMotion()
        self.seed = seed
        self.name = name
        self.class_names = tuple(class_names)
        self.frame_rate = float(self.motion.frame_rate if frame_rate is None else frame_rate)
        self._h: np.ndarray | None = None
        self._size = (0, 0)
        self._blur_exposure = 0.0
        self._gain = np.ones(length)

    def __len__(self) -> int:
        return self.length

    def still(self) -> np.ndarray:
        return self._image() if callable(self._image) else self._image

    def still_targets(self) -> FrameTargets:
        t = self._targets() if callable(self._targets) else self._targets
        n = len(t.boxes)
        ids = np.asarray(t.ids, np.int64)
        # unknown ids: the object's index (past the largest known id when some are known, so none collide)
        first = int(ids.max()) + 1 if n and (ids >= 0).any() else 0
        ids = np.where(ids >= 0, ids, first + np.arange(n, dtype=np.int64))
        return FrameTargets(np.asarray(t.boxes, np.float32).reshape(n, 4), np.asarray(t.labels, np.int64), ids,
                            np.asarray(t.visibility, np.float32), np.asarray(t.ignore, bool))

    def _setup(self, still: np.ndarray | None = None) -> None:
        if self._h is not None:
            return
        img = self.still() if still is None else still
        hs, ws = img.shape[:2]
        m = self.motion
        rng = np.random.default_rng(self.seed)
        self._size = m.size or (ws, hs)
        h = camera_trajectory(rng, self.length, (ws, hs), m)
        blur = rng.random() < m.blur_prob
        exposure = rng.uniform(*m.blur_exposure)
        g0, g1 = rng.uniform(-m.brightness, m.brightness, 2)
        self._blur_exposure = exposure if blur else 0.0
        w = smoothstep(np.linspace(0.0, 1.0, self.length) if self.length > 1 else np.zeros(1))
        self._gain = 1 + g0 + (g1 - g0) * w
        self._h = h

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        self._setup()
        return self._size

    def homography(self, index: int) -> np.ndarray:
        """3x3 map from still pixels to frame ``index`` pixels (pixel i spans [i, i+1))."""
        self._setup()
        assert self._h is not None
        return self._h[self._check(index)]

    def _check(self, index: int) -> int:
        if not -self.length <= index < self.length:
            raise IndexError(f"frame {index} out of range for a {self.length}-frame clip")
        return index % self.length

    def image_motion(self, index: int) -> np.ndarray:
        """(dx, dy) px per frame of the scene point under the frame centre (central difference)."""
        i = self._check(index)
        if self.length == 1:
            return np.zeros(2)
        a, b = max(i - 1, 0), min(i + 1, self.length - 1)
        w, h = self.size
        p = np.linalg.solve(self.homography(i), np.array([w / 2, h / 2, 1.0]))
        qa, qb = self.homography(a) @ p, self.homography(b) @ p
        return (qb[:2] / qb[2] - qa[:2] / qa[2]) / (b - a)

    def image(self, index: int) -> np.ndarray:
        i = self._check(index)
        still = self.still()
        self._setup(still)
        w, h = self._size
        frame = cv2.warpAffine(still, _cv_matrix(self.homography(i)), (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
        if self._blur_exposure > 0:
            v = self.image_motion(i)
            length = min(self.motion.blur_max, self._blur_exposure * float(np.hypot(*v)))
            if length >= 1.5:
                frame = cv2.filter2D(frame, -1, line_kernel(v[0], v[1], length), borderType=cv2.BORDER_REFLECT101)
        gain = float(self._gain[i])
        if abs(gain - 1) > 1e-6:
            frame = cv2.convertScaleAbs(frame, alpha=gain)
        return frame

    def targets(self, index: int) -> FrameTargets:
        i = self._check(index)
        w, h = self.size
        return project_targets(self.still_targets(), self.homography(i), w, h)


class _LastStills:
    """Loads stills of a collection on demand, keeping only the last ``keep`` (image, targets) pairs."""

    def __init__(self, collection: StillCollection, keep: int = 1) -> None:
        self.collection, self.keep = collection, keep
        self._cache: OrderedDict[int, tuple[np.ndarray, FrameTargets]] = OrderedDict()

    def get(self, index: int) -> tuple[np.ndarray, FrameTargets]:
        if index in self._cache:
            self._cache.move_to_end(index)
        else:
            self._cache[index] = (self.collection.image(index), self.collection.targets(index))
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return self._cache[index]

    def image(self, index: int) -> np.ndarray:
        return self.get(index)[0]

    def targets(self, index: int) -> FrameTargets:
        return self.get(index)[1]


def clips_from_stills(stills: StillCollection, length: int, motion: CameraMotion | None = None, seed: int = 0,
                      per_still: int = 1) -> list[StillClip]:
    """``per_still`` clips of ``length`` frames per still of ``stills``; nothing is loaded until a frame is read.

    Clip k of still i uses seed (seed, i, k), so adding stills or clips never changes the existing ones.
    """
    cache = _LastStills(stills)
    base = getattr(stills, "name", "") or "stills"
    names = tuple(getattr(stills, "class_names", ()))
    out = []
    for i in range(len(stills)):
        for k in range(per_still):
            out.append(StillClip(partial(cache.image, i), partial(cache.targets, i), length, motion,
                                 seed=(seed, i, k), name=f"{base}/still{i:06d}" + (f"_m{k}" if per_still > 1 else ""),
                                 class_names=names))
    return out
