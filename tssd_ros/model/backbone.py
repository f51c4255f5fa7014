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
    """TF-slim's channel rule, ``max(int(c * width), 8)``: the pretrained files are built with it."""
    return max(8, int(c))


class Conv2dSame(nn.Conv2d):
    """Conv with TensorFlow ``SAME`` padding (the extra pixel goes bottom/right on stride 2).

    Why: the ImageNet MobileNets in ``shared/pretrained`` were trained with it; symmetric padding shifts
    every stride-2 map by half a pixel and the unchanged features lose accuracy. Output size: ceil(n / s).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, k = self.stride[0], self.kernel_size[0]
        if s == 1:
            return F.conv2d(x, self.weight, self.bias, 1, k // 2, 1, self.groups)
        h, w = int(x.shape[-2]), int(x.shape[-1])  # plain ints: an exported graph gets constant pads
        ph = max(((h + s - 1) // s - 1) * s + k - h, 0)
        pw = max(((w + s - 1) // s - 1) * s + k - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, s, 0, 1, self.groups)


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, tf_padding: bool = True
            ) -> nn.Sequential:
    """Conv (no bias) + BN + ReLU6; keys ``0`` (conv) and ``1`` (BN) as TF-slim MobileNets in PyTorch."""
    conv: nn.Conv2d = (Conv2dSame(cin, cout, k, stride, 0, groups=groups, bias=False) if tf_padding
                       else nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False))
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU6(True))


def dw_sep(cin: int, cout: int, stride: int, tf_padding: bool = True) -> nn.Sequential:
    """Depthwise-separable block: 3x3 depthwise + 1x1 pointwise, each BN + ReLU6."""
    return nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, tf_padding=tf_padding),
                         conv_bn(cin, cout, 1, tf_padding=tf_padding))


_MOBILENET = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))


class MobileNetV1Backbone(nn.Module):
    """MobileNetV1 (width alpha) in the layout of ``shared/pretrained/mobilenet_v1_*.pth`` (``features.N``).

    Returns the stride-8 map (block 5, only with ``min_stride=8``: small animals), Conv11 (stride 16) and
    Conv13 (stride 32).
    """

    def __init__(self, alpha: float = 1.0, min_stride: int = 16, tf_padding: bool = True) -> None:
        super().__init__()
        if min_stride not in (8, 16):
            raise ValueError(f"min_stride must be 8 or 16, got {min_stride}")
        layers: list[nn.Module] = [conv_bn(3, _ch(32 * alpha), 3, 2, tf_padding=tf_padding)]
        c = _ch(32 * alpha)
        chans = []
        for cout, s in _MOBILENET:
            layers.append(dw_sep(c, _ch(cout * alpha), s, tf_padding))
            c = _ch(cout * alpha)
            chans.append(c)
        self.features = nn.ModuleList(layers)
        self.min_stride = min_stride
        self.taps = (5, 11, 13) if min_stride == 8 else (11, 13)  # features[k] outputs that are sources
        self.out_channels = tuple(chans[k - 1] for k in self.taps)

    @staticmethod
    def feature_sizes(input_size: int, min_stride: int = 16) -> tuple[int, ...]:
        """Sizes of the backbone taps and the extras after them (every stride-2 layer: ceil(n / 2)); six maps."""
        n = input_size
        for _ in range(3 if min_stride == 8 else 4):
            n = (n + 1) // 2
        sizes = [n]
        for _ in range(5):
            n = (n + 1) // 2
            sizes.append(n)
        return tuple(sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k, layer in enumerate(self.features):
            x = layer(x)
            if k in self.taps:
                out.append(x)
        return out


class MobileExtras(nn.Module):
    """SSDLite extras at alpha_ssd = 0.5 alpha: 1x1 -> depthwise 3x3 stride 2 -> 1x1, four times.

    Runs after the temporal unit (LSTM-SSD places the LSTM after Conv13 and builds the SSD maps on it).
    """

    def __init__(self, in_channels: int, alpha: float = 1.0, count: int = 4, tf_padding: bool = True) -> None:
        super().__init__()
        outs = [_ch(c * 0.5 * alpha) for c in (512, 256, 256, 128)][:count]
        blocks = []
        c = in_channels
        for o in outs:
            mid = _ch(o / 2)
            blocks.append(nn.Sequential(conv_bn(c, mid, 1, tf_padding=tf_padding),
                                        conv_bn(mid, mid, 3, 2, groups=mid, tf_padding=tf_padding),
                                        conv_bn(mid, o, 1, tf_padding=tf_padding)))
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
