"""Export of the mobile model with explicit recurrent state gives the model's outputs (torch.export and
TorchScript)."""

from __future__ import annotations

import pytest
import torch

from tssd_ros.model import build_detector, tiny_config
from tssd_ros.model.export import export_model, load_exported


@pytest.mark.parametrize("fmt,name", [("export", "tiny.pt2"), ("torchscript", "tiny.ts")])
def test_export_matches_model(tmp_path, fmt, name):
    det = build_detector(tiny_config(), seed=4)
    model = det.model.eval()
    step = load_exported(export_model(model, tmp_path / name, fmt=fmt))
    g = torch.Generator().manual_seed(0)
    state = [t for hc in model.init_state(1) for t in hc]
    ref_state = None
    with torch.inference_mode():
        for _ in range(3):
            x = torch.randn(1, 3, 128, 128, generator=g) * 60
            loc, probs, maps, *state = step(x, *state)
            ref = model.forward_frame(x, ref_state)
            ref_state = ref.state
            torch.testing.assert_close(loc, ref.loc, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(probs, ref.conf.softmax(-1), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(maps, model.appearance_maps(ref), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(state[0], ref.state[0][0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(state[1], ref.state[0][1], atol=1e-5, rtol=1e-4)
    assert len(state) == 2 and tuple(state[0].shape) == model.state_shapes(1)[0]
