"""SSD-stage augmentation: photometric distortion, expand (zoom out), random crop (zoom in), mirror.

Why each: the water's colour and brightness change with depth and lights (photometric); animals appear at every
size (expand makes small ones, crop makes big ones and centres on parts of crowded scenes); the seabed has no
preferred left or right (mirror). Boxes are in pixels, xyxy; a crop keeps boxes whose centre stays inside.
``expand_max`` is 2 rather than SSD's 4: seabed animals are already small (urchins of 10-20 px).
"""

from __future__ import annotations

import cv2
import numpy as np

from tssd_ros.boxes import box_iou


def photometric(img: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter in random order (as SSD's PhotometricDistort).

    Every step maps each 8-bit value on its own, so each runs as a 256-entry table (``cv2.LUT``) computed in the
    float32 arithmetic of the per-pixel formula: the same bytes as applying it to every pixel, several times faster
    on large stills (the data loader's cost in a CPU training step)."""
    v = np.arange(256, dtype=np.float32)
    x = v.copy()  # the float value each input byte has become so far
    if r.random() < 0.5:
        x += r.uniform(-32, 32)
    contrast_first = r.random() < 0.5
    if contrast_first and r.random() < 0.5:
        x *= r.uniform(0.6, 1.4)
    if r.random() < 0.5 or r.random() < 0.5:
        hsv = cv2.cvtColor(cv2.LUT(img, _byte(x)), cv2.COLOR_BGR2HSV)
        sat = v * r.uniform(0.6, 1.4) if r.random() < 0.5 else None
        hue = (v + r.uniform(-9, 9)) % 180 if r.random() < 0.5 else None
        if sat is not None or hue is not None:
            tables = [_byte(hue) if hue is not None else _byte(v), _byte(sat) if sat is not None else _byte(v),
                      _byte(v)]
            hsv = cv2.LUT(hsv, np.stack(tables, 1).reshape(256, 1, 3))
        img, x = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), v.copy()
    if not contrast_first and r.random() < 0.5:
        x *= r.uniform(0.6, 1.4)
    return cv2.LUT(img, _byte(x))


def _byte(x: np.ndarray) -> np.ndarray:
    """Float values -> uint8 as ``np.clip(x, 0, 255).astype(np.uint8)`` does (truncation)."""
    return np.clip(x, 0, 255).astype(np.uint8)


def expand(img: np.ndarray, boxes: np.ndarray, r: np.random.Generator, max_ratio: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Place the image at a random spot of a canvas up to ``max_ratio`` times larger, filled with its mean."""
    h, w = img.shape[:2]
    ratio = r.uniform(1, max_ratio)
    ch, cw = int(h * ratio), int(w * ratio)
    top, left = int(r.uniform(0, ch - h)), int(r.uniform(0, cw - w))
    fill = [int(c) for c in img.reshape(-1, 3).mean(0).astype(np.uint8)]
    canvas = cv2.copyMakeBorder(img, top, ch - h - top, left, cw - w - left, cv2.BORDER_CONSTANT, value=fill)
    return canvas, boxes + np.array([left, top, left, top], np.float32)


_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9, -1.0)  # None: keep the whole image; -1: any crop


def random_crop(img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, r: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSD's min-IoU crop: a patch of 0.3-1 of each side with aspect 0.5-2 overlapping some box by the drawn
    minimum IoU; boxes whose centre leaves the patch are dropped, the rest clipped to it."""
    h, w = img.shape[:2]
    for _ in range(10):
        min_iou = _MIN_IOUS[int(r.integers(len(_MIN_IOUS)))]
        if min_iou is None:
            return img, boxes, labels
        for _ in range(20):
            cw, ch = r.uniform(0.3 * w, w), r.uniform(0.3 * h, h)
            if not 0.5 <= ch / cw <= 2:
                continue
            left, top = r.uniform(0, w - cw), r.uniform(0, h - ch)
            rect = np.array([left, top, left + cw, top + ch], np.float32).round()
            if len(boxes):
                if box_iou(boxes, rect).max() < min_iou:
                    continue
                centres = (boxes[:, :2] + boxes[:, 2:]) / 2
                keep = ((centres > rect[:2]) & (centres < rect[2:])).all(1)
                if not keep.any():
                    continue
            else:
                keep = np.zeros(0, bool)
            x0, y0, x1, y1 = (int(v) for v in rect)
            b = boxes[keep].copy()
            b[:, :2] = np.maximum(b[:, :2], rect[:2]) - rect[:2]
            b[:, 2:] = np.minimum(b[:, 2:], rect[2:]) - rect[:2]
            return img[y0:y1, x0:x1], b, labels[keep]
    return img, boxes, labels


class SSDAugment:
    """The SSD stage's augmentation as a callable ``(img, boxes_px, labels) -> (img, boxes_px, labels)``.

    Each call draws from its own generator seeded by ``(seed, call key)`` when given a key, so a resumed run and
    a run with data-loader workers see the same samples.
    """

    def __init__(self, seed: int = 0, expand_max: float = 2.0, p_expand: float = 0.5) -> None:
        self.seed = seed
        self.expand_max = float(expand_max)
        self.p_expand = p_expand
        self._rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, key: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self._rng if key is None else np.random.default_rng([self.seed, key])
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(labels, np.int64).reshape(-1)
        img = photometric(img, r)
        if self.expand_max > 1 and r.random() < self.p_expand:
            img, boxes = expand(img, boxes, r, self.expand_max)
        img, boxes, labels = random_crop(img, boxes, labels, r)
        if r.random() < 0.5:
            w = img.shape[1]
            img = np.ascontiguousarray(img[:, ::-1])
            boxes = boxes.copy()
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        return np.ascontiguousarray(img), boxes, labels
