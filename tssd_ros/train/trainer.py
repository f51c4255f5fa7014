"""Two-stage TSSD training as the reference: SSD on still frames, then TSSD on clips (random skip sampling).

Why one trainer for both stages: they differ only in the sampling (stills with the recurrent state reset every
frame vs clips of ``seq_len`` frames), in which parameters are frozen and in the loss terms that apply.

Optimisers as the reference: SGD (momentum 0.9, weight decay 5e-4) for the heads, attention, extras and the
backbone when it is trained; RMSprop (weight decay 5e-4) for the recurrent cells, whose gradient norm is clipped
at 5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from tssd_ros.data.dataset import ClipDataset, StillDataset, collate_clips, collate_stills
from tssd_ros.data.sequence import VideoSequence
from tssd_ros.model.config import PostprocessConfig, PreprocessConfig
from tssd_ros.model.tssd import TSSD
from tssd_ros.train.losses import LossWeights, pad_targets, tssd_loss

STAGES = ("ssd", "tssd")


@dataclass
class TrainConfig:
    """One training stage.

    stage: ``ssd`` (stills, state reset every frame, photometric + mirror augmentation) or ``tssd`` (clips of
        ``seq_len`` frames by random skip sampling, state carried through the clip).
    batch: images (ssd) or clips (tssd) per iteration. lr: None picks the reference's (1e-3 ssd, 1e-4 tssd).
    freeze_backbone: None freezes backbone + extras in the tssd stage only (as the reference).
    min_neg: negatives mined per image even without objects (0 as the reference).
    """

    stage: str = "ssd"
    iters: int = 1000
    batch: int = 8
    seq_len: int = 8
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    rnn_clip: float = 5.0
    freeze_backbone: bool | None = None
    weights: LossWeights = field(default_factory=LossWeights)
    match_iou: float = 0.5
    neg_pos_ratio: float = 3.0
    min_neg: int = 0
    augment: bool = True
    warmup: int = 50
    still_stride: int = 1
    device: str = "cpu"
    seed: int = 0
    num_workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.iters < 1 or self.batch < 1 or self.seq_len < 1:
            raise ValueError("iters, batch and seq_len must be positive")

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else (1e-3 if self.stage == "ssd" else 1e-4)

    @property
    def frozen(self) -> bool:
        return self.freeze_backbone if self.freeze_backbone is not None else self.stage == "tssd"


@dataclass
class TrainResult:
    """Per-iteration loss history (total, loc, conf, attention, association) and wall time."""

    history: list[tuple[float, float, float, float, float]]
    seconds: float

    @property
    def iterations(self) -> int:
        return len(self.history)

    @property
    def final_loss(self) -> float:
        """Mean total loss over the last 10 % of the iterations (a single batch is noisy)."""
        if not self.history:
            return float("nan")
        tail = self.history[-max(1, len(self.history) // 10):]
        return float(np.mean([h[0] for h in tail]))


def preprocess_fn(pre: PreprocessConfig) -> Callable[[np.ndarray], np.ndarray]:
    """BGR uint8 -> CHW float32 exactly as :meth:`Detector.preprocess_image` (resize on uint8, mean, RGB)."""
    mean = np.asarray(pre.mean_bgr, np.float32)

    def f(img: np.ndarray) -> np.ndarray:
        x = (cv2.resize(img, (pre.input_size, pre.input_size)).astype(np.float32) - mean) / pre.std
        if pre.channel_order == "rgb":
            x = x[..., ::-1]
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    return f


class PhotometricMirror:
    """Small SSD-stage augmentation: brightness/contrast/saturation jitter and a horizontal mirror (boxes in px).

    Why small: the expand/crop part of SSD augmentation matters for big data sets and long schedules; for the
    short fine-tuning runs this command is for, colour changes of the water and mirrored scenes are enough.
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray, boxes: np.ndarray, labels: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self.rng
        x = img.astype(np.float32)
        if r.random() < 0.5:
            x += r.uniform(-24, 24)
        if r.random() < 0.5:
            x = (x - x.mean()) * r.uniform(0.7, 1.3) + x.mean()
        if r.random() < 0.5:
            grey = x.mean(2, keepdims=True)
            x = grey + (x - grey) * r.uniform(0.6, 1.4)
        img = np.clip(x, 0, 255).astype(np.uint8)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
        if r.random() < 0.5:
            w = img.shape[1]
            img = np.ascontiguousarray(img[:, ::-1])
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        return img, boxes, labels


