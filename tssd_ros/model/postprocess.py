"""Post-processing: per-class threshold + greedy NMS (vectorised), and OTA's per-box appearance vectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tssd_ros.model.box_coder import decode
from tssd_ros.model.config import PostprocessConfig


def pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """(..., K, 4) -> (..., K, K) IoU as the reference NMS: no +1, widths clamped at 0,
    union = (area_j - inter) + area_i for row i (the picked box) and column j."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1) * (y2 - y1)
    w = (torch.minimum(x2[..., :, None], x2[..., None, :]) - torch.maximum(x1[..., :, None], x1[..., None, :]))
    h = (torch.minimum(y2[..., :, None], y2[..., None, :]) - torch.maximum(y1[..., :, None], y1[..., None, :]))
    inter = w.clamp(min=0) * h.clamp(min=0)
    union = (area[..., None, :] - inter) + area[..., :, None]
    return inter / union


def greedy_nms_sorted(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS over score-sorted candidates, batched over a leading dim (classes).

    boxes (G, K, 4) sorted by descending score, valid (G, K). Returns keep (G, K). Box i is kept iff it is
    valid and no kept earlier box j < i has IoU > threshold. Solved as the unique fixed point of that rule by
    Jacobi iteration (exact after at most K sweeps, usually a handful), instead of a loop over boxes.
    """
    k = boxes.shape[-2]
    if k == 0:
        return valid.clone()
    earlier = torch.ones(k, k, dtype=torch.bool, device=boxes.device).triu(1)  # [j, i]: j before i
    sup = (pairwise_iou(boxes) > iou_threshold) & earlier & valid[..., :, None]
    keep = valid.clone()
    for _ in range(k):
        new = valid & ~(sup & keep[..., :, None]).any(-2)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def detect(
    loc: torch.Tensor, probs: torch.Tensor, priors: torch.Tensor, cfg: PostprocessConfig,
    variances: tuple[float, float] = (0.1, 0.2),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One frame: loc (P, 4), class probabilities (P, C) (softmax, background first), priors (P, 4) ->
    (boxes_norm (N, 4), scores (N,), labels (N,)).

    For each foreground class independently: scores > conf_threshold, the top_k highest
    are NMS candidates, greedy NMS keeps IoU <= nms_iou (normalised unclipped boxes); then, if
    ``cross_class_iou`` < 1, the same greedy rule across classes at that IoU. Output is grouped by class
    (ascending label) and by descending score inside a class, as the reference's (classes, top_k) table.
    Labels are 0-based foreground indices.
    """
    probs = probs.float()
    n_fg = probs.shape[-1] - 1
    classes = range(n_fg) if cfg.class_filter is None else sorted({int(c) for c in cfg.class_filter if 0 <= c < n_fg})
    cls = torch.as_tensor(list(classes), dtype=torch.long, device=probs.device)
    empty = (probs.new_zeros(0, 4), probs.new_zeros(0), torch.zeros(0, dtype=torch.long, device=probs.device))
    if cls.numel() == 0:
        return empty
    s = probs[:, cls + 1].T  # (G, P)
    above = s > cfg.conf_threshold
    k = min(int(cfg.top_k), int(above.sum(1).max()))
    if k <= 0:
        return empty
    masked = torch.where(above, s, torch.full_like(s, -1.0))
    vals, idx = masked.topk(k, dim=1, largest=True, sorted=True)
    valid = vals > cfg.conf_threshold
    cand = decode(loc[idx.reshape(-1)].float(), priors[idx.reshape(-1)], variances).reshape(*idx.shape, 4)
    # (G, k, 4): only the candidates are decoded
    keep = greedy_nms_sorted(cand, valid, cfg.nms_iou)
    g, j = keep.nonzero(as_tuple=True)  # row-major: class ascending, score descending
    out_boxes, out_scores = cand[g, j], vals[g, j]
    if cfg.cross_class_iou < 1.0 and len(g) > 1:
        order = torch.argsort(out_scores, descending=True, stable=True)
        kept = greedy_nms_sorted(out_boxes[order][None], torch.ones(1, len(order), dtype=torch.bool,
                                                                     device=order.device), cfg.cross_class_iou)[0]
        sel = torch.sort(order[kept]).values  # back to class-then-score order
        g, out_boxes, out_scores = g[sel], out_boxes[sel], out_scores[sel]
    return out_boxes, out_scores, cls[g]


def roi_grid(boxes: torch.Tensor, height: int, width: int, out: int = 7) -> torch.Tensor:
    """Sampling grid (N, out, out, 2) for ``grid_sample(align_corners=True)`` reproducing the reference crop.

    Crop rows floor(y1 H)..ceil(y2 H) (exclusive end), clipped to [0, H], at least one cell; then a bilinear
    align_corners=True resize to out x out samples at row y0 + t (h - 1) / (out - 1).
    """
    b = torch.nan_to_num(boxes.float(), nan=0.0, posinf=1e4, neginf=-1e4).clamp(-1e4, 1e4)

    def axis(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
        a = torch.floor(lo * size).clamp(0, size - 1)
        e = torch.maximum(torch.ceil(hi * size).clamp(0, size), a + 1)
        t = torch.linspace(0, 1, out, device=b.device)
        p = a[:, None] + t[None, :] * (e - a - 1)[:, None]  # pixel index in [0, size - 1]
        return p * (2.0 / (size - 1)) - 1 if size > 1 else torch.zeros_like(p)

    gx = axis(b[:, 0], b[:, 2], width)
    gy = axis(b[:, 1], b[:, 3], height)
    return torch.stack([gx[:, None, :].expand(-1, out, -1), gy[:, :, None].expand(-1, -1, out)], -1)


def roi_vectors(maps: torch.Tensor, boxes: torch.Tensor, out: int = 7, normalize: bool = False) -> torch.Tensor:
    """maps (M, H, W), boxes (N, 4) normalised xyxy -> (N, M * out * out), channel-major (as the reference)."""
    n = boxes.shape[0]
    if n == 0:
        return maps.new_zeros(0, maps.shape[0] * out * out)
    grid = roi_grid(boxes, maps.shape[-2], maps.shape[-1], out).to(maps.dtype)
    v = F.grid_sample(maps[None].expand(n, -1, -1, -1), grid, mode="bilinear", align_corners=True)
    v = v.reshape(n, -1)
    return F.normalize(v, dim=1) if normalize else v
