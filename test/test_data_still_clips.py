"""Sequential augmentation (still -> clip): boxes follow the warped pixels, identities hold, motion is smooth,
clips are reproducible, lazy, and drop into the clip dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tssd_ros.data.dataset import target_dict, to_tensor
from tssd_ros.data.rss import rss_indices
from tssd_ros.data.sequence import FrameTargets
from tssd_ros.data.still_clips import CameraMotion, StillClip, clips_from_stills, line_kernel

W, H, BG = 200, 160, 20
# xyxy boxes (integers: the rectangle fills exactly its box); the last one sits 4 px from the right edge
BOXES = np.array([[20, 30, 70, 72], [110, 60, 126, 72], [150, 95, 196, 150]], np.float32)
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))  # one BGR channel per object
NO_BLUR = dict(blur_prob=0.0, brightness=0.0)
STRONG = CameraMotion(zoom=(1.2, 1.5), pan=(0.3, 0.5), rotation_deg=16.0, keep_inside=False, **NO_BLUR)


def still(ids=(-1, -1, -1), visibility=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, FrameTargets]:
    img = np.full((H, W, 3), BG, np.uint8)
    for (x1, y1, x2, y2), c in zip(BOXES.astype(int), COLOURS, strict=True):
        img[y1:y2, x1:x2] = c
    return img, FrameTargets(BOXES.copy(), np.array([2, 0, 1], np.int64), np.array(ids, np.int64),
                             np.array(visibility, np.float32), np.array([False, True, False]))


def inside_still(h: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Frame pixels whose centre maps back into the still (not reflection padding)."""
    ys, xs = np.mgrid[: shape[0], : shape[1]] + 0.5
    p = np.linalg.solve(h, np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]))
    sx, sy = (p[:2] / p[2]).reshape(2, *shape)
    return (sx >= 0) & (sx < W) & (sy >= 0) & (sy < H)


def centres(clip: StillClip) -> dict[int, np.ndarray]:
    """id -> (T, 2) box centres over the frames where the object is wholly in view (NaN elsewhere)."""
    out: dict[int, np.ndarray] = {}
    for i in range(len(clip)):
        t = clip.targets(i)
        for b, tid, vis in zip(t.boxes, t.ids.tolist(), t.visibility, strict=True):
            row = out.setdefault(tid, np.full((len(clip), 2), np.nan))
            if vis > 0.999:  # a box cut by the frame edge shrinks, and its centre jumps
                row[i] = (b[:2] + b[2:]) / 2
    return out


def test_boxes_stay_on_their_objects():
    img, t = still()
    matched = 0
    for seed in range(3):
        clip = StillClip(img, t, 8, STRONG, seed=seed)
        for i in range(len(clip)):
            frame, ft = clip.image(i), clip.targets(i)
            assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
            inside = inside_still(clip.homography(i), frame.shape[:2])
            for k in range(len(BOXES)):
                pix = (frame[..., k] > (BG + 255) / 2) & inside
                if k not in ft.ids.tolist():
                    assert pix.sum() == 0, f"seed {seed} frame {i}: object {k} visible but not in the targets"
                    continue
                ys, xs = np.nonzero(pix)
                assert len(xs), f"seed {seed} frame {i}: object {k} in the targets but not in the frame"
                tight = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                box = ft.boxes[ft.ids.tolist().index(k)]
                assert np.abs(box - tight).max() <= 1.5, (seed, i, k, box, tight)
                matched += 1
    assert matched > 40


def test_identities_constant_and_objects_leave_through_the_edge():
    img, t = still(ids=(7, -1, -1), visibility=(1.0, 1.0, 0.5))
    expect = {7: 2, 9: 0, 10: 1}  # id -> label; an unknown id is 8 + the object's index (past the known ids)
    motion = CameraMotion(zoom=(1.6, 1.8), pan=(0.5, 0.7), **NO_BLUR)
    left = 0
    for seed in range(30):
        clip = StillClip(img, t, 16, motion, seed=seed)
        seen: dict[int, list[float]] = {}
        for i in range(len(clip)):
            ft = clip.targets(i)
            assert dict(zip(ft.ids.tolist(), ft.labels.tolist(), strict=True)).items() <= expect.items()
            assert ft.ignore.tolist() == [tid == 9 for tid in ft.ids.tolist()]
            assert ((ft.boxes[:, 2:] > ft.boxes[:, :2]).all() and (ft.boxes >= 0).all()
                    and (ft.boxes[:, [0, 2]] <= W).all() and (ft.boxes[:, [1, 3]] <= H).all())
            for tid in expect:
                vis = ft.visibility[ft.ids == tid]
                seen.setdefault(tid, []).append(float(vis[0]) if len(vis) else 0.0)
        assert max(seen[10]) <= 0.5 + 1e-6, "the still's own visibility carries over"
        for tid, vis in seen.items():
            full = 0.5 if tid == 10 else 1.0
            v = np.array(vis)
            if np.isclose(v, full).any() and (v == 0).any():  # in view at some point, out of view at another
                assert ((v > 0) & (v < full - 1e-3)).any(), f"seed {seed} id {tid}: left without crossing the edge"
                left += 1
    assert left >= 3, "strong pans should push objects out of view"


