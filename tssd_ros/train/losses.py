"""Training losses of TSSD: MultiBox (SSD matching + hard negative mining), attention and association.

Why vectorised over the batch: clips are trained as (B * T) frames at once; a Python loop over images (as the
reference's matching) dominates the step time of the small mobile models on CPU.

Ground truth is passed padded: ``gt_boxes (N, G, 4)`` normalised x1, y1, x2, y2 and ``gt_labels (N, G)`` 0-based
foreground labels with ``-1`` for padding (see :func:`pad_targets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tssd_ros.model.box_coder import encode, point_form


@dataclass
class LossWeights:
    """Weights of the four terms (paper / reference: loc 1, conf 1, attention 0.5, association 2)."""

    loc: float = 1.0
    conf: float = 1.0
    attention: float = 0.5
    association: float = 2.0


def pad_targets(
    boxes: Sequence[np.ndarray | torch.Tensor], labels: Sequence[np.ndarray | torch.Tensor],
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image boxes (n_i, 4) normalised xyxy and 0-based labels (n_i,) -> padded (N, G, 4), (N, G) (-1 pad)."""
    n = len(boxes)
    g = max([len(b) for b in boxes] + [1])
    out_b = torch.zeros(n, g, 4, dtype=torch.float32)
    out_l = torch.full((n, g), -1, dtype=torch.long)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        k = len(b)
        if k:
            out_b[i, :k] = torch.as_tensor(np.asarray(b, dtype=np.float32).reshape(k, 4))
            out_l[i, :k] = torch.as_tensor(np.asarray(lab, dtype=np.int64).reshape(k))
    return out_b.to(device), out_l.to(device)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a (..., G, 4), b (P, 4) xyxy -> (..., G, P) IoU (the reference's jaccard, no +1)."""
    lt = torch.maximum(a[..., :, None, :2], b[:, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]))[..., :, None]
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-12)


