"""The TSSD network: backbone -> temporal units -> (mobile extras) -> multibox heads, plus priors.

``forward_frame`` runs one frame with explicit recurrent state (streaming); ``forward`` unrolls a clip
(B, T, 3, H, W) for training, running the (stateless) backbone on all frames at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tssd_ros.model.backbone import MobileExtras, MobileNetV1Backbone, VGG16Backbone
from tssd_ros.model.config import DetectorConfig
from tssd_ros.model.heads import MultiBoxHead
from tssd_ros.model.priors import PriorBox, PriorConfig, prior_config
from tssd_ros.model.temporal import State, TemporalLayer


@dataclass
class FrameOutput:
    """Raw outputs of one frame. attention: maps (B, 1, H, W) of the temporal scales (AC-LSTM only);
    features: the six maps the heads read (for the appearance fallback)."""

    loc: torch.Tensor
    conf: torch.Tensor
    attention: list[torch.Tensor]
    features: list[torch.Tensor]
    state: State


class TSSD(nn.Module):
    """Temporally identity-aware SSD (and its SSD / mobile variants), chosen by a :class:`DetectorConfig`."""

    def __init__(self, config: DetectorConfig, init_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        t = config.temporal
        if config.backbone == "vgg16":
            self.backbone: nn.Module = VGG16Backbone()
            chans = list(VGG16Backbone.out_channels)
            self.feature_sizes = VGG16Backbone.feature_sizes(config.input_size)
            groups = [[0, 1, 2], [3, 4, 5]]
            t_in = [chans[0], chans[3]]
            t_hidden = t_in
            self.neck: nn.Module | None = None
            head_in = chans
            separable = False
        else:
            a = config.alpha
            self.backbone = MobileNetV1Backbone(a, config.min_stride, config.tf_padding)
            *low, c13 = self.backbone.out_channels
            self.feature_sizes = MobileNetV1Backbone.feature_sizes(config.input_size, config.min_stride)
            groups = [[len(low)]]  # the unit sits on Conv13
            t_in = [c13]
            t_hidden = [max(8, int(round(1024 * 0.25 * a)))] if t != "none" else [c13]
            self.neck = MobileExtras(t_hidden[0], a, count=6 - len(low) - 1, tf_padding=config.tf_padding)
            head_in = [*low, t_hidden[0], *self.neck.out_channels]
            separable = True
        self.temporal = TemporalLayer(t, groups, t_in, t_hidden, config.dropout, config.lstm_activation)
        self.prior_config: PriorConfig = prior_config(config.priors, config.input_size, self.feature_sizes)
        if tuple(self.prior_config.feature_maps) != tuple(self.feature_sizes):
            raise ValueError(f"priors {config.priors} do not fit feature maps {self.feature_sizes}")
        self.heads = MultiBoxHead(head_in, self.prior_config.anchors_per_location, config.num_classes, separable)
        self.register_buffer("priors", PriorBox(self.prior_config)(), persistent=False)
        if init_weights:
            self._init_weights()

    @classmethod
    def empty(cls, config: DetectorConfig) -> TSSD:
        """Uninitialised model (built on the meta device, then allocated) to load weights into: skips the
        seconds of orthogonal init a 73M-parameter TSSD would spend."""
        with torch.device("meta"):
            model = cls(config, init_weights=False)
        model = model.to_empty(device="cpu")
        model.priors = PriorBox(model.prior_config)()
        return model

    def _init_weights(self) -> None:
        for name, m in self.named_modules():
            if not isinstance(m, nn.Conv2d):
                continue
            if name.endswith("cell.gates"):  # ConvLSTM: orthogonal weights, gate biases 1 (the reference)
                nn.init.orthogonal_(m.weight)
                nn.init.constant_(m.bias, 1.0)
                continue
            # fan_in (= 9 for depthwise) keeps activations alive in an untrained (test) model
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def appearance_mode(self) -> str:
        """``attention`` (reference OTA vector from the low-level AC-LSTM maps) or ``feature_mean``."""
        return "attention" if self.temporal.has_attention and self.temporal.scales[:3] == [0, 1, 2] else "feature_mean"

    def state_shapes(self, batch: int = 1) -> list[tuple[int, int, int, int]]:
        """Shapes of h (= c) per temporal scale, for explicit-state export."""
        out = []
        for s in self.temporal.scales:
            hid = self.temporal.units[self.temporal.unit_of[s]].hidden
            out.append((batch, hid, self.feature_sizes[s], self.feature_sizes[s]))
        return out

    def init_state(self, batch: int = 1, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
                   ) -> State:
        return [(torch.zeros(sh, device=device, dtype=dtype), torch.zeros(sh, device=device, dtype=dtype))
                for sh in self.state_shapes(batch)]

    def _after_backbone(self, feats: list[torch.Tensor], state: State | None) -> FrameOutput:
        if self.config.stateless:
            state = None
        feats, state, maps = self.temporal(feats, state)
        if self.neck is not None:
            feats = self.neck(feats)
        loc, conf = self.heads(feats)
        return FrameOutput(loc, conf, maps, feats, state)

    def forward_frame(self, x: torch.Tensor, state: State | None = None) -> FrameOutput:
        """One frame (B, 3, H, W) with the previous state (None: zeros)."""
        return self._after_backbone(self.backbone(x), state)

    def forward(self, clip: torch.Tensor, state: State | None = None) -> dict[str, object]:
        """Clip (B, T, 3, H, W) -> {"loc": (B, T, P, 4), "conf": (B, T, P, C) logits,
        "attention": list over temporal scales of (B, T, 1, H, W) (empty without AC-LSTM), "state": final}."""
        b, t = clip.shape[:2]
        base = self.backbone(clip.flatten(0, 1))
        base = [f.unflatten(0, (b, t)) for f in base]
        locs, confs, maps = [], [], []
        for i in range(t):
            out = self._after_backbone([f[:, i] for f in base], state)
            state = out.state
            locs.append(out.loc)
            confs.append(out.conf)
            maps.append(out.attention)
        att = [torch.stack([m[k] for m in maps], 1) for k in range(len(maps[0]))] if maps and maps[0] else []
        return {"loc": torch.stack(locs, 1), "conf": torch.stack(confs, 1), "attention": att, "state": state}

    def appearance_maps(self, out: FrameOutput) -> torch.Tensor:
        """(B, 3, S, S), S = size of scale 0, from which OTA's per-box vectors are cropped.

        attention: the three low-level attention maps (the reference's 3 x 38 x 38);
        feature_mean (no attention maps): channel mean of the three lowest head-input features.
        Both bilinearly resized with align_corners=True.
        """
        s = self.feature_sizes[0]
        if self.appearance_mode == "attention":
            src = out.attention[:3]
        else:
            src = [f.mean(1, keepdim=True) for f in out.features[:3]]
        return torch.cat([F.interpolate(m, size=(s, s), mode="bilinear", align_corners=True) for m in src], 1)
