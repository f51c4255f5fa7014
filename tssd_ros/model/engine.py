"""Inference engines: one streaming step of a TSSD, ``(x, state) -> loc, probs, appearance maps, new state``.

Why engines: the detector's pre- and post-processing, thresholds and recurrent-state bookkeeping are the same
whatever runs the network. ``torch`` runs the nn.Module eagerly (any device, fp16 on CUDA, weights editable);
``onnxruntime`` runs the same step exported to ONNX with the recurrent state as explicit inputs/outputs
(:func:`tssd_ros.model.export.onnx_bytes`, made in memory from the loaded weights, so there is no second file
to keep in sync). On this project's 2-core CPU the exported graph is about twice as fast (`make bench`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch

from tssd_ros.errors import TssdError
from tssd_ros.model.temporal import State
from tssd_ros.model.tssd import TSSD
from tssd_ros.params import BACKENDS


class StepOutput(NamedTuple):
    """One frame of batch 1: loc (P, 4) encoded offsets, probs (P, C) softmax, maps (M, H, W) for the OTA
    appearance vectors, and the new recurrent state."""

    loc: torch.Tensor
    probs: torch.Tensor
    maps: torch.Tensor
    state: State


class TorchEngine:
    """The nn.Module itself (eager PyTorch)."""

    name = "torch"

    def __init__(self, model: TSSD) -> None:
        self.model = model

    def __call__(self, x: torch.Tensor, state: State | None) -> StepOutput:
        out = self.model.forward_frame(x, state)
        maps = self.model.appearance_maps(out)[0].float()
        return StepOutput(out.loc[0].float(), out.conf[0].float().softmax(-1), maps, out.state)


class OnnxRuntimeEngine:
    """The model's step exported to ONNX and run by ONNX Runtime on the CPU (float32).

    ``threads``: ONNX Runtime's intra-op threads (default: torch's thread count, which the ``threads``
    parameter sets). Spinning worker threads are turned off: on a small CPU they would take the cores the DDS
    and Python threads of the node need between frames.
    """

    name = "onnxruntime"

    def __init__(self, model: TSSD, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise TssdError("backend onnxruntime: the onnxruntime package is not installed "
                            "(pip install onnxruntime, or use backend torch)") from e
        from tssd_ros.model.export import input_names, onnx_bytes

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.threads = opts.intra_op_num_threads
        self.session = ort.InferenceSession(onnx_bytes(model), opts, providers=["CPUExecutionProvider"])
        # the exporter drops inputs the graph does not read (the state of a `stateless` single-frame model)
        used = {i.name for i in self.session.get_inputs()}
        self._inputs = [(k, name) for k, name in enumerate(input_names(model)) if name in used]
        self._zeros = [t.numpy() for hc in model.init_state(1) for t in hc]

    def __call__(self, x: torch.Tensor, state: State | None) -> StepOutput:
        flat = self._zeros if state is None else [t.numpy() for hc in state for t in hc]
        arrays = [x.numpy(), *flat]
        feeds = {name: arrays[k] for k, name in self._inputs}
        loc, probs, maps, *new = (torch.from_numpy(a) for a in self.session.run(None, feeds))
        pairs = [(new[2 * i], new[2 * i + 1]) for i in range(len(new) // 2)]
        return StepOutput(loc[0], probs[0], maps[0], pairs)


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _auto(model: TSSD, device: torch.device, fp16: bool) -> Callable[[torch.Tensor, State | None], StepOutput]:
    if device.type != "cpu" or fp16 or not onnxruntime_available():
        return TorchEngine(model)
    try:
        return OnnxRuntimeEngine(model)
    except Exception as e:  # noqa: BLE001 - an architecture the exporter cannot take still runs eagerly
        warnings.warn(f"ONNX export failed ({type(e).__name__}: {str(e)[:120]}); running eager PyTorch",
                      stacklevel=3)
        return TorchEngine(model)


def build_engine(model: TSSD, backend: str = "torch", device: torch.device | str = "cpu", fp16: bool = False
                 ) -> TorchEngine | OnnxRuntimeEngine:
    """The engine for ``backend``: ``torch``, ``onnxruntime`` (CPU, float32) or ``auto`` (ONNX Runtime on the
    CPU when it is installed and the model exports, else torch). The model must already be on ``device``."""
    device = torch.device(device)
    if backend == "auto":
        return _auto(model, device, fp16)
    if backend == "torch":
        return TorchEngine(model)
    if backend == "onnxruntime":
        if device.type != "cpu" or fp16:
            raise TssdError("backend onnxruntime runs on the CPU in float32; use backend torch for CUDA or fp16")
        return OnnxRuntimeEngine(model)
    raise TssdError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
