"""Streaming API: step == batched unroll, reset, state round-trip, post-processing, attention vectors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.errors import InputError
from tssd_ros.model import DetectorConfig, PostprocessConfig, build_detector, tiny_config
from tssd_ros.model.box_coder import decode
from tssd_ros.model.postprocess import detect, roi_vectors


def frames(n: int, h: int = 120, w: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return [np.roll(base, 4 * t, axis=1) for t in range(n)]


@pytest.fixture(scope="module", params=["bottleneck_lstm", "ac_lstm", "conv_lstm"])
def det(request):
    return build_detector(tiny_config(temporal=request.param), seed=1)


def test_step_equals_batched_unroll(det):
    fs = frames(4)
    det.reset()
    outs = []
    with torch.inference_mode():
        xs = torch.cat([det.preprocess_image(f) for f in fs])
        state = None
        for x in xs:
            o = det.model.forward_frame(x[None], state)
            state = o.state
            outs.append(o)
        clip = det.model(xs[None])
    for t, o in enumerate(outs):
        torch.testing.assert_close(clip["loc"][0, t], o.loc[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(clip["conf"][0, t], o.conf[0], atol=1e-5, rtol=1e-4)
    for (h1, c1), (h2, c2) in zip(clip["state"], state, strict=True):
        torch.testing.assert_close(h1, h2, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(c1, c2, atol=1e-5, rtol=1e-4)
    if det.config.temporal == "ac_lstm":
        assert clip["attention"][0].shape[:2] == (1, 4)
    # the recurrent state matters: frame 2 with carried state differs from frame 2 alone
    with torch.inference_mode():
        alone = det.model.forward_frame(xs[2:3])
    assert not torch.allclose(alone.conf, outs[2].conf, atol=1e-4)
    # Detector.step gives the post-processed batched outputs
    det.reset()
    for f in fs:
        d = det.step(f)
    b, s, lab = detect(clip["loc"][0, -1], clip["conf"][0, -1].softmax(-1), det.model.priors, det.postprocess)
    np.testing.assert_allclose(d.scores, s.numpy(), atol=1e-5)
    np.testing.assert_array_equal(d.labels, lab.numpy())


def test_reset_and_state_round_trip():
    det = build_detector(tiny_config(temporal="ac_lstm"), seed=1)
    fs = frames(3, seed=5)
    det.reset()
    assert det.get_state() is None
    first = det.step(fs[0])
    det.step(fs[1])
    saved = det.get_state()
    scratch = det.get_state()
    with torch.inference_mode():  # the live state is made in inference mode: allow writing to it if not a copy
        for h, c in scratch:
            h.fill_(7.0)
            c.fill_(7.0)
    # a copy, not the live state: writing to it changed neither the detector nor the other copy
    assert not torch.equal(scratch[0][0], det.get_state()[0][0])
    assert not torch.equal(scratch[0][0], saved[0][0])
    a = det.step(fs[2])
    det.set_state(saved)
    b = det.step(fs[2])
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    det.reset()
    again = det.step(fs[0])
    np.testing.assert_array_equal(first.boxes, again.boxes)
    np.testing.assert_array_equal(first.attention, again.attention)
    with pytest.raises(ValueError, match="state does not fit"):
        det.set_state([(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))] * 7)


def test_detections_fields_and_runtime_thresholds():
    d = build_detector(tiny_config(), seed=2)
    f = frames(1, 90, 130)[0]
    out = d.step(f)
    assert len(out) > 0 and out.class_names == UNDERWATER_CLASSES
    assert out.attention.shape == (len(out), 147)
    np.testing.assert_allclose(np.linalg.norm(out.attention, axis=1), 1, atol=1e-5)  # feature_mean: L2-normalised
    assert out.boxes[:, [0, 2]].max() > 60  # pixels, not normalised
    d.reset()
    d.set_postprocess(class_filter=(1,), top_k=3)
    out = d.step(f)
    assert set(out.labels.tolist()) <= {1} and len(out) <= 3
    d.reset()
    d.set_postprocess(conf_threshold=0.999, class_filter=None)
    empty = d.step(f)
    assert len(empty) == 0 and empty.attention.shape == (0, 147)
    with pytest.raises(InputError):
        d.step(np.zeros((10, 10), np.uint8))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        d16 = build_detector(tiny_config(), seed=2)
        from tssd_ros.model.detector import Detector

        d16 = Detector(d16.model, d16.class_names, fp16=True)
    assert d16.dtype == torch.float32  # fp16 is CUDA-only


def reference_nms_detect(loc, conf, priors, thr, nms, top_k):
    """Per-class loop with the reference's sequential greedy NMS (descending score)."""
    boxes = decode(loc, priors)
    probs = conf.softmax(-1)
    rows = []
    for cl in range(1, probs.shape[1]):
        m = probs[:, cl] > thr
        sc, bx = probs[m, cl], boxes[m]
        order = sc.argsort(descending=True)[:top_k].tolist()
        while order:
            i = order.pop(0)
            rows.append((cl - 1, float(sc[i]), bx[i]))
            if not order:
                break
            o = torch.tensor(order)
            x1, y1 = bx[o, 0].clamp(min=float(bx[i, 0])), bx[o, 1].clamp(min=float(bx[i, 1]))
            x2, y2 = bx[o, 2].clamp(max=float(bx[i, 2])), bx[o, 3].clamp(max=float(bx[i, 3]))
            inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
            area = (bx[o, 2] - bx[o, 0]) * (bx[o, 3] - bx[o, 1])
            ai = (bx[i, 2] - bx[i, 0]) * (bx[i, 3] - bx[i, 1])
            iou = inter / ((area - inter) + ai)
            order = [k for k, keep in zip(order, (iou <= nms).tolist(), strict=True) if keep]
    return rows


