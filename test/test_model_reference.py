"""Reference-checkpoint compatibility: an independent straight-line re-implementation of the published
TSSD-OTA forward (from docs/tssd-reference facts), randomly initialised, saved as a bare state_dict with the
reference's key names, loaded with load_detector and compared detection by detection over carried frames."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tssd_ros.errors import CheckpointError
from tssd_ros.model import load_detector
from tssd_ros.model.checkpoint import config_from_reference, convert_reference_state_dict

# ---------------------------------------------------------------- the reference, written out independently


def ref_vgg() -> list[nn.Module]:
    layers: list[nn.Module] = []
    cin = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        elif v == "C":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)]
        else:
            layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    layers += [nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
               nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6), nn.ReLU(inplace=True),
               nn.Conv2d(1024, 512, kernel_size=1), nn.ReLU(inplace=True)]
    return layers


def ref_extras() -> list[nn.Module]:
    return [nn.Conv2d(512, 256, 1), nn.Conv2d(256, 512, 3, stride=2, padding=1),
            nn.Conv2d(512, 128, 1), nn.Conv2d(128, 256, 3, stride=2, padding=1),
            nn.Conv2d(256, 128, 1), nn.Conv2d(128, 256, 3),
            nn.Conv2d(256, 128, 1), nn.Conv2d(128, 256, 3)]


class RefL2Norm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((512,), 20.0))

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        x = torch.div(x, norm)  # out of place, as PyTorch 0.2 ran `x /= norm`
        return self.weight.unsqueeze(0).unsqueeze(2).unsqueeze(3).expand_as(x) * x


class RefAttention(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.LeakyReLU(0.2),
                                       nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.LeakyReLU(0.2),
                                       nn.Conv2d(c, 1, 3, 1, 1, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.attention(x)


class RefConvLSTM(nn.Module):
    def __init__(self, cin: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.Gates = nn.Conv2d(cin + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x, prev):
        prev_cell, prev_hidden = prev
        gates = self.Gates(torch.cat((x, prev_hidden), 1))
        in_gate, remember_gate, out_gate, cell_gate = gates.chunk(4, 1)
        cell = torch.sigmoid(remember_gate) * prev_cell + torch.sigmoid(in_gate) * torch.tanh(cell_gate)
        return cell, torch.sigmoid(out_gate) * torch.tanh(cell)


class RefTSSD(nn.Module):
    def __init__(self, num_classes: int, rnn: bool = True, attention: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.vgg = nn.ModuleList(ref_vgg())
        self.L2Norm = RefL2Norm()
        self.extras = nn.ModuleList(ref_extras())
        mbox = [4, 6, 6, 6, 4, 4]
        chans = [512, 512, 512, 256, 256, 256]
        self.loc = nn.ModuleList([nn.Conv2d(c, m * 4, 3, padding=1) for c, m in zip(chans, mbox, strict=True)])
        self.conf = nn.ModuleList([nn.Conv2d(c, m * num_classes, 3, padding=1)
                                   for c, m in zip(chans, mbox, strict=True)])
        self.use_rnn, self.use_att = rnn, attention and rnn
        if rnn:
            self.rnn = nn.ModuleList([RefConvLSTM(512, 512), RefConvLSTM(256, 256)])
        if self.use_att:
            self.attention = nn.ModuleList([RefAttention(1024), RefAttention(512)])

    def forward(self, x, state):
        sources = []
        for k in range(23):
            x = self.vgg[k](x)
        sources.append(self.L2Norm(x))
        for k in range(23, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, v in enumerate(self.extras):
            x = F.relu(v(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        loc, conf, a_map = [], [], []
        for i, (s, lh, ch) in enumerate(zip(sources, self.loc, self.conf, strict=True)):
            if self.use_rnn:
                if state[i] is None:
                    z = torch.zeros(s.shape[0], self.rnn[i // 3].hidden, s.shape[2], s.shape[3])
                    state[i] = (z, z.clone())
                if self.use_att:
                    a_map.append(self.attention[i // 3](torch.cat((s, state[i][-1]), 1)))
                    s = s * a_map[-1]
                state[i] = self.rnn[i // 3](s, state[i])
                s = state[i][-1]
            loc.append(lh(s).permute(0, 2, 3, 1).contiguous())
            conf.append(ch(s).permute(0, 2, 3, 1).contiguous())
        loc = torch.cat([o.view(o.size(0), -1) for o in loc], 1).view(1, -1, 4)
        conf = torch.cat([o.view(o.size(0), -1) for o in conf], 1).view(-1, self.num_classes)
        return loc, F.softmax(conf, dim=1), a_map, state


def ref_priors() -> torch.Tensor:
    fmaps, steps = [38, 19, 10, 5, 3, 1], [8, 16, 32, 64, 100, 300]
    mins, maxs = [30, 60, 111, 162, 213, 264], [60, 111, 162, 213, 264, 315]
    ars = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    mean = []
    for k, f in enumerate(fmaps):
        for i, j in itertools.product(range(f), repeat=2):
            f_k = 300 / steps[k]
            cx, cy = (j + 0.5) / f_k, (i + 0.5) / f_k
            s_k = mins[k] / 300
            mean += [cx, cy, s_k, s_k]
            s_kp = math.sqrt(s_k * (maxs[k] / 300))
            mean += [cx, cy, s_kp, s_kp]
            for ar in ars[k]:
                mean += [cx, cy, s_k * math.sqrt(ar), s_k / math.sqrt(ar)]
                mean += [cx, cy, s_k / math.sqrt(ar), s_k * math.sqrt(ar)]
    return torch.tensor(mean, dtype=torch.float32).view(-1, 4).clamp_(max=1, min=0)


def ref_decode(loc, priors):
    boxes = torch.cat((priors[:, :2] + loc[:, :2] * 0.1 * priors[:, 2:],
                       priors[:, 2:] * torch.exp(loc[:, 2:] * 0.2)), 1)
    boxes[:, :2] -= boxes[:, 2:] / 2
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def ref_nms(boxes, scores, overlap, top_k):
    keep = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    _, idx = scores.sort(0)
    idx = idx[-top_k:]
    while idx.numel() > 0:
        i = idx[-1]
        keep.append(int(i))
        idx = idx[:-1]
        if idx.numel() == 0:
            break
        xx1 = torch.clamp(x1[idx], min=float(x1[i]))
        yy1 = torch.clamp(y1[idx], min=float(y1[i]))
        xx2 = torch.clamp(x2[idx], max=float(x2[i]))
        yy2 = torch.clamp(y2[idx], max=float(y2[i]))
        inter = torch.clamp(xx2 - xx1, min=0.0) * torch.clamp(yy2 - yy1, min=0.0)
        iou = inter / ((area[idx] - inter) + area[i])
        idx = idx[iou.le(overlap)]
    return keep


def ref_attention_vector(a_maps, box):
    maps = torch.cat([F.interpolate(a, size=(38, 38), mode="bilinear", align_corners=True) for a in a_maps[:3]], 1)[0]
    x0, y0 = max(0, math.floor(box[0] * 38)), max(0, math.floor(box[1] * 38))
    x1, y1 = min(38, math.ceil(box[2] * 38)), min(38, math.ceil(box[3] * 38))
    crop = maps[:, y0:y1, x0:x1]
    return F.interpolate(crop[None], size=(7, 7), mode="bilinear", align_corners=True).reshape(-1)


def ref_detect(model, priors, image, state, conf_thresh, nms_thresh, top_k):
    h, w = image.shape[:2]
    x = cv2.resize(image, (300, 300)).astype(np.float32)
    x -= np.array((104, 117, 123), dtype=np.float32)
    x = torch.from_numpy(x[:, :, (2, 1, 0)].copy()).permute(2, 0, 1)[None]
    loc, conf, a_map, state = model(x, state)
    boxes = ref_decode(loc[0], priors)
    rows = []
    for cl in range(1, model.num_classes):
        mask = conf[:, cl].gt(conf_thresh)
        scores = conf[:, cl][mask]
        if scores.numel() == 0:
            continue
        b = boxes[mask]
        for i in ref_nms(b, scores, nms_thresh, top_k):
            vec = ref_attention_vector(a_map, b[i].tolist()) if a_map else None
            rows.append((cl - 1, float(scores[i]), (b[i] * torch.tensor([w, h, w, h])).tolist(), vec))
    return rows, state


# ---------------------------------------------------------------- fixtures


def _init_ref(model: nn.Module, seed: int) -> None:
    """Random weights that keep activations O(1) so scores are diverse (no ties) and boxes varied."""
    g = torch.Generator().manual_seed(seed)
    first = True
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            std = math.sqrt(2.0 / fan_in) * (1 / 60 if first else 1.0)
            if name.startswith(("loc", "conf")):
                std = math.sqrt(1.0 / fan_in) * (4.0 if name.startswith("conf") else 0.7)
            if name.startswith("attention"):
                std = math.sqrt(1.0 / fan_in)
            m.weight.data = torch.randn(m.weight.shape, generator=g) * std
            first = False
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
    model.L2Norm.weight.data = 20 + torch.randn(512, generator=g)


def _frames(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur((rng.random((180, 240, 3)) * 255).astype(np.uint8), (0, 0), 3)
    out = []
    for t in range(n):
        f = base.copy()
        cv2.rectangle(f, (30 + 8 * t, 40), (110 + 8 * t, 150), (20, 200, 90), -1)
        cv2.circle(f, (180, 60 + 5 * t), 30, (230, 40, 40), -1)
        out.append(f)
    return out


@pytest.fixture(scope="module")
def ref_tssd(tmp_path_factory):
    torch.manual_seed(0)
    model = RefTSSD(31).eval()
    _init_ref(model, 1)
    path = tmp_path_factory.mktemp("ref") / "tssd_vid.pth"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture(scope="module")
def loaded(ref_tssd):
    return load_detector(ref_tssd[1])


# ---------------------------------------------------------------- tests


def test_reference_state_dict_has_the_81_documented_keys(ref_tssd):
    model, _ = ref_tssd
    sd = model.state_dict()
    assert len(sd) == 81
    assert tuple(sd["vgg.33.weight"].shape) == (512, 1024, 1, 1)
    assert tuple(sd["rnn.0.Gates.weight"].shape) == (2048, 1024, 3, 3)
    assert tuple(sd["conf.1.weight"].shape)[0] == 186


def test_reference_checkpoint_gives_the_reference_detections(ref_tssd, loaded):
    model, _ = ref_tssd
    det = loaded
    assert det.config.temporal == "ac_lstm" and det.config.num_classes == 31
    assert det.class_names[0] == "airplane" and len(det.class_names) == 30
    pp = det.postprocess
    assert (pp.conf_threshold, pp.nms_iou, pp.top_k) == (0.01, 0.45, 200)
    # fewer candidates keep the reference's python NMS loop fast; same rule on both sides
    det.set_postprocess(conf_threshold=0.06, top_k=30)
    priors = ref_priors()
    torch.testing.assert_close(det.model.priors, priors, rtol=0, atol=0)
    state = [None] * 6
    total = 0
    with torch.inference_mode():
        for frame in _frames(3):
            rows, state = ref_detect(model, priors, frame, state, 0.06, 0.45, 30)
            out = det.step(frame)
            assert len(out) == len(rows) > 20
            total += len(rows)
            np.testing.assert_array_equal(out.labels, [r[0] for r in rows])
            np.testing.assert_allclose(out.scores, [r[1] for r in rows], atol=1e-4, rtol=0)
            np.testing.assert_allclose(out.boxes, np.array([r[2] for r in rows]), atol=1e-3, rtol=1e-5)
            np.testing.assert_allclose(out.attention, torch.stack([r[3] for r in rows]).numpy(), atol=1e-5)
            assert len(set(out.labels.tolist())) > 3
    assert total > 60
    det.reset()


def test_reference_key_variants_load_the_same_weights(ref_tssd, loaded, tmp_path):
    model, _ = ref_tssd
    sd = model.state_dict()
    base = loaded.model.state_dict()
    # both variants in one file: multi-GPU `module.` prefix on the later branch's `backbone.N` names
    variant = {"module." + (k.replace("vgg.", "backbone.", 1) if k.startswith("vgg.") else k): v for k, v in sd.items()}
    assert sum(k.startswith("module.backbone.") for k in variant) == 30
    torch.save(variant, tmp_path / "variant.pth")
    got = load_detector(tmp_path / "variant.pth").model.state_dict()
    assert got.keys() == base.keys()
    for k in base:
        assert torch.equal(got[k], base[k]), k
    for prefixed in ({f"module.{k}": v for k, v in sd.items()},
                     {k.replace("vgg.", "backbone.", 1): v for k, v in sd.items()}):
        conv = convert_reference_state_dict(prefixed)
        assert conv.keys() == base.keys()


def test_reference_architecture_detected_from_keys(ref_tssd, tmp_path):
    model, _ = ref_tssd
    sd = model.state_dict()
    no_att = {k: v for k, v in sd.items() if not k.startswith("attention.")}
    assert config_from_reference(convert_reference_state_dict(no_att)).temporal == "conv_lstm"
    # plain SSD: compare one frame against the reference without temporal units
    ssd = RefTSSD(31, rnn=False).eval()
    _init_ref(ssd, 2)
    torch.save(ssd.state_dict(), tmp_path / "ssd.pth")
    det = load_detector(tmp_path / "ssd.pth", conf_threshold=0.06, top_k=20)
    assert det.config.temporal == "none"
    frame = _frames(1)[0]
    with torch.inference_mode():
        rows, _ = ref_detect(ssd, ref_priors(), frame, [None] * 6, 0.06, 0.45, 20)
        out = det.step(frame)
    assert len(out) == len(rows) > 0
    np.testing.assert_allclose(out.scores, [r[1] for r in rows], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.boxes, np.array([r[2] for r in rows]), atol=1e-3, rtol=1e-5)
    assert out.attention.shape == (len(rows), 147) and np.isfinite(out.attention).all()


def test_reference_class_count_mismatch_is_a_checkpoint_error(ref_tssd):
    _, path = ref_tssd
    with pytest.raises(CheckpointError, match=r"30 foreground classes.*underwater.*4.*--classes vid"):
        load_detector(path, classes="underwater")


def test_reference_unknown_and_missing_keys_are_checkpoint_errors(ref_tssd, tmp_path):
    model, _ = ref_tssd
    sd = model.state_dict()
    small = {k: v for k, v in sd.items() if k.startswith(("loc.", "conf."))}
    torch.save({**small, "rnn.0.ConvGates.weight": torch.zeros(1)}, tmp_path / "gru.pth")
    with pytest.raises(CheckpointError, match="unknown key 'rnn.0.ConvGates.weight'"):
        load_detector(tmp_path / "gru.pth")
    torch.save(small, tmp_path / "heads_only.pth")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_detector(tmp_path / "heads_only.pth")
