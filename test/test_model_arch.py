"""Architecture: priors, source shapes, parameter counts, temporal-unit equations, dropout behaviour."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tssd_ros.model import DetectorConfig
from tssd_ros.model.backbone import MobileNetV1Backbone, VGG16Backbone
from tssd_ros.model.box_coder import decode, encode, point_form
from tssd_ros.model.priors import PriorBox, prior_config
from tssd_ros.model.temporal import BottleneckLSTMCell, TemporalUnit
from tssd_ros.model.tssd import TSSD


def meta_model(**kw) -> TSSD:
    with torch.device("meta"):
        return TSSD(DetectorConfig(**kw), init_weights=False)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_v2_priors_match_the_reference_formula():
    p = PriorBox(prior_config("v2"))()
    assert p.shape == (8732, 4)
    f_k = 300 / 8
    s, s2 = 30 / 300, math.sqrt(30 / 300 * 60 / 300)
    c = 0.5 / f_k
    r = math.sqrt(2)
    expected = torch.tensor([[c, c, s, s], [c, c, s2, s2], [c, c, s * r, s / r], [c, c, s / r, s * r]])
    torch.testing.assert_close(p[:4], expected)
    # second location is the next column (rows outer, columns inner)
    torch.testing.assert_close(p[4, :2], torch.tensor([1.5 / f_k, c]))
    # last prior: 1x1 map, flipped aspect 2 of s=264/300 clamped to 1
    torch.testing.assert_close(p[-1], torch.tensor([0.5, 0.5, 0.88 / r, min(1.0, 0.88 * r)]))
    assert float(p.min()) >= 0 and float(p.max()) <= 1


def test_v3_priors_have_five_tall_anchors_and_matching_heads():
    cfg = prior_config("v3")
    assert cfg.anchors_per_location == [5] * 6 and cfg.num_priors == 9700
    p = PriorBox(cfg)()
    assert p.shape == (9700, 4)
    assert torch.all(p[2:5, 3] > p[2:5, 2])  # ars 1/2, 1/3, 1/4: taller than wide
    m = meta_model(priors="v3", num_classes=2)
    assert [h.out_channels for h in m.heads.loc] == [20] * 6
    assert [h.out_channels for h in m.heads.conf] == [10] * 6


def test_vgg_tssd_sources_and_parameter_counts():
    m = meta_model()
    out = m.forward_frame(torch.zeros(1, 3, 300, 300, device="meta"))
    shapes = [tuple(f.shape[1:]) for f in out.features]
    assert shapes == [(512, 38, 38), (512, 19, 19), (512, 10, 10), (256, 5, 5), (256, 3, 3), (256, 1, 1)]
    assert out.loc.shape == (1, 8732, 4) and out.conf.shape == (1, 8732, 31)
    assert [tuple(a.shape[1:]) for a in out.attention][:3] == [(1, 38, 38), (1, 19, 19), (1, 10, 10)]
    assert abs(n_params(m) - 73.2e6) / 73.2e6 < 0.01
    low = m.temporal.units[0]
    assert abs(n_params(low.attention) - 18.9e6) / 18.9e6 < 0.01
    assert abs(n_params(low.cell) - 18.9e6) / 18.9e6 < 0.01
    ssd = meta_model(temporal="none")
    assert abs(n_params(ssd) - 26.0e6) / 26.0e6 < 0.01
    assert ssd.temporal.scales == [] and m.temporal.scales == [0, 1, 2, 3, 4, 5]
    assert m.backbone.vgg[33].weight.shape == (512, 1024, 1, 1)


def test_vgg_trunk_continues_from_unnormalised_conv4_3():
    torch.manual_seed(0)
    bb = VGG16Backbone().eval()
    x = torch.randn(1, 3, 300, 300) * 50
    with torch.no_grad():
        src = bb(x)
        c43 = x
        for k in range(23):
            c43 = bb.vgg[k](c43)
        fc7 = c43.clone()
        for k in range(23, len(bb.vgg)):
            fc7 = bb.vgg[k](fc7)
    norm = c43.pow(2).sum(1, keepdim=True).sqrt() + 1e-10
    torch.testing.assert_close(src[0], 20 * c43 / norm)
    torch.testing.assert_close(src[1], fc7)


@pytest.mark.parametrize("alpha,size", [(1.0, 320), (0.5, 256), (0.5, 300), (0.25, 128)])
def test_mobile_shapes_and_priors(alpha, size):
    m = meta_model(backbone="mobilenet_v1", temporal="bottleneck_lstm", input_size=size, alpha=alpha, num_classes=4)
    out = m.forward_frame(torch.zeros(2, 3, size, size, device="meta"))
    assert [f.shape[-1] for f in out.features] == list(MobileNetV1Backbone.feature_sizes(size))
    assert out.loc.shape == (2, m.priors.shape[0], 4) and out.conf.shape[-1] == 4
    assert m.temporal.scales == [1]  # one LSTM after Conv13
    assert m.temporal.units[0].hidden == max(8, round(1024 * 0.25 * alpha))  # alpha_lstm = 0.25 alpha
    assert out.state[0][0].shape == (2, m.temporal.units[0].hidden, *out.features[1].shape[-2:])


def test_box_encode_decode_round_trip():
    pri = PriorBox(prior_config("v2"))()[:500]
    pri = pri[(pri[:, 2:] > 0.05).all(1)]
    gt = point_form(pri + torch.tensor([0.01, -0.02, 0.03, 0.01]))
    torch.testing.assert_close(decode(encode(gt, pri), pri), gt, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(decode(torch.zeros_like(pri), pri), point_form(pri))


def _convlstm(z, w, b, c):
    i, f, o, g = F.conv2d(z, w, b, padding=1).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def test_ac_lstm_equations():
    torch.manual_seed(0)
    unit = TemporalUnit("ac_lstm", 3, 4, dropout=0.2).eval()
    x, h, c = torch.randn(2, 3, 5, 6), torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 6)
    net = unit.attention.net
    a = F.leaky_relu(F.conv2d(torch.cat([x, h], 1), net[0].weight, padding=1), 0.2)
    a = F.leaky_relu(F.conv2d(a, net[2].weight, padding=1), 0.2)
    a = torch.sigmoid(F.conv2d(a, net[4].weight, padding=1))
    assert net[0].bias is None and a.shape == (2, 1, 5, 6)
    h_ref, c_ref = _convlstm(torch.cat([x * a, h], 1), unit.cell.gates.weight, unit.cell.gates.bias, c)
    h2, c2, a2 = unit(x, h, c)
    torch.testing.assert_close(a2, a)
    torch.testing.assert_close(h2, h_ref)
    torch.testing.assert_close(c2, c_ref)
    # plain ConvLSTM: same cell without the attention gate
    plain = TemporalUnit("conv_lstm", 3, 4).eval()
    h3, c3, a3 = plain(x, h, c)
    assert a3 is None
    h_ref, c_ref = _convlstm(torch.cat([x, h], 1), plain.cell.gates.weight, plain.cell.gates.bias, c)
    torch.testing.assert_close(h3, h_ref)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_bottleneck_lstm_equations(activation):
    torch.manual_seed(1)
    cell = BottleneckLSTMCell(6, 4, activation)
    for p in cell.parameters():
        p.data.normal_(0, 1.5)
    x, h, c = torch.randn(1, 6, 4, 4), torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4) * 3
    phi = F.relu6 if activation == "relu6" else F.relu
    z = torch.cat([x, h], 1)
    b = F.conv2d(F.conv2d(z, cell.bottleneck.dw.weight, padding=1, groups=10), cell.bottleneck.pw.weight,
                 cell.bottleneck.pw.bias)
    b = phi(b)
    g = F.conv2d(F.conv2d(b, cell.gates.dw.weight, padding=1, groups=4), cell.gates.pw.weight, cell.gates.pw.bias)
    i, j, f, o = g.chunk(4, 1)
    c_ref = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * phi(j)
    h_ref = torch.sigmoid(o) * phi(c_ref)
    h2, c2 = cell(x, h, c)
    torch.testing.assert_close(c2, c_ref)
    torch.testing.assert_close(h2, h_ref)


def test_dropout_follows_train_and_eval():
    torch.manual_seed(0)
    unit = TemporalUnit("ac_lstm", 8, 8, dropout=0.2)
    x, h, c = torch.randn(1, 8, 6, 6), torch.zeros(1, 8, 6, 6), torch.zeros(1, 8, 6, 6)
    unit.train()
    assert not torch.equal(unit(x, h, c)[0], unit(x, h, c)[0])
    unit.eval()
    assert torch.equal(unit(x, h, c)[0], unit(x, h, c)[0])
    m = meta_model()
    assert all(u.dropout.p == 0.2 for u in m.temporal.units)
