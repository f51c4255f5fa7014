"""Deterministic simulated scenes in MOTChallenge form (gt.txt, det.txt, feats.npy): a scrolling scene and a
pedestrian crowd (``simulate_crowd_sequence``).

Why: the trackers must be compared on a sequence with known identities where the ROV's motion matters:
objects keep their identity while the whole scene scrolls (common camera motion that speeds up and slows
down) plus their own slow motion; detections are noisy, miss, are occluded for several frames, include
false positives, and whole frames drop (as on a robot). Appearance vectors stand in for TSSD's 147-d
attention vectors: a per-identity random vector plus per-detection noise (false positives: random).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class SimSequence:
    """gt: (N, 9) frame, id, x, y, w, h, conf, class, visibility (conf 0 = fully occluded, ignored);
    det: (M, 10) frame, -1, x, y, w, h, score, -1, -1, -1; feats: (M, D) one row per det row;
    det_ids: (M,) true identity of each detection (-1 = false positive)."""

    gt: np.ndarray
    det: np.ndarray
    feats: np.ndarray
    det_ids: np.ndarray
    n_frames: int
    width: int
    height: int
    fps: float

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write gt.txt, det.txt and feats.npy (float32) into folder; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"gt": folder / "gt.txt", "det": folder / "det.txt", "feats": folder / "feats.npy"}
        np.savetxt(paths["gt"], self.gt, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%d", "%d", "%.2f"],
                   delimiter=",")
        np.savetxt(paths["det"], self.det, fmt=["%d", "%d"] + ["%.2f"] * 4 + ["%.4f", "%d", "%d", "%d"],
                   delimiter=",")
        np.save(paths["feats"], self.feats.astype(np.float32))
        return paths


def simulate_scrolling_sequence(
    seed: int = 0,
    n_frames: int = 300,
    width: int = 1280,
    height: int = 720,
    n_objects: int = 60,
    scroll: tuple[float, float] = (10.0, 2.0),
    own_speed: float = 1.5,
    miss_prob: float = 0.08,
    occlusion_prob: float = 0.01,
    occlusion_len: tuple[int, int] = (3, 12),
    fp_per_frame: float = 1.5,
    drop_prob: float = 0.02,
    box_noise: float = 0.04,
    dim: int = 147,
    feat_noise: float = 0.6,
    fps: float = 10.0,
) -> SimSequence:
    """Build the sequence; identical output for identical arguments (numpy default_rng(seed)).

    scroll: mean camera motion in px/frame (the image content moves by minus this); it is modulated by
    +-50 % over a 120-frame period, so a constant-velocity model has to adapt.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)
    mod = 1.0 + 0.5 * np.sin(2 * np.pi * t / 120.0)
    cam_v = np.stack([scroll[0] * mod, scroll[1] * np.sin(2 * np.pi * t / 90.0) * 2], 1)
    cam = np.cumsum(cam_v, 0) - cam_v[0]

    span = np.abs(cam).max(0) + np.array([width, height])
    lo = np.minimum(cam.min(0), 0)
    pos0 = lo + rng.uniform(0, 1, (n_objects, 2)) * span
    wh = rng.uniform(40, 90, n_objects)
    sizes = np.stack([wh, wh * rng.uniform(0.7, 1.3, n_objects)], 1)
    vel = rng.normal(0, own_speed, (n_objects, 2))
    acc = rng.normal(0, own_speed * 0.05, (n_frames, n_objects, 2))
    own = np.cumsum(vel[None] + np.cumsum(acc, 0), 0)  # (F, O, 2)
    feats_id = rng.normal(0, 1, (n_objects, dim))

    occluded = np.zeros((n_frames, n_objects), bool)
    starts = rng.random((n_frames, n_objects)) < occlusion_prob
    for f, o in zip(*np.nonzero(starts), strict=True):
        occluded[f: f + rng.integers(occlusion_len[0], occlusion_len[1] + 1), o] = True
    dropped = rng.random(n_frames) < drop_prob

    gt_rows, det_rows, det_feats, det_ids = [], [], [], []
    for f in range(n_frames):
        centre = pos0 + own[f] - cam[f]  # image coordinates of the box centres
        x1y1 = centre - sizes / 2
        x2y2 = centre + sizes / 2
        c1 = np.clip(x1y1, 0, [width, height])
        c2 = np.clip(x2y2, 0, [width, height])
        cw = c2 - c1
        vis_area = cw[:, 0] * cw[:, 1] / (sizes[:, 0] * sizes[:, 1])
        inside = vis_area > 0.5
        for o in np.nonzero(inside)[0]:
            occ = occluded[f, o]
            gt_rows.append([f + 1, o + 1, *c1[o], *cw[o], 0 if occ else 1, 1, 0.0 if occ else vis_area[o]])
            if occ or dropped[f] or rng.random() < miss_prob:
                continue
            noise = rng.normal(0, box_noise, 4) * np.repeat(sizes[o], 2)[[0, 2, 1, 3]]
            b = np.concatenate([c1[o], c2[o]]) + noise
            b[2:] = np.maximum(b[2:], b[:2] + 4)
            score = float(np.clip(rng.normal(0.7, 0.15), 0.05, 1.0))
            det_rows.append([f + 1, -1, b[0], b[1], b[2] - b[0], b[3] - b[1], score, -1, -1, -1])
            det_feats.append(feats_id[o] + rng.normal(0, feat_noise, dim))
            det_ids.append(o + 1)
        if dropped[f]:
            continue
        for _ in range(rng.poisson(fp_per_frame)):
            s = rng.uniform(30, 90, 2)
            p = rng.uniform(0, 1, 2) * (np.array([width, height]) - s)
            det_rows.append([f + 1, -1, p[0], p[1], s[0], s[1], rng.uniform(0.05, 0.55), -1, -1, -1])
            det_feats.append(rng.normal(0, 1, dim))
            det_ids.append(-1)

    det = np.asarray(det_rows, np.float64).reshape(-1, 10)
    order = np.argsort(det[:, 0], kind="stable")
    return SimSequence(
        gt=np.asarray(gt_rows, np.float64).reshape(-1, 9),
        det=det[order],
        feats=np.asarray(det_feats, np.float32).reshape(-1, dim)[order],
        det_ids=np.asarray(det_ids, np.int64)[order],
        n_frames=n_frames,
        width=width,
        height=height,
        fps=fps,
    )