def match(
    gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, threshold: float = 0.5,
    variances: tuple[float, float] = (0.1, 0.2), per_gt: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SSD matching for a batch: every gt takes its best prior (bipartite), then every prior with IoU >= threshold
    takes its best gt. Returns loc targets (N, P, 4) (encoded with the variances), class targets (N, P)
    (0 background, label + 1 foreground) and each prior's best IoU with any gt (N, P) (before the bipartite
    step). ``per_gt`` > 1 forces each gt's k best priors positive (SSD: 1; more positives for small objects on a
    coarse prior grid)."""
    n, g = gt_labels.shape
    p = priors.shape[0]
    valid = gt_labels >= 0
    iou = box_iou(gt_boxes, point_form(priors))  # (N, G, P)
    iou = torch.where(valid[..., None], iou, torch.full_like(iou, -1.0))
    best_prior = iou.topk(max(1, per_gt), -1).indices.flip(-1)  # (N, G, k), best last (wins)
    best_gt_iou, best_gt = iou.max(1)  # (N, P)
    raw_iou = best_gt_iou.clone()
    # bipartite part: each valid gt keeps its best prior whatever the overlap (later gts win ties, as the loop)
    for k in range(best_prior.shape[-1]):
        for j in range(g):  # G is small (objects per image); the batch dim stays vectorised
            rows = valid[:, j].nonzero(as_tuple=True)[0]
            if rows.numel():
                cols = best_prior[rows, j, k]
                best_gt_iou[rows, cols] = 2.0
                best_gt[rows, cols] = j
    matched = torch.gather(gt_boxes, 1, best_gt[..., None].expand(n, p, 4))
    conf_t = torch.gather(gt_labels, 1, best_gt) + 1
    conf_t = torch.where(best_gt_iou >= threshold, conf_t, torch.zeros_like(conf_t))
    # degenerate (zero-size) boxes would give -inf targets; only positives are used, keep the rest finite
    matched = torch.where((conf_t > 0)[..., None], matched, point_form(priors).expand(n, p, 4))
    loc_t = encode(matched, priors, variances)
    return loc_t, conf_t, raw_iou


@dataclass
class MultiBoxOutput:
    loc: torch.Tensor
    conf: torch.Tensor
    num_pos: int


def hard_negatives(conf: torch.Tensor, conf_t: torch.Tensor, neg_pos_ratio: float = 3.0, min_neg: int = 0,
                   ignore: torch.Tensor | None = None) -> torch.Tensor:
    """Mask (N, P) of the hardest negatives: per image the ``ratio x positives`` (at least ``min_neg``,
    at most P - 1) background priors with the highest background loss (``ignore``d priors excluded)."""
    with torch.no_grad():
        bg_loss = torch.logsumexp(conf, -1) - conf[..., 0]
        pos = conf_t > 0
        excluded = pos | ignore if ignore is not None else pos
        bg_loss = bg_loss.masked_fill(excluded, float("-inf"))
        order = bg_loss.argsort(-1, descending=True)
        rank = order.argsort(-1)
        num_pos = pos.sum(-1, keepdim=True)
        num_neg = (num_pos.float() * neg_pos_ratio).long().clamp(min=min_neg).clamp(max=conf.shape[-2] - 1)
        num_neg = torch.minimum(num_neg, (~excluded).sum(-1, keepdim=True))
        return rank < num_neg


def multibox_loss(
    loc: torch.Tensor, conf: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor,
    threshold: float = 0.5, neg_pos_ratio: float = 3.0, variances: tuple[float, float] = (0.1, 0.2),
    min_neg: int = 0, ignore_iou: float | None = None, per_gt: int = 1,
) -> MultiBoxOutput:
    """SSD MultiBox loss: smooth-L1 on positives + cross-entropy on positives and hard negatives (3:1), both
    summed and divided by the number of positives in the batch.

    loc (N, P, 4), conf (N, P, C) logits. ``min_neg`` > 0 also trains on frames without objects (the reference
    uses 0: an empty frame then contributes nothing). ``ignore_iou``: background priors overlapping a gt by at
    least this much are never mined as negatives (off in the reference; helps small objects on coarse grids,
    where a prior next to the matched one looks just like it).
    """
    loc = loc.reshape(-1, *loc.shape[-2:])
    conf = conf.reshape(-1, *conf.shape[-2:])
    loc_t, conf_t, best_iou = match(gt_boxes, gt_labels, priors, threshold, variances, per_gt)
    pos = conf_t > 0
    num_pos = int(pos.sum())
    norm = float(max(num_pos, 1))
    loss_l = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum") / norm
    ignore = (best_iou >= ignore_iou) & ~pos if ignore_iou is not None else None
    neg = hard_negatives(conf, conf_t, neg_pos_ratio, min_neg, ignore)
    sel = pos | neg
    loss_c = F.cross_entropy(conf[sel], conf_t[sel], reduction="sum") / norm
    return MultiBoxOutput(loss_l, loss_c, num_pos)


def box_mask(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Binary mask (N, 1, H, W) of the filled ground-truth boxes (pixel centres inside any box)."""
    h, w = (size, size) if isinstance(size, int) else size
    ys = (torch.arange(h, device=gt_boxes.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=gt_boxes.device, dtype=torch.float32) + 0.5) / w
    b = gt_boxes
    valid = (gt_labels >= 0)[..., None, None]
    iny = (ys[:, None] >= b[..., 1, None, None]) & (ys[:, None] <= b[..., 3, None, None])  # (N, G, H, 1)
    inx = (xs[None, :] >= b[..., 0, None, None]) & (xs[None, :] <= b[..., 2, None, None])  # (N, G, 1, W)
    return (iny & inx & valid).any(1, keepdim=True).float()


