"""Toy scenes and a tiny detector trained on them in about a minute on one CPU core.

Why: tests of the ROS node, the tracker and the CLI need weights that really detect something known (a random
network gives random boxes), without shipping a weights file or a data set. The toy world is a dark-blue sea
with bright, easily told apart shapes: class 0 ``seaurchin`` a red disc with short spikes, class 1 ``scallop`` a
yellow square, class 2 ``seacucumber`` a green ellipse twice as wide as high.

The detector is the tiny mobile TSSD (Bottleneck-LSTM) trained as the node runs it: continuous toy videos with
moving objects stepped in clips of 4 frames with the recurrent state carried (detached) from clip to clip and
only sometimes reset, and scene cuts without a reset, so that detection stays stable over long streams.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from tssd_ros.data.sequence import FrameTargets

TOY_CLASSES: tuple[str, ...] = ("seaurchin", "scallop", "seacucumber")
_BG_BGR = (70.0, 35.0, 12.0)  # dark blue
_COLOURS = ((40, 40, 225), (30, 215, 235), (60, 200, 50))  # BGR: red, yellow, green


def toy_box(cls: int, cx: float, cy: float, size: float) -> tuple[float, float, float, float]:
    """Tight box x1, y1, x2, y2 (pixels, unclipped) of a toy object; the seacucumber is size x size/2."""
    half_w = size / 2
    half_h = size / 4 if cls == 2 else size / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


@functools.lru_cache(maxsize=8)
def _background(size: int) -> np.ndarray:
    """Dark blue with a slight vertical gradient (light from above)."""
    yy = np.linspace(-1.0, 1.0, size, dtype=np.float32)[:, None, None]
    bg = np.asarray(_BG_BGR, np.float32) * (1.0 + 0.15 * yy)
    bg = np.broadcast_to(bg, (size, size, 3)).copy()
    bg.flags.writeable = False
    return bg


def make_toy_frame(
    t: int, objects: list[tuple[int, float, float, float]] | tuple = (), size: int = 128, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one toy frame.

    t: frame index (only varies the noise, so a static scene still changes slightly like a camera image).
    objects: (class 0..2, cx, cy, size) in pixels; size is the width of the object (12-40 px is what the toy
        detector is trained for).
    Returns (bgr uint8 (size, size, 3), boxes (N, 4) float32 x1, y1, x2, y2 px clipped to the frame,
    labels (N,) int64). Objects entirely outside the frame are dropped from the ground truth.
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(t) & 0xFFFFFFFF])
    img = _background(size) + rng.standard_normal((size, size, 3), dtype=np.float32) * 4.0
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    boxes, labels = [], []
    sh = 4  # sub-pixel precision of cv2 drawing
    for obj in objects:
        cls, cx, cy, s = int(obj[0]), float(obj[1]), float(obj[2]), float(obj[3])
        if cls not in (0, 1, 2):
            raise ValueError(f"toy class must be 0, 1 or 2, got {cls}")
        colour = _COLOURS[cls]
        c = (int(round(cx * (1 << sh))), int(round(cy * (1 << sh))))
        if cls == 0:
            r = s / 2
            body = 0.78 * r
            cv2.circle(canvas, c, int(round(body * (1 << sh))), colour, -1, cv2.LINE_AA, sh)
            for k in range(12):  # spikes reaching the full radius
                a = 2 * math.pi * k / 12
                p = (int(round((cx + r * math.cos(a)) * (1 << sh))), int(round((cy + r * math.sin(a)) * (1 << sh))))
                cv2.line(canvas, c, p, colour, max(1, int(round(s / 14))), cv2.LINE_AA, sh)
        elif cls == 1:
            x1, y1, x2, y2 = toy_box(cls, cx, cy, s)
            pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) * (1 << sh)
            cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA, sh)
        else:
            axes = (int(round(s / 2 * (1 << sh))), int(round(s / 4 * (1 << sh))))
            cv2.ellipse(canvas, c, axes, 0, 0, 360, colour, -1, cv2.LINE_AA, sh)
        x1, y1, x2, y2 = toy_box(cls, cx, cy, s)
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(size)), min(y2, float(size))
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            boxes.append((x1, y1, x2, y2))
            labels.append(cls)
    return (canvas, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64))


def random_toy_objects(rng: np.random.Generator, size: int = 128, max_objects: int = 3, min_size: float = 12,
                       max_size: float = 40) -> list[tuple[int, float, float, float]]:
    """0..max_objects non-overlapping objects fully inside the frame (about one frame in five is empty)."""
    n = int(rng.choice(max_objects + 1, p=[0.2] + [0.8 / max_objects] * max_objects))
    objs: list[tuple[int, float, float, float]] = []
    for _ in range(n):
        for _attempt in range(20):
            cls = int(rng.integers(3))
            s = float(rng.uniform(min_size, max_size))
            m = s / 2 + 1
            cx, cy = float(rng.uniform(m, size - m)), float(rng.uniform(m, size - m))
            if all(abs(cx - o[1]) > (s + o[3]) / 2 + 2 or abs(cy - o[2]) > (s + o[3]) / 2 + 2 for o in objs):
                objs.append((cls, cx, cy, s))
                break
    return objs


class ToyVideo:
    """One toy video (a :class:`~tssd_ros.data.sequence.VideoSequence`): objects drifting at constant velocity,
    bouncing at the borders, and now and then a cut to a new scene (the detector must follow it without a
    state reset, as after a fast pan). Deterministic for a seed; frames render on demand."""

    def __init__(self, seed: int, length: int = 64, size: int = 128, p_cut: float = 0.03, max_objects: int = 6
                 ) -> None:
        self.name = f"toy_{seed}"
        self.class_names = TOY_CLASSES
        self.frame_rate = 15.0
        self.size, self.seed = size, int(seed)
        rng = np.random.default_rng([self.seed, 1])
        self._objects: list[list[tuple[int, float, float, float]]] = []
        self._scene: list[int] = []
        scene = 0
        objs = self._new_scene(rng, max_objects)
        for _ in range(length):
            self._objects.append([(int(o[0]), o[1], o[2], o[3]) for o in objs])
            self._scene.append(scene)
            if rng.random() < p_cut:
                objs = self._new_scene(rng, max_objects)
                scene += 1
                continue
            for o in objs:  # move, bounce at the borders
                for d in (1, 2):
                    o[d] += o[d + 3]
                    m = o[3] / 2 + 1
                    if not m <= o[d] <= size - m:
                        o[d + 3] = -o[d + 3]
                        o[d] = min(max(o[d], m), size - m)

    def _new_scene(self, rng: np.random.Generator, max_objects: int) -> list[list[float]]:
        objs = []
        for cls, cx, cy, s in random_toy_objects(rng, self.size, max_objects):
            speed = float(rng.choice([0.0, rng.uniform(0.5, 3.0)], p=[0.3, 0.7]))
            a = float(rng.uniform(0, 2 * math.pi))
            objs.append([cls, cx, cy, s, speed * math.cos(a), speed * math.sin(a)])
        return objs

    def __len__(self) -> int:
        return len(self._objects)

    def image(self, index: int) -> np.ndarray:
        return make_toy_frame(index, self._objects[index], self.size, self.seed)[0]

    def targets(self, index: int) -> FrameTargets:
        _, boxes, labels = make_toy_frame(index, self._objects[index], self.size, self.seed)
        n = len(boxes)  # objects never leave the frame: box k is object k of the scene
        ids = self._scene[index] * 1000 + np.arange(n, dtype=np.int64)
        return FrameTargets(boxes, labels, ids, np.ones(n, np.float32), np.zeros(n, bool))