def simulate_crowd_sequence(
    seed: int = 0,
    n_frames: int = 300,
    width: int = 1920,
    height: int = 1080,
    n_people: int = 30,
    arrivals_per_frame: float = 0.08,
    fp_per_frame: float = 2.0,
    box_noise: float = 0.04,
    part_prob: float = 0.03,
    score_scale: float = 100.0,
    fps: float = 30.0,
) -> SimSequence:
    """A static camera over a pedestrian street in MOTChallenge form, with public-detection-like input.

    Why: ``tssd track`` is also scored on real pedestrian sequences, where one class walks in crowds and people
    pass in front of each other; a rule that helps on an ROV (a second box inside a tracked animal's box starts
    no identity) must not cost identities there. People walk left or right at their depth (the foot's image
    row sets the height, 80-370 px, width 0.41 h), some stand; new ones enter at the edges. Visibility is the
    fraction of a box not covered by nearer people (lower feet); a person is detected with a probability that
    falls with visibility (none under 0.2), with box noise and a score of ``score_scale`` x visibility
    (public detections are not in [0, 1]); ``part_prob`` of the detections come with a second, upper-body box;
    false positives score low. No appearance vectors (``feats`` random, as public detections have none).
    """
    rng = np.random.default_rng(seed)
    total = n_people + rng.poisson(arrivals_per_frame * n_frames)
    start = np.concatenate([np.zeros(n_people, int), rng.integers(0, n_frames, total - n_people)])
    foot = rng.uniform(0.45, 1.0, total) * height
    h = 80 + (foot - 0.45 * height) / (0.55 * height) * 290
    w = 0.41 * h
    speed = rng.uniform(0.6, 2.2, total) * h / 200 * np.where(rng.random(total) < 0.5, -1, 1)
    speed[rng.random(total) < 0.1] = 0.0  # standing
    x0 = np.where(start == 0, rng.uniform(0, width, total), np.where(speed > 0, -w, width + w * 0))
    gt_rows, det_rows, det_ids = [], [], []
    gx, gy = np.meshgrid(np.linspace(0.05, 0.95, 6), np.linspace(0.05, 0.95, 12))
    for f in range(n_frames):
        live = np.nonzero(start <= f)[0]
        cx = x0[live] + speed[live] * (f - start[live]) + np.sin(f / 15 + live) * 0.5
        b = np.stack([cx - w[live] / 2, foot[live] - h[live], cx + w[live] / 2, foot[live]], 1)
        c1, c2 = np.clip(b[:, :2], 0, [width, height]), np.clip(b[:, 2:], 0, [width, height])
        area_in = np.prod(np.clip(c2 - c1, 0, None), 1) / np.prod(b[:, 2:] - b[:, :2], 1)
        on = area_in > 0.5
        b, live, c1, c2 = b[on], live[on], c1[on], c2[on]
        vis = np.ones(len(b))
        for i in range(len(b)):  # sample points of box i hidden by nearer people
            px = b[i, 0] + gx * (b[i, 2] - b[i, 0])
            py = b[i, 1] + gy * (b[i, 3] - b[i, 1])
            hidden = np.zeros(px.shape, bool)
            for j in np.nonzero(foot[live] > foot[live[i]])[0]:
                hidden |= (px >= b[j, 0]) & (px <= b[j, 2]) & (py >= b[j, 1]) & (py <= b[j, 3])
            vis[i] = 1.0 - hidden.mean()
        for i, o in enumerate(live):
            gt_rows.append([f + 1, o + 1, *c1[i], *(c2[i] - c1[i]), 1, 1, vis[i]])
            if rng.random() > 0.95 * np.clip((vis[i] - 0.2) / 0.5, 0, 1):
                continue
            size = np.repeat(b[i, 2:] - b[i, :2], 2)[[0, 2, 1, 3]]
            d = b[i] + rng.normal(0, box_noise, 4) * size
            score = score_scale * vis[i] * rng.uniform(0.5, 1.0)
            det_rows.append([f + 1, -1, d[0], d[1], d[2] - d[0], d[3] - d[1], score, -1, -1, -1])
            det_ids.append(o + 1)
            if rng.random() < part_prob:  # an upper-body box as well
                det_rows.append([f + 1, -1, d[0], d[1], d[2] - d[0], 0.45 * (d[3] - d[1]), 0.6 * score, -1, -1, -1])
                det_ids.append(o + 1)
        for _ in range(rng.poisson(fp_per_frame)):
            hh = rng.uniform(80, 300)
            p = rng.uniform(0, 1, 2) * (np.array([width, height]) - [0.41 * hh, hh])
            det_rows.append([f + 1, -1, p[0], p[1], 0.41 * hh, hh, rng.uniform(0, 0.4) * score_scale, -1, -1, -1])
            det_ids.append(-1)
    det = np.asarray(det_rows, np.float64).reshape(-1, 10)
    return SimSequence(gt=np.asarray(gt_rows, np.float64).reshape(-1, 9), det=det,
                       feats=rng.normal(0, 1, (len(det), 147)).astype(np.float32),
                       det_ids=np.asarray(det_ids, np.int64), n_frames=n_frames, width=width, height=height, fps=fps)
