"""SSD box encoding/decoding with variances, op for op as the reference (decode is not clipped)."""

from __future__ import annotations

import torch


def decode(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> torch.Tensor:
    """Offsets (..., P, 4) + priors (P, 4) cx,cy,w,h -> boxes (..., P, 4) x1,y1,x2,y2 (normalised)."""
    ctr = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    wh = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    x1y1 = ctr - wh / 2
    return torch.cat([x1y1, wh + x1y1], -1)


def encode(boxes: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> torch.Tensor:
    """Matched ground-truth boxes (..., P, 4) x1,y1,x2,y2 -> regression targets (training)."""
    g_c = ((boxes[..., :2] + boxes[..., 2:]) / 2 - priors[..., :2]) / (variances[0] * priors[..., 2:])
    g_wh = torch.log((boxes[..., 2:] - boxes[..., :2]) / priors[..., 2:]) / variances[1]
    return torch.cat([g_c, g_wh], -1)


def point_form(priors: torch.Tensor) -> torch.Tensor:
    """cx, cy, w, h -> x1, y1, x2, y2."""
    return torch.cat([priors[..., :2] - priors[..., 2:] / 2, priors[..., :2] + priors[..., 2:] / 2], -1)