@pytest.mark.parametrize("thr,nms,top_k", [(0.2, 0.45, 200), (0.3, 0.3, 15), (0.05, 0.6, 50)])
def test_vectorised_nms_equals_sequential_greedy(thr, nms, top_k):
    g = torch.Generator().manual_seed(int(thr * 100) + top_k)
    p = 600
    centres = torch.rand(20, 2, generator=g)  # clustered priors: heavy overlap
    priors = torch.cat([centres[torch.randint(0, 20, (p,), generator=g)] + 0.02 * torch.randn(p, 2, generator=g),
                        0.05 + 0.2 * torch.rand(p, 2, generator=g)], 1)
    loc = torch.randn(p, 4, generator=g) * 0.5
    conf = torch.randn(p, 5, generator=g) * 2
    ref = reference_nms_detect(loc, conf, priors, thr, nms, top_k)
    b, s, lab = detect(loc, conf.softmax(-1), priors, PostprocessConfig(conf_threshold=thr, nms_iou=nms, top_k=top_k))
    assert len(ref) == len(s) > 10
    np.testing.assert_array_equal(lab.numpy(), [r[0] for r in ref])
    np.testing.assert_allclose(s.numpy(), [r[1] for r in ref], atol=1e-6)
    torch.testing.assert_close(b, torch.stack([r[2] for r in ref]))
    per_class = np.bincount(lab.numpy(), minlength=4)
    assert per_class.max() <= top_k


def per_box_crop(maps: torch.Tensor, box: list[float]) -> torch.Tensor:
    """The reference crop + resize, with the at-least-one-cell rule for empty crops."""
    _, h, w = maps.shape
    x0 = min(max(0, math.floor(box[0] * w)), w - 1)
    y0 = min(max(0, math.floor(box[1] * h)), h - 1)
    x1 = max(min(w, math.ceil(box[2] * w)), x0 + 1)
    y1 = max(min(h, math.ceil(box[3] * h)), y0 + 1)
    crop = maps[:, y0:y1, x0:x1]
    return F.interpolate(crop[None], size=(7, 7), mode="bilinear", align_corners=True).reshape(-1)


def test_vectorised_attention_vectors_equal_per_box_crop():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 38, 38, generator=g)
    xy = torch.rand(200, 2, generator=g) * 1.1 - 0.05
    wh = torch.rand(200, 2, generator=g) * 0.6
    boxes = torch.cat([xy, xy + wh], 1)
    edge = torch.tensor([
        [0.0, 0.0, 1.0, 1.0],  # whole image
        [-0.3, -0.2, 0.1, 0.05],  # outside top-left
        [0.95, 0.97, 1.4, 1.2],  # outside bottom-right
        [1.0, 1.0, 1.1, 1.1],  # starts at the border: empty in the reference
        [0.5, 0.5, 0.5, 0.5],  # zero size
        [0.501, 0.3, 0.502, 0.301],  # smaller than a cell
        [2.0, 2.0, 3.0, 3.0],  # fully outside
        [0.6, 0.6, 0.4, 0.4],  # reversed
    ])
    boxes = torch.cat([boxes, edge])
    vec = roi_vectors(maps, boxes)
    assert vec.shape == (len(boxes), 147) and torch.isfinite(vec).all()
    ref = torch.stack([per_box_crop(maps, b.tolist()) for b in boxes])
    torch.testing.assert_close(vec, ref, atol=1e-5, rtol=1e-5)
    # the whole-image box samples the map on its own pixel grid: its corner samples are the map's corners exactly
    whole = vec[len(boxes) - len(edge)].reshape(3, 7, 7)
    corners = ([0, 0, -1, -1], [0, -1, 0, -1])
    assert torch.equal(whole[:, corners[0], corners[1]], maps[:, corners[0], corners[1]])
    # a box's vector does not depend on the other boxes of the frame
    assert torch.equal(roi_vectors(maps, edge[:1])[0], vec[len(boxes) - len(edge)])
    nan = roi_vectors(maps, torch.tensor([[float("nan"), 0.1, float("inf"), 0.5]]))
    assert torch.isfinite(nan).all()
    normed = roi_vectors(maps, boxes, normalize=True)
    torch.testing.assert_close(normed.norm(dim=1), torch.ones(len(boxes)))


def test_attention_mode_of_vgg_and_mobile_models():
    with torch.device("meta"):
        from tssd_ros.model.tssd import TSSD

        assert TSSD(DetectorConfig(), init_weights=False).appearance_mode == "attention"
        assert TSSD(DetectorConfig(temporal="none"), init_weights=False).appearance_mode == "feature_mean"
        assert TSSD(tiny_config(), init_weights=False).appearance_mode == "feature_mean"


def test_cross_class_suppression_keeps_one_class_per_animal():
    """Two priors on one animal, one scored urchin, one starfish: per-class NMS keeps both (the reference);
    cross_class_iou keeps the higher score only; a distant box of another class is untouched."""
    priors = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.8, 0.8, 0.1, 0.1]])
    loc = torch.zeros(3, 4)
    conf = torch.full((3, 5), -5.0)
    conf[0, 1], conf[1, 4], conf[2, 4] = 3.0, 2.0, 2.0  # urchin-like, starfish on the same animal, starfish far
    b, s, lab = detect(loc, conf.softmax(-1), priors, PostprocessConfig(conf_threshold=0.3))
    assert lab.tolist() == [0, 3, 3]
    b, s, lab = detect(loc, conf.softmax(-1), priors, PostprocessConfig(conf_threshold=0.3, cross_class_iou=0.5))
    assert lab.tolist() == [0, 3] and float(b[1, 0]) > 0.7  # grouped by class; the far starfish stays
