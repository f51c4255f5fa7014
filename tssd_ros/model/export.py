"""Deployment export (``torch.export`` .pt2, a TorchScript trace, or ONNX), recurrent state as explicit
inputs/outputs.

Why explicit state: a traced graph cannot keep Python-side state; the runtime (C++/ROS) feeds back the
returned h, c tensors each frame. Inputs: image (B, 3, S, S) preprocessed, then h0, c0, h1, c1, ... (zeros at
a stream start, shapes from ``TSSD.state_shapes``). Outputs: loc (B, P, 4), class probabilities (B, P, C),
appearance maps (B, 3, S0, S0), then the new h0, c0, h1, c1, ...
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from tssd_ros.model.tssd import TSSD


class StepModule(nn.Module):
    """One streaming step of a TSSD with flat explicit state (what gets traced)."""

    def __init__(self, model: TSSD) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pairs = [(state[2 * i], state[2 * i + 1]) for i in range(len(state) // 2)]
        out = self.model.forward_frame(x, pairs if pairs else None)
        maps = self.model.appearance_maps(out)
        flat = [t for hc in out.state for t in hc]
        return (out.loc, out.conf.softmax(-1), maps, *flat)


def _example(model: TSSD, batch: int) -> tuple[torch.Tensor, ...]:
    s = model.config.input_size
    return (torch.zeros(batch, 3, s, s), *[t for hc in model.init_state(batch) for t in hc])


@contextlib.contextmanager
def _on_cpu(model: TSSD) -> Iterator[None]:
    """Every exporter traces the model in eval mode on the CPU without gradients; its device is restored."""
    was = next(model.parameters()).device
    model.eval().to("cpu")
    try:
        with torch.no_grad():
            yield
    finally:
        model.to(was)


def _state_names(model: TSSD, suffix: str = "") -> list[str]:
    return [f"{k}{i}{suffix}" for i in range(len(model.state_shapes(1))) for k in ("h", "c")]


def input_names(model: TSSD) -> list[str]:
    """The ONNX step's input names in order: ``image``, ``h0``, ``c0``, ... (a graph may drop unused ones)."""
    return ["image", *_state_names(model)]


def onnx_bytes(model: TSSD, batch: int = 1, opset: int = 17) -> bytes:
    """One streaming step as an ONNX model (CPU, float32, eval mode), in memory: inputs ``image``, ``h0``,
    ``c0``, ...; outputs ``loc``, ``probs``, ``maps``, ``h0_out``, ``c0_out``, ... Needs the ``onnx`` package.
    The exporter is the TorchScript-based one: the graph has static shapes, like the node's input."""
    buf = io.BytesIO()
    with _on_cpu(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(StepModule(model).eval(), _example(model, batch), buf, dynamo=False, opset_version=opset,
                          input_names=input_names(model),
                          output_names=["loc", "probs", "maps", *_state_names(model, "_out")])
    return buf.getvalue()


def export_model(model: TSSD, path: str | os.PathLike, batch: int = 1, fmt: str = "export") -> Path:
    """Export one streaming step on CPU float32 in eval mode.

    fmt ``export``: ``torch.export`` program saved with ``torch.export.save`` (.pt2; for AOTInductor/ExecuTorch);
    ``torchscript``: ``torch.jit.trace`` (deprecated in recent PyTorch but loadable from C++ libtorch);
    ``onnx``: :func:`onnx_bytes` written to ``path`` (ONNX Runtime, TensorRT, OpenVINO).
    """
    if fmt == "onnx":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(onnx_bytes(model, batch))
        return path
    if fmt not in ("export", "torchscript"):
        raise ValueError(f"fmt must be 'export', 'torchscript' or 'onnx', got {fmt!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _on_cpu(model):
        example = _example(model, batch)
        if fmt == "export":
            torch.export.save(torch.export.export(StepModule(model), example), str(path))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(torch.jit.trace(StepModule(model), example, check_trace=False), str(path))
    return path


def load_exported(path: str | os.PathLike) -> Callable[..., tuple[torch.Tensor, ...]]:
    """A callable ``(x, *state) -> (loc, probs, maps, *new_state)`` from either export format."""
    path = Path(path)
    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")
