"""Prior (default/anchor) boxes, exactly as the reference PriorBox generates them.

Centres use ``f_k = image_size / step`` (not the feature-map size), rows outer, columns inner; per location:
``s_k``, ``sqrt(s_k * s_k+1)``, then for each aspect ratio ``(s sqrt(ar), s / sqrt(ar))`` and, with flip, the
swapped pair; clamped to [0, 1] in (cx, cy, w, h) form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PriorConfig:
    image_size: int
    feature_maps: tuple[int, ...]
    steps: tuple[float, ...]
    min_sizes: tuple[float, ...]
    max_sizes: tuple[float, ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    flip: bool = True
    clip: bool = True
    variance: tuple[float, float] = (0.1, 0.2)

    @property
    def anchors_per_location(self) -> list[int]:
        return [2 + len(ars) * (2 if self.flip else 1) for ars in self.aspect_ratios]

    @property
    def num_priors(self) -> int:
        return sum(a * f * f for a, f in zip(self.anchors_per_location, self.feature_maps, strict=True))


_V2_ARS = ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))
_SSD300 = dict(
    image_size=300,
    feature_maps=(38, 19, 10, 5, 3, 1),
    steps=(8, 16, 32, 64, 100, 300),
    min_sizes=(30, 60, 111, 162, 213, 264),
    max_sizes=(60, 111, 162, 213, 264, 315),
)


def prior_config(name: str, input_size: int = 300, feature_maps: tuple[int, ...] | None = None) -> PriorConfig:
    """``v2`` (ImageNet VID, 8732 priors), ``v3`` (MOT: ars 1/2, 1/3, 1/4 without flip, 5 per location, 9700
    priors), ``mobile`` (the v2 relative scales on the given feature maps, centres on the map grid) or
    ``mobile_small`` (the same with scales from 0.0375 to 1.0 of the input: seabed animals of 10-70 px)."""
    if name == "v2":
        return PriorConfig(**_SSD300, aspect_ratios=_V2_ARS, flip=True)
    if name == "v3":
        return PriorConfig(**_SSD300, aspect_ratios=((1 / 2, 1 / 3, 1 / 4),) * 6, flip=False)
    if name in ("mobile", "mobile_small"):
        if feature_maps is None:
            raise ValueError("mobile priors need the feature-map sizes")
        rel = ((0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05) if name == "mobile"
               else (0.0375, 0.1, 0.2, 0.35, 0.55, 0.75, 1.0))
        return PriorConfig(
            image_size=input_size,
            feature_maps=tuple(feature_maps),
            steps=tuple(input_size / f for f in feature_maps),
            min_sizes=tuple(r * input_size for r in rel[:-1]),
            max_sizes=tuple(r * input_size for r in rel[1:]),
            aspect_ratios=_V2_ARS,
            flip=True,
        )
    raise ValueError(f"unknown prior config {name!r}")


class PriorBox(nn.Module):
    """Generates the (P, 4) cx, cy, w, h priors in [0, 1]; vectorised, same order as the reference loop."""

    def __init__(self, cfg: PriorConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self) -> torch.Tensor:
        c = self.cfg
        out = []
        for k, f in enumerate(c.feature_maps):
            f_k = c.image_size / c.steps[k]
            s_k = c.min_sizes[k] / c.image_size
            s_kp = math.sqrt(s_k * (c.max_sizes[k] / c.image_size))
            wh = [(s_k, s_k), (s_kp, s_kp)]
            for ar in c.aspect_ratios[k]:
                r = math.sqrt(ar)
                wh.append((s_k * r, s_k / r))
                if c.flip:
                    wh.append((s_k / r, s_k * r))
            # float64 like the reference's python floats, rounded to float32 at the end
            i, j = torch.meshgrid(torch.arange(f, dtype=torch.float64), torch.arange(f, dtype=torch.float64),
                                  indexing="ij")
            cx = ((j + 0.5) / f_k).reshape(-1, 1).expand(-1, len(wh))
            cy = ((i + 0.5) / f_k).reshape(-1, 1).expand(-1, len(wh))
            whs = torch.tensor(wh, dtype=torch.float64)
            out.append(torch.stack([cx, cy, whs[:, 0].expand_as(cx), whs[:, 1].expand_as(cx)], -1).reshape(-1, 4))
        p = torch.cat(out).float()
        return p.clamp_(0, 1) if c.clip else p
