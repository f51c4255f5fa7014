"""Weight initialisation for training from scratch.

Why: the model package initialises every conv with Kaiming fan-in (keeps activations alive in untrained test
models), which makes the heads' initial logits and offsets large: the cross-entropy saturates and hard negative
mining picks noise. SSD training starts the heads small and, as in RetinaNet, biases the classifier towards
background so that the first iterations do not spend themselves on the thousands of easy negatives.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tssd_ros.model.tssd import TSSD


def _last_conv(m: nn.Module) -> nn.Conv2d:
    convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    return convs[-1]


@torch.no_grad()
def init_heads(model: TSSD, foreground_prior: float = 0.01, std: float = 0.01) -> None:
    """Small-normal init of the last conv of every loc/conf head; conf bias so that each foreground class starts
    at ``foreground_prior`` probability."""
    c = model.num_classes
    bg_bias = math.log((1 - (c - 1) * foreground_prior) / foreground_prior)
    for head in model.heads.loc:
        conv = _last_conv(head)
        nn.init.normal_(conv.weight, 0.0, std)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
    for head in model.heads.conf:
        conv = _last_conv(head)
        nn.init.normal_(conv.weight, 0.0, std)
        if conv.bias is not None:
            bias = torch.zeros(conv.out_channels // c, c)
            bias[:, 0] = bg_bias
            conv.bias.copy_(bias.flatten())
