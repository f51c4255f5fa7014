"""MultiBox heads: per-scale loc/conf convs; outputs flattened in (scale, y, x, anchor) order."""

from __future__ import annotations

import torch
from torch import nn


def _head_conv(cin: int, cout: int, separable: bool) -> nn.Module:
    if not separable:
        return nn.Conv2d(cin, cout, 3, padding=1)
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1))


class MultiBoxHead(nn.Module):
    """3x3 convs (separable for the mobile model); conf channel for anchor a, class c is a * C + c."""

    def __init__(self, in_channels: list[int], anchors: list[int], num_classes: int, separable: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.loc = nn.ModuleList([_head_conv(c, a * 4, separable) for c, a in zip(in_channels, anchors, strict=True)])
        self.conf = nn.ModuleList(
            [_head_conv(c, a * num_classes, separable) for c, a in zip(in_channels, anchors, strict=True)]
        )

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> loc (B, P, 4), conf logits (B, P, C)."""
        b = feats[0].shape[0]
        loc = torch.cat([m(x).permute(0, 2, 3, 1).reshape(b, -1) for x, m in zip(feats, self.loc, strict=True)], 1)
        conf = torch.cat([m(x).permute(0, 2, 3, 1).reshape(b, -1) for x, m in zip(feats, self.conf, strict=True)], 1)
        return loc.view(b, -1, 4), conf.view(b, -1, self.num_classes)
