"""An exponential moving average of the weights over a stage (the stage key ``ema_decay``).

Why: small-batch SGD on a CPU ends wherever its last noisy steps left it; the average of the last few hundred
iterations lies nearer the middle of that walk and usually scores higher (the practice of YOLOv5/v8's
``ModelEMA``). The averaging is PyTorch's own (``AveragedModel`` with ``get_ema_multi_avg_fn``, buffers
included, so batch-norm statistics match the averaged weights); this class adds what a resumable run needs: its
state travels in the resume point, and the stage's output is the average.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightEMA:
    """``W_ema <- decay * W_ema + (1 - decay) * W`` after every optimiser step; the first update copies ``W``.
    A decay ``d`` averages over roughly the last ``1 / (1 - d)`` iterations."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    def update(self, model: nn.Module) -> None:
        self.average.update_parameters(model)

    @property
    def updates(self) -> int:
        return int(self.average.n_averaged)

    def state_dict(self) -> dict[str, Any]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Put the averaged weights (and buffers) into ``model``; nothing happens before the first update."""
        if self.updates:
            model.load_state_dict(self.average.module.state_dict())
