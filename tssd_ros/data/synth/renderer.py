"""The dive renderer: config, frames with exact ground truth, and the per-frame pipeline.

Each frame: the seabed tiles under the camera are warped into the image by the plane-to-image homography
(albedo bilinear, id map nearest), the ground truth is read off the warped id map, then the albedo goes
through the camera (motion blur), the water (light, caustics, backscatter, snow) and the sensor (white
balance, auto exposure, gamma, noise).

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
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tssd_ros.data.synth.camera import area_scale, camera_path, rotation, seabed_homography
from tssd_ros.data.synth.water import PRESETS, MarineSnow, WaterOptics
from tssd_ros.data.synth.world import SeabedWorld
from tssd_ros.errors import InputError

F32 = np.float32
#: bump when the rendering changes, so that cached benchmark sequences are re-rendered
GENERATOR_VERSION = 2


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


@dataclass
class SynthFrame:
    """One rendered frame and its exact ground truth.

    image: (H, W, 3) uint8 BGR.
    ids: (H, W) int32 object-id mask: 0 = seabed, else the object's track id (same as ``track_ids``).
    boxes: (K, 4) float32 xyxy pixels, tight box of the object's pixels (pixel i spans [i, i+1)).
    labels: (K,) int64 0-based index into ``UNDERWATER_CLASSES``; track_ids: (K,) int64 >= 1;
    visibility: (K,) float32 in [0, 1]; stamp: seconds since the start of the dive (fps-spaced plus
    small jitter).
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
        self.world = SeabedWorld(cfg.seed, self.px_per_m, cfg.density)
        self.path = camera_path(cfg.seed, cfg.frames, cfg.fps, self.p.altitude)
        rng = np.random.default_rng([cfg.seed, 5])
        self.rng = rng
        jitter = np.random.default_rng([cfg.seed, 6]).normal(0, 0.002, cfg.frames)  # own stream: prefix-stable
        self.stamps = np.arange(cfg.frames) / cfg.fps + np.clip(jitter, -0.004, 0.004)
        self.stamps[0] = 0.0
        self.stamps = np.maximum.accumulate(self.stamps)
        # noise bank: random crops of one pre-drawn field (cheap, deterministic)
        self.noise = rng.standard_normal(H * W * 3 + 3 * 4096, dtype=F32)
        self.optics = WaterOptics(self.p, self.K, W, H, self.px_per_m)
        self.snow = MarineSnow(self.p, self.f, W, H, rng)
        self.gain = 1.0
        self.gain_event = 1.0
        self.wb = np.ones(3)
        self.prev_H: np.ndarray | None = None
        self.track_of_uid: dict[int, int] = {}
        self.lut = np.zeros(1024, np.int32)
        self._canvas_key: tuple[int, int, int, int] | None = None
        self._canvas: tuple[np.ndarray, np.ndarray] | None = None

    def homography(self, i: int) -> np.ndarray:
        """World pixel -> image pixel homography of frame i."""
        return seabed_homography(self.K, self.path[i], self.px_per_m)

    def render(self, i: int) -> SynthFrame:
        """Render frame i (frames must be rendered in order for snow/exposure continuity)."""
        pose = self.path[i]
        R = rotation(pose)
        Hw = self.homography(i)
        Hinv = np.linalg.inv(Hw)
        alb, uid = self._seabed_view(Hw, Hinv)
        truth = self._ground_truth(uid, Hw)
        g, gains = self._camera_gains()
        alb = self._motion_blur(alb, Hw, Hinv)
        # water and light: signal = albedo x (lights + ambient [+ caustics]) x attenuation + backscatter
        mul, add = self.optics.light(pose, R, Hinv, i / self.cfg.fps, gains)
        lin = cv2.multiply(alb, mul, scale=1.0 / 255.0, dtype=cv2.CV_32F)
        if self.p.snow:
            snow = self.snow.layer(R, self._motion(i))
            snow *= F32(g)
            add += snow[..., None]  # lit particles: near white
        cv2.add(lin, add, dst=lin)
        return self._frame(i, self._expose(i, lin, gains), uid, *truth)

    def __iter__(self) -> Iterator[SynthFrame]:
        for i in range(self.cfg.frames):
            yield self.render(i)

    # -- steps of render -------------------------------------------------------------------------------
    def _seabed_view(self, Hw: np.ndarray, Hinv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Albedo (uint8 BGR) and internal object numbers (int32) of the seabed as the camera sees it."""
        W, H = self.cfg.width, self.cfg.height
        corners = Hinv @ np.array([[0, W, W, 0], [0, 0, H, H], [1, 1, 1, 1]], float)
        cx, cy = corners[0] / corners[2], corners[1] / corners[2]
        T = self.world.tile
        key = (int(math.floor((cx.min() - 2) / T)), int(math.floor((cy.min() - 2) / T)),
               int(math.floor((cx.max() + 2) / T)), int(math.floor((cy.max() + 2) / T)))
        if key != self._canvas_key:  # the tiles under the footprint changed
            self._canvas = self.world.canvas(*key)
            self._canvas_key = key
        alb_c, ids_c = self._canvas  # type: ignore[misc]
        Hc = Hw @ np.array([[1, 0, key[0] * T], [0, 1, key[1] * T], [0, 0, 1]], float)
        alb = cv2.warpPerspective(alb_c, Hc, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        idw = cv2.warpPerspective(ids_c, Hc, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=0)
        return alb, idw.astype(np.int32)

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
            if tid is None:  # first sight: next track id
                tid = len(self.track_of_uid) + 1
                self.track_of_uid[u_] = tid
                if u_ >= self.lut.size:
                    self.lut = np.concatenate([self.lut, np.zeros(u_ + 1024 - self.lut.size, np.int32)])
                self.lut[u_] = tid
            # full area in the image: seabed area x local area scale of the homography at the object
            cxw, cyw = self.world.centre_by_uid[u_]
            full = self.world.area_by_uid[u_] * area_scale(Hw, cxw, cyw)
            boxes.append((x0[k], y0[k], x1[k], y1[k]))
            labels.append(f.label)
            tids.append(tid)
            vis.append(min(1.0, counts[k] / max(full, 1e-6)))
        return boxes, labels, tids, vis

    def _camera_gains(self) -> tuple[float, np.ndarray]:
        """This frame's exposure gain (auto exposure x occasional jumps x flicker) and per-channel gains
        (times the white balance)."""
        if self.rng.random() < self.p.exposure_events / 100.0:
            self.gain_event = float(self.rng.choice([0.6, 0.75, 1.35, 1.6]))
        self.gain_event = 1.0 + (self.gain_event - 1.0) * 0.9
        g = self.gain * self.gain_event * (1 + self.rng.normal(0, 0.01))
        return g, (self.wb * g).astype(F32)

    def _motion_blur(self, alb: np.ndarray, Hw: np.ndarray, Hinv: np.ndarray) -> np.ndarray:
        """Blur along the image motion of the centre since the last frame (or a little defocus when slow).

        Done on the 8-bit albedo: the light fields are smooth, so blurring before lighting is the same and
        much cheaper.
        """
        W, H = self.cfg.width, self.cfg.height
        blur_len, ang = 0.0, 0.0
        if self.prev_H is not None:
            wc = Hinv @ np.array([W / 2, H / 2, 1.0])
            prev = self.prev_H @ wc
            dx, dy = prev[0] / prev[2] - W / 2, prev[1] / prev[2] - H / 2
            blur_len, ang = math.hypot(dx, dy) * 0.35, math.atan2(dy, dx)
        self.prev_H = Hw
        if blur_len < 1.5:
            return cv2.GaussianBlur(alb, (0, 0), 0.7)
        k = max(3, int(min(blur_len, 15)) | 1)
        ker = np.zeros((k, k), F32)
        c0, h0 = (k - 1) / 2, blur_len / 2
        cv2.line(ker, (int((c0 - math.cos(ang) * h0) * 16), int((c0 - math.sin(ang) * h0) * 16)),
                 (int((c0 + math.cos(ang) * h0) * 16), int((c0 + math.sin(ang) * h0) * 16)), 1.0, 1,
                 cv2.LINE_AA, 4)
        ker = cv2.GaussianBlur(ker, (0, 0), 0.6)
        return cv2.filter2D(alb, -1, ker / ker.sum()) if ker.sum() > 0 else alb

    def _motion(self, i: int) -> np.ndarray:
        """The vehicle's displacement (world, m) since the previous frame."""
        if i == 0:
            return np.zeros(3)
        pose, q = self.path[i], self.path[i - 1]
        return np.array([pose.x - q.x, pose.y - q.y, pose.altitude - q.altitude])

    def _expose(self, i: int, lin: np.ndarray, gains: np.ndarray) -> np.ndarray:
        """Sensor: update white balance and exposure from this frame, display gamma, noise -> uint8 BGR.

        The white balance found here applies from the next frame; the first frame starts converged
        (white balance and exposure set from itself).
        """
        p = self.p
        sub = lin[::8, ::8].reshape(-1, 3).mean(0) / gains + 1e-4  # colour before the gains
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
        W, H = self.cfg.width, self.cfg.height
        off = 3 * int(self.rng.integers(0, 4096))  # contiguous window: no copy
        nz = self.noise[off : off + H * W * 3].reshape(H, W, 3)
        # read + shot noise, the shot part approximated at the frame's mean level (one pass)
        out = cv2.scaleAdd(nz, float(p.noise * (0.5 + 0.8 * mean)), out)
        return cv2.convertScaleAbs(out, alpha=255.0)

    def _frame(self, i: int, image: np.ndarray, uid: np.ndarray, boxes: list, labels: list, tids: list,
               vis: list) -> SynthFrame:
        """Pack a frame, its objects ordered by track id."""
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
