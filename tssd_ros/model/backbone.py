"""Backbones: the reference's VGG16-SSD300 trunk + extras, and MobileNetV1 with SSDLite extras.

Module names keep the reference's ``vgg.N`` / ``extras.N`` indices so reference checkpoints map by prefix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VGG_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512)
EXTRAS_CFG = (256, "S", 512, 128, "S", 256, 128, 256, 128, 256)


class L2Norm(nn.Module):
    """Per-channel learned scale of the L2-normalised conv4_3 (eps added after the sqrt, as the reference)."""

    def __init__(self, channels: int = 512, scale: float = 20.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return self.weight.view(1, -1, 1, 1) * (x / norm)  # out of place: the trunk continues un-normalised


def _vgg_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    c = 3
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif v == "C":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            c = int(v)
    layers += [
        nn.MaxPool2d(3, 1, 1),  # pool5 (30)
        nn.Conv2d(512, 1024, 3, padding=6, dilation=6),  # conv6 (31)
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 512, 1),  # conv7 (33): 512 not 1024, so scales 0-2 share one temporal unit
        nn.ReLU(inplace=True),
    ]
    return layers


def _extras_layers(c: int = 512) -> list[nn.Module]:
    layers: list[nn.Module] = []
    flag = False
    for k, v in enumerate(EXTRAS_CFG):
        if c != "S":
            if v == "S":
                layers.append(nn.Conv2d(c, EXTRAS_CFG[k + 1], (1, 3)[flag], stride=2, padding=1))
            else:
                layers.append(nn.Conv2d(c, v, (1, 3)[flag]))
            flag = not flag
        c = v
    return layers


class VGG16Backbone(nn.Module):
    """SSD300 VGG16 -> six sources (38, 19, 10, 5, 3, 1) with (512, 512, 512, 256, 256, 256) channels."""

    out_channels = (512, 512, 512, 256, 256, 256)
    conv4_3 = 23  # vgg[:23] ends with conv4_3's ReLU

    def __init__(self) -> None:
        super().__init__()
        self.vgg = nn.ModuleList(_vgg_layers())
        self.l2norm = L2Norm(512, 20.0)
        self.extras = nn.ModuleList(_extras_layers())

    @staticmethod
    def feature_sizes(input_size: int = 300) -> tuple[int, ...]:
        return (38, 19, 10, 5, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        for k in range(self.conv4_3):
            x = self.vgg[k](x)
        sources = [self.l2norm(x)]
        for k in range(self.conv4_3, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, v in enumerate(self.extras):
            x = F.relu(v(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        return sources


def _ch(c: float) -> int:
    return max(8, int(round(c)))


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(True)
    )


def dw_sep(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise-separable block: 3x3 depthwise + 1x1 pointwise, each BN + ReLU6."""
    return nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1))


_MOBILENET = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))


class MobileNetV1Backbone(nn.Module):
    """MobileNetV1 (width alpha) -> [Conv11 (stride 16, 512a), Conv13 (stride 32, 1024a)]."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, _ch(32 * alpha), 3, 2)]
        c = _ch(32 * alpha)
        for cout, s in _MOBILENET:
            layers.append(dw_sep(c, _ch(cout * alpha), s))
            c = _ch(cout * alpha)
        self.layers = nn.ModuleList(layers)
        self.out_channels = (_ch(512 * alpha), _ch(1024 * alpha))

    @staticmethod
    def feature_sizes(input_size: int) -> tuple[int, ...]:
        """Sizes of Conv11, Conv13 and the four extras (each stride-2 3x3 pad 1: ceil(n / 2))."""
        n = input_size
        for _ in range(4):
            n = (n + 1) // 2
        sizes = [n]
        for _ in range(5):
            n = (n + 1) // 2
            sizes.append(n)
        return tuple(sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        for k in range(12):  # stem + 11 blocks = Conv11
            x = self.layers[k](x)
        conv11 = x
        for k in range(12, len(self.layers)):
            x = self.layers[k](x)
        return [conv11, x]


class MobileExtras(nn.Module):
    """SSDLite extras at alpha_ssd = 0.5 alpha: 1x1 -> depthwise 3x3 stride 2 -> 1x1, four times.

    Runs after the temporal unit (LSTM-SSD places the LSTM after Conv13 and builds the SSD maps on it).
    """

    def __init__(self, in_channels: int, alpha: float = 1.0) -> None:
        super().__init__()
        outs = [_ch(c * 0.5 * alpha) for c in (512, 256, 256, 128)]
        blocks = []
        c = in_channels
        for o in outs:
            mid = _ch(o / 2)
            blocks.append(nn.Sequential(conv_bn(c, mid, 1), conv_bn(mid, mid, 3, 2, groups=mid), conv_bn(mid, o, 1)))
            c = o
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = tuple(outs)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out = list(feats)
        x = feats[-1]
        for b in self.blocks:
            x = b(x)
            out.append(x)
        return out