def recurrent_parameters(model: TSSD) -> list[nn.Parameter]:
    """Parameters of the recurrent cells (ConvLSTM / Bottleneck-LSTM), optimised by RMSprop."""
    return [p for unit in model.temporal.units for p in unit.cell.parameters()]


def frozen_modules(model: TSSD) -> list[nn.Module]:
    """Backbone + extras (the mobile model's extras sit after the LSTM, in ``neck``)."""
    return [model.backbone] + ([model.neck] if model.neck is not None else [])


def build_optimizers(model: TSSD, cfg: TrainConfig) -> tuple[list[torch.optim.Optimizer], list[nn.Parameter]]:
    """SGD for everything trainable except the recurrent cells, RMSprop for those. Returns (optimisers,
    recurrent params)."""
    rnn = [p for p in recurrent_parameters(model) if p.requires_grad]
    rnn_ids = {id(p) for p in rnn}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in rnn_ids]
    opts: list[torch.optim.Optimizer] = []
    if rest:
        opts.append(torch.optim.SGD(rest, lr=cfg.base_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    if rnn:
        opts.append(torch.optim.RMSprop(rnn, lr=cfg.base_lr, weight_decay=cfg.weight_decay))
    return opts, rnn


def _infinite(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


class Trainer:
    """Trains a :class:`TSSD` on annotated sequences (any :class:`VideoSequence`: MOT folders, dives, VID)."""

    def __init__(self, model: TSSD, sequences: Sequence[VideoSequence], config: TrainConfig,
                 preprocess: PreprocessConfig | None = None) -> None:
        if not sequences:
            raise ValueError("no training sequences")
        self.model = model
        self.cfg = config
        self.sequences = list(sequences)
        self.preprocess = preprocess or PreprocessConfig(input_size=model.config.input_size)
        self.device = torch.device(config.device)

    def _loader(self) -> DataLoader:
        c = self.cfg
        pre = preprocess_fn(self.preprocess)
        if c.stage == "ssd":
            ds: ClipDataset | StillDataset = StillDataset(
                self.sequences, pre, c.still_stride, PhotometricMirror(c.seed) if c.augment else None)
            collate = collate_stills
        else:
            ds = ClipDataset(self.sequences, c.seq_len, pre, clips_per_sequence=64, seed=c.seed)
            collate = collate_clips
        if len(ds) == 0:
            raise ValueError("the training sequences hold no frames")
        gen = torch.Generator().manual_seed(c.seed)
        sampler = RandomSampler(ds, replacement=True, num_samples=c.iters * c.batch, generator=gen)
        return DataLoader(ds, batch_size=c.batch, sampler=sampler, collate_fn=collate, num_workers=c.num_workers,
                          drop_last=False)

    def _batch(self, item: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, targets = item
        if self.cfg.stage == "ssd":
            x = x.unsqueeze(1)  # (B, 1, 3, H, W): every still starts from a zero state
            flat = list(targets)
        else:
            flat = [t for clip in targets for t in clip]  # (b, t) order, as TSSD.forward flattens
        gb, gl = pad_targets([t["boxes"] for t in flat], [t["labels"] for t in flat], self.device)
        return x.to(self.device, torch.float32), gb, gl

    def fit(self) -> TrainResult:
        """Run ``iters`` iterations; returns the loss history."""
        c = self.cfg
        torch.manual_seed(c.seed)
        model = self.model.to(self.device)
        model.train()
        frozen = frozen_modules(model) if c.frozen else []
        for m in frozen:
            m.eval()  # frozen batch norm keeps its statistics
            for p in m.parameters():
                p.requires_grad_(False)
        opts, rnn = build_optimizers(model, c)
        trainable = [p for p in model.parameters() if p.requires_grad]
        rnn_ids = {id(p) for p in rnn}
        others = [p for p in trainable if id(p) not in rnn_ids]
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: min(1.0, (i + 1) / max(1, c.warmup))
                                                    * 0.5 * (1 + math.cos(math.pi * i / c.iters))) for o in opts]
        weights = c.weights
        if c.stage == "ssd":  # single frames: no temporal consistency to enforce
            weights = LossWeights(weights.loc, weights.conf, weights.attention, 0.0)
        history: list[tuple[float, float, float, float, float]] = []
        t0 = time.monotonic()
        bar = tqdm(total=c.iters, desc=f"train {c.stage}", disable=not c.progress, unit="it")
        try:
            for it, item in enumerate(_infinite(self._loader())):
                if it >= c.iters:
                    break
                x, gb, gl = self._batch(item)
                out = model(x)
                terms = tssd_loss(out, gb, gl, model.priors, model.config.input_size, weights,
                                  threshold=c.match_iou, neg_pos_ratio=c.neg_pos_ratio,
                                  variances=model.prior_config.variance, min_neg=c.min_neg)
                if not torch.isfinite(terms.total):
                    raise FloatingPointError(f"loss became {float(terms.total)} at iteration {it}; lower --lr")
                for o in opts:
                    o.zero_grad(set_to_none=True)
                terms.total.backward()
                if rnn:
                    torch.nn.utils.clip_grad_norm_(rnn, c.rnn_clip)
                if others:
                    torch.nn.utils.clip_grad_norm_(others, 100.0)  # safety net only
                for o in opts:
                    o.step()
                for s in scheds:
                    s.step()
                history.append((float(terms.total.detach()), terms.loc, terms.conf, terms.attention,
                                terms.association))
                bar.update(1)
                if it % 10 == 0:
                    bar.set_postfix(loss=f"{history[-1][0]:.3f}", loc=f"{terms.loc:.3f}", conf=f"{terms.conf:.3f}")
        finally:
            bar.close()
            for m in frozen:
                for p in m.parameters():
                    p.requires_grad_(True)
            model.eval()
        return TrainResult(history, time.monotonic() - t0)


def save_loss_curve(result: TrainResult, path: str | Path, title: str = "") -> Path:
    """Loss-curve PNG (total and parts, moving average) with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = np.asarray(result.history, np.float64).reshape(-1, 5)
    fig, ax = plt.subplots(figsize=(7, 4))
    k = max(1, len(h) // 50)
    names = ("total", "loc", "conf", "attention", "association")
    for j, name in enumerate(names):
        if len(h) and np.any(h[:, j]):
            y = np.convolve(h[:, j], np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(y)) + k, y, label=name, lw=1.5 if j == 0 else 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or f"training loss ({result.iterations} iterations)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def save_trained(model: TSSD, result: TrainResult, path: str | Path, class_names: Sequence[str],
                 trained_on: str, cfg: TrainConfig, preprocess: PreprocessConfig | None = None,
                 postprocess: PostprocessConfig | None = None) -> tuple[Path, Path]:
    """Project-format checkpoint with training metadata, and its loss curve next to it (``<stem>.loss.png``)."""
    from tssd_ros.model.checkpoint import save_checkpoint

    path = Path(path)
    ckpt = save_checkpoint(model, path, tuple(class_names), preprocess, postprocess, trained_on=trained_on,
                           notes=f"tssd train --stage {cfg.stage}", iterations=result.iterations,
                           final_loss=result.final_loss, stage=cfg.stage, lr=cfg.base_lr,
                           seconds=round(result.seconds, 1))
    png = save_loss_curve(result, path.with_name(path.stem + ".loss.png"), f"{cfg.stage} stage: {path.name}")
    return ckpt, png
