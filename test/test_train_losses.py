"""MultiBox, attention and association losses on hand-computed small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tssd_ros.model.box_coder import point_form
from tssd_ros.train.losses import (
    association_loss,
    attention_loss,
    box_mask,
    class_scores,
    hard_negatives,
    match,
    multibox_loss,
    pad_targets,
    tssd_loss,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread buys nothing and, on a busy machine, costs ten times the time."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


PRIORS = torch.tensor([[0.25, 0.25, 0.2, 0.2], [0.75, 0.25, 0.2, 0.2], [0.25, 0.75, 0.2, 0.2], [0.75, 0.75, 0.2, 0.2],
                       [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.1, 0.1]])


def test_prior_exactly_on_gt_gives_zero_loc_loss():
    gb, gl = pad_targets([point_form(PRIORS[1:2]).numpy()], [np.array([2])])
    loc_t, conf_t, _ = match(gb, gl, PRIORS)
    assert conf_t.tolist() == [[0, 3, 0, 0, 0, 0]]
    assert torch.allclose(loc_t[0, 1], torch.zeros(4), atol=1e-5)  # float32 rounding of log(w / w_p)
    out = multibox_loss(torch.zeros(1, 6, 4), torch.zeros(1, 6, 4), gb, gl, PRIORS)
    assert out.num_pos == 1 and float(out.loc) < 1e-10
    # an offset prediction costs smooth-L1: |0.5| -> 0.5 * 0.5^2 = 0.125 per coordinate
    loc = torch.zeros(1, 6, 4)
    loc[0, 1, 0] = 0.5
    assert math.isclose(float(multibox_loss(loc, torch.zeros(1, 6, 4), gb, gl, PRIORS).loc), 0.125, rel_tol=1e-4)


def test_bipartite_match_keeps_low_overlap_gt_and_threshold():
    # a small box overlapping nothing by 0.5 still gets its best prior; a padded row is ignored
    small = torch.tensor([[[0.45, 0.45, 0.52, 0.52], [0, 0, 0, 0]]])
    _, conf_t, best = match(small, torch.tensor([[0, -1]]), PRIORS)
    assert conf_t[0].tolist() == [0, 0, 0, 0, 0, 1]
    assert float(best[0, 5]) < 0.5
    # two gts: every prior with IoU >= 0.5 is positive
    gb, gl = pad_targets([point_form(PRIORS[[0, 4]]).numpy()], [np.array([0, 1])])
    _, conf_t, _ = match(gb, gl, PRIORS)
    assert conf_t[0].tolist() == [1, 0, 0, 0, 2, 0]


def test_hard_negative_count_is_three_times_positives_and_normalised():
    torch.manual_seed(0)
    p = 40
    conf_t = torch.zeros(2, p, dtype=torch.long)
    conf_t[0, [1, 5, 7]] = 1
    conf_t[1, 3] = 2
    conf = torch.randn(2, p, 3)
    neg = hard_negatives(conf, conf_t)
    assert neg.sum(1).tolist() == [9, 3]
    assert not (neg & (conf_t > 0)).any()
    # the mined negatives are those with the highest background loss
    bg = torch.logsumexp(conf[1], -1) - conf[1, :, 0]
    bg[3] = -1e9
    assert set(neg[1].nonzero().flatten().tolist()) == set(bg.topk(3).indices.tolist())
    assert hard_negatives(conf, torch.zeros(2, p, dtype=torch.long)).sum() == 0  # reference: empty -> nothing
    assert hard_negatives(conf, torch.zeros(2, p, dtype=torch.long), min_neg=5).sum() == 10


def test_conf_loss_value_by_hand():
    gb, gl = pad_targets([point_form(PRIORS[0:1]).numpy()], [np.array([0])])
    conf = torch.zeros(1, 6, 2)
    conf[0, 3, 1] = 2.0  # the hardest negative
    out = multibox_loss(torch.zeros(1, 6, 4), conf, gb, gl, PRIORS, neg_pos_ratio=1)
    expect = math.log(2) + (math.log(1 + math.exp(2)))  # positive at 0.5/0.5, negative with logits (0, 2)
    assert math.isclose(float(out.conf), expect, rel_tol=1e-5)


def test_attention_loss_mask_and_value():
    gb, gl = pad_targets([np.array([[0.0, 0.0, 0.5, 0.5]]), np.zeros((0, 4))], [np.array([0]), np.zeros(0)])
    mask = box_mask(gb, gl, 8)
    assert mask.shape == (2, 1, 8, 8) and mask[0].sum() == 16 and mask[1].sum() == 0
    perfect = [mask.clamp(1e-4, 1 - 1e-4).view(2, 1, 1, 8, 8)]
    assert float(attention_loss(perfect, gb, gl, 8)) < 1e-3
    half = [torch.full((2, 1, 1, 2, 2), 0.5)]  # upsampled to 8x8: BCE log 2 everywhere, two scales sum
    assert math.isclose(float(attention_loss(half + half, gb, gl, 8)), 2 * math.log(2), rel_tol=1e-5)
    assert float(attention_loss([], gb, gl, 8)) == 0.0


def test_association_loss_is_differentiable_and_zero_when_constant():
    torch.manual_seed(0)
    const = torch.randn(1, 1, 30, 4).expand(2, 5, 30, 4).clone()
    assert float(association_loss(const)) < 1e-7
    logits = torch.randn(2, 5, 30, 4, requires_grad=True)
    loss = association_loss(logits, top_k=3)
    loss.backward()
    assert float(loss.detach()) > 0 and logits.grad is not None and logits.grad.abs().sum() > 0
    # eq. 4 by hand for one clip of two frames: smooth-L1 between the two per-class score sums
    two = torch.randn(1, 2, 30, 4)
    s = class_scores(two, 3)[0]
    d = (s[1] - s[0]).abs()
    expect = torch.where(d < 1, 0.5 * d**2, d - 0.5).sum()
    assert torch.isclose(association_loss(two, 3), expect)


def test_tssd_loss_on_a_clip_backpropagates_all_terms():
    from tssd_ros.model import TSSD, DetectorConfig

    model = TSSD(DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=4, input_size=64,
                                alpha=0.25))
    x = torch.randn(2, 3, 3, 64, 64) * 50
    boxes = [np.array([[0.1, 0.1, 0.5, 0.6]])] * 6
    gb, gl = pad_targets(boxes, [np.array([1])] * 6)
    out = model(x)
    terms = tssd_loss(out, gb, gl, model.priors, 64, min_neg=4)
    assert terms.association > 0 and terms.num_pos >= 6 and terms.attention == 0.0
    terms.total.backward()
    assert model.heads.conf[0][1].weight.grad.abs().sum() > 0
