"""SSD-stage augmentation: the table-driven photometric distortion is the per-pixel formula, byte for byte; expand and
the whole chain keep every box on its object."""

from __future__ import annotations

import cv2
import numpy as np

from tssd_ros.train.augment import SSDAugment, expand, photometric


def _per_pixel(img: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """SSD's PhotometricDistort written out on every pixel in float32 (the oracle for the 256-entry tables)."""
    x = img.astype(np.float32)
    if r.random() < 0.5:
        x += r.uniform(-32, 32)
    contrast_first = r.random() < 0.5
    if contrast_first and r.random() < 0.5:
        x *= r.uniform(0.6, 1.4)
    if r.random() < 0.5 or r.random() < 0.5:
        hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
        if r.random() < 0.5:
            hsv[..., 1] *= r.uniform(0.6, 1.4)
        if r.random() < 0.5:
            hsv[..., 0] = (hsv[..., 0] + r.uniform(-9, 9)) % 180
        x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if not contrast_first and r.random() < 0.5:
        x *= r.uniform(0.6, 1.4)
    return np.clip(x, 0, 255).astype(np.uint8)


def test_photometric_is_the_per_pixel_formula_byte_for_byte():
    img = np.random.default_rng(0).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    for seed in range(300):
        ra, rb = np.random.default_rng(seed), np.random.default_rng(seed)
        assert np.array_equal(photometric(img, ra), _per_pixel(img, rb)), seed
        assert ra.random() == rb.random()  # the same draws: the rest of the chain sees the same numbers


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img = np.full((120, 160, 3), 40, np.uint8)
    boxes = np.array([[10, 20, 40, 50], [90, 60, 150, 110]], np.float32)
    for b, c in zip(boxes.astype(int), ((0, 0, 255), (255, 0, 0)), strict=True):
        img[b[1]:b[3], b[0]:b[2]] = c
    return img, boxes, np.array([1, 2])


def test_expand_puts_the_image_on_a_canvas_of_its_mean():
    img, boxes, _ = _scene()
    canvas, moved = expand(img, boxes, np.random.default_rng(3), 2.0)
    assert canvas.shape[0] >= img.shape[0] and canvas.shape[1] >= img.shape[1]
    left, top = int(moved[0, 0] - boxes[0, 0]), int(moved[0, 1] - boxes[0, 1])
    assert np.array_equal(canvas[top:top + 120, left:left + 160], img)
    mean = img.reshape(-1, 3).mean(0).astype(np.uint8)
    assert (canvas[0, 0] == mean).all() or (canvas[-1, -1] == mean).all()


def test_the_chain_keeps_every_box_on_its_object():
    img, boxes, labels = _scene()
    aug, kept = SSDAugment(seed=5, expand_max=2.0, p_expand=0.5), 0
    for key in range(60):
        out, b, lab = aug(img, boxes, labels, key=key)
        for box, la in zip(b.astype(int), lab, strict=True):
            x0, y0, x1, y1 = box
            if min(x1 - x0, y1 - y0) < 3:
                continue
            patch = out[y0 + 1:y1 - 1, x0 + 1:x1 - 1].astype(int)
            red, blue = patch[..., 2] - patch[..., 0], patch[..., 0] - patch[..., 2]  # hue jitter keeps the order
            assert np.median(red if la == 1 else blue) > 0, (key, la)
            kept += 1
    assert kept > 60
