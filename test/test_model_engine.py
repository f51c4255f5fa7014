"""Inference engines: ONNX Runtime runs the same streaming step as eager PyTorch (outputs within 1e-4, state
carried), ``auto`` picks it on the CPU, and a wrong choice is one clear error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tssd_ros.errors import TssdError
from tssd_ros.model import build_detector, load_detector, tiny_config
from tssd_ros.model.engine import OnnxRuntimeEngine, TorchEngine, build_engine
from tssd_ros.model.export import export_model
from tssd_ros.paths import SOURCE_ROOT

pytest.importorskip("onnxruntime")
SHIPPED = SOURCE_ROOT / "weights" / "tssd_mobile_underwater.pt"


def _frames(n: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, size, size, generator=g) * 60 for _ in range(n)]


def _assert_steps_equal(model, frames, atol: float = 1e-4) -> None:
    eager, ort = TorchEngine(model), OnnxRuntimeEngine(model)
    s_eager = s_ort = None
    with torch.inference_mode():
        for x in frames:
            a, b = eager(x, s_eager), ort(x, s_ort)
            s_eager, s_ort = a.state, b.state
            for name in ("loc", "probs", "maps"):
                torch.testing.assert_close(getattr(b, name), getattr(a, name), atol=atol, rtol=1e-4, msg=name)
            for (ha, ca), (hb, cb) in zip(a.state, b.state, strict=True):
                torch.testing.assert_close(hb, ha, atol=atol, rtol=1e-4)
                torch.testing.assert_close(cb, ca, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("temporal", ["bottleneck_lstm", "ac_lstm", "none", "stateless"])
def test_onnxruntime_step_equals_eager(temporal):
    """``stateless``: a TSSD run as its single-frame SSD (the shipped SSD): its graph has no state inputs."""
    cfg = tiny_config(temporal="bottleneck_lstm" if temporal == "stateless" else temporal)
    if temporal == "stateless":
        cfg = dataclasses.replace(cfg, stateless=True)
    model = build_detector(cfg, seed=3).model.eval()
    _assert_steps_equal(model, _frames(4, 128))


def test_shipped_weights_equal_under_onnxruntime():
    """The default model: raw outputs within 1e-4, and the detector's detections the same on a dive."""
    if not SHIPPED.exists():
        pytest.skip("shipped weights not present")
    eager = load_detector(SHIPPED, backend="torch")
    _assert_steps_equal(eager.model, _frames(3, eager.input_size, seed=1))
    ort = load_detector(SHIPPED, backend="onnxruntime")
    from tssd_ros.data.synth import DiveRenderer, SynthConfig

    r = DiveRenderer(SynthConfig(seed=31, frames=6, width=320, height=240))
    n = 0
    for i in range(6):
        img = r.render(i).image
        a, b = eager.step(img), ort.step(img)
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-2)  # pixels
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-4)
        np.testing.assert_allclose(b.attention, a.attention, atol=1e-4)
        n += len(a)
    assert n > 0  # the comparison saw detections


def test_exported_onnx_file_runs(tmp_path):
    import onnxruntime as ort

    model = build_detector(tiny_config(), seed=5).model.eval()
    path = export_model(model, tmp_path / "tiny.onnx", fmt="onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image", "h0", "c0"]
    x = _frames(1, 128)[0]
    zeros = [t.numpy() for hc in model.init_state(1) for t in hc]
    loc, probs, *_ = sess.run(None, {"image": x.numpy(), "h0": zeros[0], "c0": zeros[1]})
    with torch.inference_mode():
        ref = model.forward_frame(x)
    np.testing.assert_allclose(loc, ref.loc.numpy(), atol=1e-4)
    np.testing.assert_allclose(probs, ref.conf.softmax(-1).numpy(), atol=1e-4)


def test_auto_backend_and_errors():
    det = build_detector(tiny_config(), seed=1)
    assert det.backend == "torch"  # training and tests edit weights: eager unless asked
    assert build_engine(det.model, "auto").name == "onnxruntime"
    with pytest.raises(TssdError, match="backend must be one of"):
        build_engine(det.model, "tensorrt")
    with pytest.raises(TssdError, match="use backend torch"):
        build_engine(det.model, "onnxruntime", device="cuda")


def test_threads_go_to_onnxruntime_and_torch_keeps_one(tiny_weights):
    """The node's pipeline: `threads` sizes ONNX Runtime's pool; torch, left with post-processing, gets one thread
    (its idle workers would spin on the cores ONNX Runtime needs). conftest restores torch's count afterwards."""
    from tssd_ros.pipeline import Pipeline

    det = Pipeline.from_params(None, weights=str(tiny_weights), backend="onnxruntime", threads=2).detector
    assert det.engine.threads == 2 and torch.get_num_threads() == 1
    det = Pipeline.from_params(None, weights=str(tiny_weights), backend="torch", threads=2).detector
    assert det.backend == "torch" and torch.get_num_threads() == 2
