"""Temporal units: AC-LSTM (attention + ConvLSTM), ConvLSTM, Bottleneck-LSTM, and their placements.

State convention: one ``(h, c)`` pair per temporal scale, zeros at the start of a stream. Placements:
``lh_tu`` (one unit shared by scales 0,1,2 and one by 3,4,5, each scale with its own state) and ``conv13``
(one unit on MobileNet's Conv13, i.e. scale 1 of the mobile model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

State = list[tuple[torch.Tensor, torch.Tensor]]


class ConvAttention(nn.Module):
    """Temporal attention of AC-LSTM: a = sigmoid(conv(lrelu(conv(lrelu(conv([x, h_prev])))))), no biases."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 1, 3, 1, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvLSTMCell(nn.Module):
    """ConvLSTM of the reference: one 3x3 conv over [x, h] -> gates i, f, o, g; g uses tanh (code, not eq. 1)."""

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, 3, padding=1)  # orthogonal init: TSSD._init_weights

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class SeparableConv(nn.Module):
    """3x3 depthwise (no bias) followed by 1x1 pointwise (bias)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class BottleneckLSTMCell(nn.Module):
    """Bottleneck-LSTM (Liu and Zhu): b = phi(W_b * [x, h]); i, j, f, o = W * b (separable convs);
    c = sigmoid(f + 1) c + sigmoid(i) phi(j); h = sigmoid(o) phi(c). Forget bias 1 as the TF code."""

    forget_bias = 1.0

    def __init__(self, in_channels: int, hidden: int, activation: str = "relu6") -> None:
        super().__init__()
        self.hidden = hidden
        self.bottleneck = SeparableConv(in_channels + hidden, hidden)
        self.gates = SeparableConv(hidden, 4 * hidden)
        self.phi = F.relu6 if activation == "relu6" else F.relu

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.phi(self.bottleneck(torch.cat([x, h], 1)))
        i, j, f, o = self.gates(b).chunk(4, 1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * self.phi(j)
        return torch.sigmoid(o) * self.phi(c), c


class TemporalUnit(nn.Module):
    """One temporal unit applied to one scale: optional attention gate, dropout, recurrent cell.

    ``ac_lstm``: a = Attention([x, h_prev]); x' = a * x; x' = dropout(x'); (h, c) = ConvLSTM(x', h_prev, c_prev).
    The heads read h. Dropout is a module, so it follows ``.train()`` / ``.eval()``.
    """

    def __init__(self, kind: str, in_channels: int, hidden: int, dropout: float = 0.2,
                 activation: str = "relu6") -> None:
        super().__init__()
        self.kind = kind
        self.hidden = hidden
        self.attention = ConvAttention(in_channels + hidden) if kind == "ac_lstm" else None
        if kind in ("ac_lstm", "conv_lstm"):
            self.cell: nn.Module = ConvLSTMCell(in_channels, hidden)
        elif kind == "bottleneck_lstm":
            self.cell = BottleneckLSTMCell(in_channels, hidden, activation)
        else:
            raise ValueError(f"unknown temporal unit {kind!r}")
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        a = None
        if self.attention is not None:
            a = self.attention(torch.cat([x, h], 1))
            x = x * a
        h, c = self.cell(self.dropout(x), h, c)
        return h, c, a


class TemporalLayer(nn.Module):
    """Places temporal units on scales: ``groups[k]`` lists the scales sharing unit k (lh_tu: [[0,1,2],[3,4,5]]).

    Scales outside every group pass through. Each grouped scale keeps its own (h, c).
    """

    def __init__(self, kind: str, groups: list[list[int]], in_channels: list[int], hidden: list[int],
                 dropout: float = 0.2, activation: str = "relu6") -> None:
        super().__init__()
        self.kind = kind
        self.groups = [list(g) for g in groups] if kind != "none" else []
        self.units = nn.ModuleList(
            [TemporalUnit(kind, in_channels[k], hidden[k], dropout, activation) for k in range(len(self.groups))]
        )
        self.scales = sorted(s for g in self.groups for s in g)
        self.unit_of = {s: k for k, g in enumerate(self.groups) for s in g}

    @property
    def has_attention(self) -> bool:
        return self.kind == "ac_lstm"

    def init_state(self, feats: list[torch.Tensor]) -> State:
        out = []
        for s in self.scales:
            x = feats[s]
            hid = self.units[self.unit_of[s]].hidden
            z = x.new_zeros(x.shape[0], hid, x.shape[2], x.shape[3])
            out.append((z, z.clone()))
        return out

    def forward(
        self, feats: list[torch.Tensor], state: State | None = None
    ) -> tuple[list[torch.Tensor], State, list[torch.Tensor]]:
        """feats of one frame -> (features for the heads, new state, attention maps per temporal scale)."""
        if not self.scales:
            return list(feats), [], []
        if state is None:
            state = self.init_state(feats)
        out = list(feats)
        new_state: State = []
        maps: list[torch.Tensor] = []
        for n, s in enumerate(self.scales):
            h, c = state[n]
            h, c, a = self.units[self.unit_of[s]](feats[s], h, c)
            out[s] = h
            new_state.append((h, c))
            if a is not None:
                maps.append(a)
        return out, new_state, maps