def test_motion_is_smooth_and_moves():
    img, t = still()
    motion = CameraMotion(zoom=(1.3, 1.4), pan=(0.2, 0.3), **NO_BLUR)
    for seed in range(5):
        clip = StillClip(img, t, 16, motion, seed=seed)
        total = 0.0
        for c in centres(clip).values():
            jerk = np.abs(np.diff(c, n=2, axis=0))  # change of the frame-to-frame displacement
            assert not (jerk >= 3.0).any(), f"seed {seed}: jerky motion"
            seen = c[~np.isnan(c).any(1)]
            if len(seen) > 1:
                total = max(total, float(np.hypot(*(seen[-1] - seen[0]))))
        assert total > 10.0, f"seed {seed}: the camera barely moved ({total:.1f} px)"
        assert np.abs(clip.image(0).astype(int) - clip.image(15).astype(int)).mean() > 2


def test_same_seed_same_clip_other_seed_differs():
    img, t = still()
    motion = CameraMotion(blur_prob=1.0, brightness=0.2)
    a, b, c = (StillClip(img, t, 6, motion, seed=s) for s in (3, 3, 4))
    for i in range(len(a)):
        assert np.array_equal(a.image(i), b.image(i))
        ta, tb = a.targets(i), b.targets(i)
        assert all(np.array_equal(getattr(ta, f), getattr(tb, f)) for f in ("boxes", "ids", "visibility"))
    assert not np.array_equal(a.image(5), c.image(5))
    assert not np.array_equal(a.targets(5).boxes, c.targets(5).boxes)


def test_motion_blur_runs_along_the_motion():
    k = line_kernel(1.0, 0.0, 6.0)
    assert k.sum() == pytest.approx(1.0) and k[k.shape[0] // 2].sum() > 0.99
    assert np.count_nonzero(k[k.shape[0] // 2] > 0.01) in (6, 7, 8)
    img, t = still()
    sharp = StillClip(img, t, 8, CameraMotion(pan=(0.4, 0.4), **NO_BLUR), seed=1)
    blurred = StillClip(img, t, 8, CameraMotion(pan=(0.4, 0.4), blur_prob=1.0, blur_exposure=(1.0, 1.0),
                                                brightness=0.0), seed=1)
    v = sharp.image_motion(4)
    assert np.hypot(*v) > 3
    a, b = sharp.image(4).astype(np.float32), blurred.image(4).astype(np.float32)
    assert np.abs(a - b).mean() > 0.5
    gx, gy = (np.abs(np.diff(x, axis=ax)).sum() for x, ax in ((b, 1), (b, 0)))
    sx, sy = (np.abs(np.diff(x, axis=ax)).sum() for x, ax in ((a, 1), (a, 0)))
    along = 0 if abs(v[0]) > abs(v[1]) else 1  # edges across the motion soften most
    assert ((gx / sx) if along == 0 else (gy / sy)) < ((gy / sy) if along == 0 else (gx / sx))


class Stills:
    """An image collection (VideoSequence of stills) that counts its image loads."""

    name, class_names, frame_rate = "bed", ("seaurchin", "scallop", "seacucumber"), 1.0

    def __init__(self, n: int) -> None:
        self.n, self.loads = n, 0

    def __len__(self) -> int:
        return self.n

    def image(self, index: int) -> np.ndarray:
        self.loads += 1
        return still()[0]

    def targets(self, index: int) -> FrameTargets:
        return still()[1]


def test_clips_from_stills_are_lazy_and_give_training_targets():
    stills = Stills(3)
    clips = clips_from_stills(stills, 8, CameraMotion(size=(96, 64)), seed=1, per_still=2)
    assert len(clips) == 6 and stills.loads == 0, "nothing loaded up front"
    assert clips[0].class_names == stills.class_names and clips[0].frame_rate == 10.0
    assert len({c.name for c in clips}) == 6
    idx = rss_indices(len(clips[3]), 4, np.random.default_rng(0))
    clip = torch.stack([to_tensor(clips[3].image(i), None) for i in idx])
    targets = [target_dict(clips[3].targets(i), 96, 64) for i in idx]
    assert clip.shape == (4, 3, 64, 96) and clip.dtype == torch.uint8
    assert len(targets) == 4 and all(d["boxes"].shape[1] == 4 and len(d["boxes"]) == len(d["ids"]) for d in targets)
    assert any(len(d["boxes"]) for d in targets)
    assert all(float(d["boxes"].min()) >= 0 and float(d["boxes"].max()) <= 1 for d in targets if len(d["boxes"]))
    assert stills.loads == 1, "one still per clip, loaded once"