def attention_loss(maps: Sequence[torch.Tensor], gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                   input_size: int | tuple[int, int]) -> torch.Tensor:
    """BCE between each attention map, bilinearly upsampled to the input size, and the filled-box mask;
    summed over scales, averaged over time (and batch, pixels).

    maps: per temporal scale (B, T, 1, h, w) (or (N, 1, h, w)) in [0, 1]; gt padded as (B * T, G, ...).
    Returns 0 for models without attention maps.
    """
    if not maps:
        return gt_boxes.new_zeros(())
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    mask = box_mask(gt_boxes, gt_labels, size)
    total = gt_boxes.new_zeros(())
    for m in maps:
        m = m.reshape(-1, 1, *m.shape[-2:])
        up = F.interpolate(m.float(), size=size, mode="bilinear", align_corners=False).clamp(1e-6, 1 - 1e-6)
        total = total + F.binary_cross_entropy(up, mask)
    return total


def class_scores(conf: torch.Tensor, top_k: int = 5) -> torch.Tensor:
    """Differentiable per-class frame score: the sum of the ``top_k`` highest softmax scores of each foreground
    class over the priors. conf (..., P, C) logits -> (..., C - 1).

    Why a proxy: the paper sums the top-k *post-NMS* scores; NMS is a discrete selection, so this uses the top-k
    priors per class before NMS (the gradient flows into those k scores). With a small k and well separated
    objects the two agree up to the overlapping priors that NMS would drop.
    """
    probs = F.softmax(conf, dim=-1)[..., 1:]
    k = min(int(top_k), probs.shape[-2])
    return probs.topk(k, dim=-2).values.sum(-2)


def association_loss(conf: torch.Tensor, top_k: int = 5) -> torch.Tensor:
    """Paper eq. (4), differentiable: smooth-L1 between each frame's class-score vector and the running mean of
    the earlier frames' vectors, averaged over frames 1..T-1 and the batch. conf (B, T, P, C) logits.

    Gradients flow into both the frame and the mean of earlier frames (the reference detached both, so the term
    did nothing).
    """
    if conf.dim() != 4:
        raise ValueError("association_loss expects clip logits (B, T, P, C)")
    t = conf.shape[1]
    if t < 2:
        return conf.new_zeros(())
    s = class_scores(conf, top_k)  # (B, T, C-1)
    csum = s.cumsum(1)
    n = torch.arange(1, t, device=conf.device, dtype=s.dtype).view(1, -1, 1)
    prev_mean = csum[:, :-1] / n  # mean of frames 0..t-1 for t = 1..T-1
    return F.smooth_l1_loss(s[:, 1:], prev_mean, reduction="none").sum(-1).mean()


@dataclass
class LossTerms:
    """The weighted total and its parts (floats for logging)."""

    total: torch.Tensor
    loc: float
    conf: float
    attention: float
    association: float
    num_pos: int


def tssd_loss(
    out: dict[str, object], gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, input_size: int,
    weights: LossWeights | None = None, *, threshold: float = 0.5, neg_pos_ratio: float = 3.0,
    variances: tuple[float, float] = (0.1, 0.2), min_neg: int = 0, ignore_iou: float | None = None,
    per_gt: int = 1, assoc_top_k: int = 5,
) -> LossTerms:
    """All terms for the output of ``TSSD.forward`` on a clip (B, T); gt padded over the B * T frames in
    (batch, time) order. Terms with weight 0 are skipped (not computed)."""
    w = weights or LossWeights()
    loc: torch.Tensor = out["loc"]  # type: ignore[assignment]
    conf: torch.Tensor = out["conf"]  # type: ignore[assignment]
    mb = multibox_loss(loc.flatten(0, 1), conf.flatten(0, 1), gt_boxes, gt_labels, priors, threshold,
                       neg_pos_ratio, variances, min_neg, ignore_iou, per_gt)
    total = w.loc * mb.loc + w.conf * mb.conf
    att = torch.zeros(())
    maps = out.get("attention") or []
    if w.attention and maps:
        att = attention_loss(maps, gt_boxes, gt_labels, input_size)  # type: ignore[arg-type]
        total = total + w.attention * att
    assoc = torch.zeros(())
    if w.association and conf.shape[1] > 1:
        assoc = association_loss(conf, assoc_top_k)
        total = total + w.association * assoc
    return LossTerms(total, float(mb.loc.detach()), float(mb.conf.detach()), float(att.detach()),
                     float(assoc.detach()), mb.num_pos)
