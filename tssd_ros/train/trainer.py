"""The one trainer: runs a :class:`~tssd_ros.train.config.RunConfig`'s stages, resumable, on CPU, CUDA or DDP.

Why one loop: stills (SSD stage), clips (TSSD stage) and the association fine-tuning differ only in what an item
is, which parameters train and which loss terms count. Every checkpoint it writes is a project-format detector
(``load_detector`` opens it) that also carries the training state, so a run stopped at any point continues from
``<out>/last.pt`` and any stage's output is a usable model (:class:`~tssd_ros.train.run_folder.RunFolder`).

Optimisers as the reference: SGD (momentum, weight decay) for everything but the recurrent cells, RMSprop for
those (gradient norm clipped). Learning rate: linear warm-up, cosine decay to ``min_lr_ratio``.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from tssd_ros.errors import InputError
from tssd_ros.model.config import PreprocessConfig
from tssd_ros.model.preprocess import to_blob
from tssd_ros.model.temporal import State
from tssd_ros.model.tssd import TSSD
from tssd_ros.train.config import RunConfig, StageConfig
from tssd_ros.train.ema import WeightEMA
from tssd_ros.train.losses import LossTerms, LossWeights, pad_targets, tssd_loss
from tssd_ros.train.pretrained import PRETRAINED_PREPROCESS, load_init_detector, load_pretrained_backbone
from tssd_ros.train.run_folder import RunFolder
from tssd_ros.train.sources import DataMix, StageDataset, stream_episode


def _one_blob(img: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    return to_blob(img, pre)[0]


def preprocess_fn(pre: PreprocessConfig) -> Callable[[np.ndarray], np.ndarray]:
    """BGR uint8 -> CHW float32 by the detector's own rule (:func:`tssd_ros.model.preprocess.to_blob`);
    picklable, for data-loader workers."""
    return functools.partial(_one_blob, pre=pre)


def recurrent_parameters(model: TSSD) -> list[nn.Parameter]:
    """Parameters of the recurrent cells (ConvLSTM / Bottleneck-LSTM), optimised by RMSprop."""
    return [p for unit in model.temporal.units for p in unit.cell.parameters()]


def build_optimizers(model: TSSD, stage: StageConfig) -> list[torch.optim.Optimizer]:
    """[SGD over all but the recurrent cells, RMSprop over those]; the backbone's group runs at
    ``backbone_lr_mult`` of the rate (a pretrained backbone is fine-tuned gently). Frozen parameters simply get
    no gradient. Each group keeps its peak rate in ``base_lr`` for the schedule."""
    rnn = recurrent_parameters(model)
    rnn_ids = {id(p) for p in rnn}
    bb_ids = {id(p) for p in model.backbone.parameters()}
    rest = [p for p in model.parameters() if id(p) not in rnn_ids and id(p) not in bb_ids]
    groups = [{"params": rest, "base_lr": stage.lr},
              {"params": list(model.backbone.parameters()), "base_lr": stage.lr * stage.backbone_lr_mult}]
    opts: list[torch.optim.Optimizer] = [
        torch.optim.SGD(groups, lr=stage.lr, momentum=stage.momentum, weight_decay=stage.weight_decay)]
    if rnn:
        rate = stage.lr_rnn or stage.lr
        opts.append(torch.optim.RMSprop([{"params": rnn, "base_lr": rate}], lr=rate,
                                        weight_decay=stage.weight_decay))
    return opts


def lr_factor(stage: StageConfig, it: int) -> float:
    """Warm-up then cosine decay to ``min_lr_ratio`` of the stage's rate."""
    warm = min(1.0, (it + 1) / max(1, stage.warmup))
    cos = 0.5 * (1 + math.cos(math.pi * min(it, stage.iters) / stage.iters))
    return warm * (stage.min_lr_ratio + (1 - stage.min_lr_ratio) * cos)


def set_trainable(model: TSSD, stage: StageConfig, it: int, bn_frozen: bool) -> bool:
    """Freeze the backbone for the whole stage or its first ``freeze_backbone_iters``; returns frozen or not.
    Pretrained backbones keep their batch norm in eval mode (folded, small batches)."""
    frozen = stage.freeze_backbone or it < stage.freeze_backbone_iters
    for p in model.backbone.parameters():
        p.requires_grad_(not frozen)
    model.train()
    if frozen or bn_frozen:
        for m in model.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    return frozen


def stage_loss(model: TSSD, x: torch.Tensor, targets: list[Any], stage: StageConfig, device: torch.device,
               prev: State | None = None, net: nn.Module | None = None) -> tuple[LossTerms, State]:
    """The stage's loss on a batch (stills (B, 3, H, W) or clips (B, T, 3, H, W) with their target dicts);
    ``net`` is the model or its DDP wrapper. Returns the terms and the recurrent state after the batch."""
    weights = LossWeights(stage.loss_loc, stage.loss_conf, stage.loss_attention if stage.temporal else 0.0,
                          stage.loss_association if stage.kind == "assoc" else 0.0)
    flat = [t for clip in targets for t in clip] if stage.temporal else list(targets)
    gb, gl = pad_targets([t["boxes"] for t in flat], [t["labels"] for t in flat], device)
    x = x.to(device, torch.float32, non_blocking=True)
    if not stage.temporal:
        x = x.unsqueeze(1)  # (B, 1, 3, H, W): every still starts from a zero state
    out = (net or model)(x, prev)
    out = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}
    terms = tssd_loss(out, gb, gl, model.priors, model.config.input_size, weights, threshold=stage.match_iou,
                      neg_pos_ratio=stage.neg_pos_ratio, variances=model.prior_config.variance,
                      min_neg=stage.min_neg, ignore_iou=stage.ignore_iou, per_gt=stage.per_gt)
    return terms, out["state"]  # type: ignore[return-value]


def optimizer_step(model: TSSD, opts: list[torch.optim.Optimizer], loss: torch.Tensor, stage: StageConfig) -> None:
    """Backward, clip (recurrent cells at ``rnn_clip``, everything at ``grad_clip``), step every optimiser."""
    for o in opts:
        o.zero_grad(set_to_none=True)
    loss.backward()
    rnn = [p for p in recurrent_parameters(model) if p.grad is not None]
    if rnn:
        torch.nn.utils.clip_grad_norm_(rnn, stage.rnn_clip)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], stage.grad_clip)
    for o in opts:
        o.step()


class _Range(Sampler[int]):
    """Sample indices ``start*batch .. iters*batch`` of this rank (rank r takes every world-th item)."""

    def __init__(self, start: int, stop: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    def __iter__(self):  # type: ignore[override]
        return iter(range(self.start * self.world + self.rank, self.stop * self.world, self.world))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (oneDNN with AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_wanted(cfg: RunConfig, device: torch.device, log: Callable[[str], None]) -> bool:
    """bfloat16 autocast: on CUDA with ``amp``, on a CPU with ``cpu_bf16`` where it runs natively (emulated
    bfloat16 would be slower than float32, so that case trains in float32 and says so). On the CPU the trainer
    then also keeps the weights channels-last (NHWC), the layout oneDNN's bfloat16 kernels want."""
    if device.type == "cuda":
        return bool(cfg.amp)
    if device.type != "cpu" or not cfg.cpu_bf16:
        return False
    if cpu_bf16_supported():
        log("cpu_bf16: bfloat16 autocast on this CPU")
        return True
    log("cpu_bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); training in float32")
    return False


def _collate(batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, list[Any]]:
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


class RunTrainer:
    """Runs the stages of a config; ``run()`` returns the final checkpoint path."""

    def __init__(self, cfg: RunConfig, progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.progress = progress
        self.log = log
        self.out = cfg.out_dir
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {cfg.device}: CUDA is not available here; use device: cpu")
        if self.world > 1:
            import torch.distributed as dist

            local = int(os.environ.get("LOCAL_RANK", "0"))
            if cfg.device.startswith("cuda"):
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            else:
                self.device = torch.device("cpu")
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        else:
            self.device = torch.device(cfg.device)
        self.amp = autocast_wanted(cfg, self.device, log)
        self.main = self.rank == 0
        self.folder = RunFolder(cfg, log)

    # ---- model and checkpoints ----
    def _new_model(self) -> tuple[TSSD, PreprocessConfig, dict[str, Any]]:
        from tssd_ros.train.init import init_heads

        dcfg = self.cfg.detector_config()
        torch.manual_seed(self.cfg.seed)
        model = TSSD(dcfg)
        init_heads(model)
        meta: dict[str, Any] = {"pretrained": None}
        pre = PreprocessConfig(input_size=dcfg.input_size)
        if self.cfg.pretrained and not self.cfg.init:
            path = self.cfg.resolve(self.cfg.pretrained)
            meta["pretrained"] = load_pretrained_backbone(model, path)  # type: ignore[arg-type]
            pre = PreprocessConfig(input_size=dcfg.input_size, **PRETRAINED_PREPROCESS)
        if self.cfg.init:
            pre, meta = load_init_detector(model, self.cfg.resolve(self.cfg.init))  # type: ignore[arg-type]
            self.log(f"init from {meta['init']['file']}: {meta['init']['tensors']} tensors")
        return model, pre, meta

    # ---- the run ----
    def run(self, max_iters: int | None = None) -> Path:
        """Train every stage not done yet; ``max_iters`` stops after that many iterations in this call (tests,
        a time-boxed session); the run folder can be resumed later."""
        if self.cfg.threads:
            torch.set_num_threads(int(self.cfg.threads))
        self.out.mkdir(parents=True, exist_ok=True)
        val = self._val_sets()  # read now: a wrong val path fails before training, not after a stage
        model, pre, meta = self._new_model()
        model.to(self.device)
        if self.amp and self.device.type == "cpu":  # oneDNN's bfloat16 convolutions run fastest on NHWC weights
            model.to(memory_format=torch.channels_last)
        stage_i, it, opts, pre_r, meta_r = self.folder.resume(
            model, lambda i: build_optimizers(model, self.cfg.stages[i]), self.main)
        pre, meta = pre_r or pre, meta_r or meta
        mix = DataMix(self.cfg.data, self.cfg)
        budget = max_iters if max_iters is not None else math.inf
        while stage_i < len(self.cfg.stages) and budget > 0:
            stage = self.cfg.stages[stage_i]
            opts = opts or build_optimizers(model, stage)
            done_it = self._stage(model, pre, meta, mix, stage_i, it, opts, budget)
            budget -= done_it - it
            if done_it < stage.iters:
                break
            if self.main:
                self.folder.save(self.out / f"{stage.name}.pt", model, pre, meta, stateless=not stage.temporal)
                self.log(f"stage {stage.name} done -> {self.out / (stage.name + '.pt')}")
                self._validate(stage.name, val)
            stage_i, it, opts = stage_i + 1, 0, None
            if self.main:
                self.folder.save(self.folder.last, model, pre, meta, self.folder.train_state(stage_i, 0, []))
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        final = self.out / f"{self.cfg.stages[-1].name}.pt"
        return final if stage_i >= len(self.cfg.stages) else self.out / "last.pt"

    def _val_sets(self) -> list[tuple[str, Any]]:
        """(source file name, still collection) of every ``val`` source (main process only)."""
        from tssd_ros.train.sources import load_source

        if not self.main:
            return []
        return [(Path(src.path).name, coll) for src in self.cfg.val for coll in load_source(src, self.cfg)[1]]

    def _validate(self, stage: str, val: list[tuple[str, Any]]) -> None:
        """Score the stage's file on the ``val`` stills (the stage's own checkpoint through ``load_detector``,
        as a user would load it) and append the figures to ``val.csv``."""
        from tssd_ros.eval.coco import evaluate_stills
        from tssd_ros.model.checkpoint import load_detector

        if not val:
            return
        det = load_detector(self.out / f"{stage}.pt")
        path = self.out / "val.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["stage", "source", "images", "mAP50", "mAP50_95"])
            for name, coll in val:
                res = evaluate_stills(det, coll, progress=self.progress, limit=self.cfg.val_limit)
                m50, m = (float("nan") if res[k] is None else float(res[k]) for k in ("mAP50", "mAP50_95"))
                w.writerow([stage, name, res["images"], f"{m50:.4f}", f"{m:.4f}"])
                self.log(f"stage {stage}: val {name} ({res['images']} images) mAP@0.5 {m50:.3f}, @0.5:0.95 {m:.3f}")

    def _stage(self, model: TSSD, pre: PreprocessConfig, meta: dict[str, Any], mix: DataMix, stage_i: int,
               start: int, opts: list[torch.optim.Optimizer], budget: float) -> int:
        c = self.cfg
        stage = c.stages[stage_i]
        stop = int(min(stage.iters, start + budget))
        ds = StageDataset(mix, stage, stage_i, preprocess_fn(pre), c.seed, stage.iters * stage.batch * self.world,
                          self.world)
        loader = DataLoader(ds, batch_size=stage.batch, sampler=_Range(start * stage.batch, stop * stage.batch,
                                                                          self.rank, self.world),
                            collate_fn=_collate, num_workers=c.workers, persistent_workers=False)
        net: nn.Module = model
        if self.world > 1:
            net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
        bn_frozen = bool(meta.get("pretrained"))
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()
        logf, writer = self.folder.open_log() if self.main else (None, None)
        ema = WeightEMA(model, stage.ema_decay) if stage.ema_decay else None
        if ema is not None and start > 0:
            saved = self.folder.saved_ema()
            if saved is not None:
                ema.load_state_dict(saved)
        t0 = last_save = time.monotonic()
        it = start
        # after a resume, dropout's generator where the run stopped (one-shot; items are index-seeded): a stage-
        # boundary resume point was saved before this stage's loader drew its seed from the generator
        if start == 0:
            self.folder.restore_rng()
        state = None  # stream_episode: the state each batch slot carries into the next iteration
        bar = tqdm(total=stage.iters, initial=start, desc=f"train {stage.name}", unit="it",
                   disable=not (self.progress and self.main))
        try:
            for x, targets in loader:
                if it == start:  # a mid-stage resume point was saved after the loader drew its seed
                    self.folder.restore_rng()
                set_trainable(model, stage, it, bn_frozen)
                f = lr_factor(stage, it)
                for o in opts:
                    for g in o.param_groups:
                        g["lr"] = g["base_lr"] * f
                prev = None
                if stage.stream_episode and state is not None:  # a slot starting a new episode starts from zero
                    keep = torch.tensor([float(stream_episode(stage, it, b * self.world + self.rank, self.world)[1] > 0)
                                         for b in range(x.shape[0])], device=self.device).view(-1, 1, 1, 1)
                    prev = [(h.detach() * keep, cc.detach() * keep) for h, cc in state]
                with amp:
                    terms, new_state = stage_loss(model, x, targets, stage, self.device, prev, net)
                state = new_state if stage.stream_episode else None
                loss = float(terms.total.detach())
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at {stage.name} iteration {it}; "
                                             "lower the stage's lr")
                optimizer_step(model, opts, terms.total, stage)
                if ema is not None:
                    ema.update(model)
                it += 1
                bar.update(1)
                if writer:
                    writer.writerow([stage.name, it, f"{loss:.5f}", f"{terms.loc:.5f}",
                                     f"{terms.conf:.5f}", f"{terms.attention:.5f}", f"{terms.association:.5f}",
                                     f"{stage.lr * f:.6g}", f"{time.monotonic() - t0:.1f}"])
                if it % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}", loc=f"{terms.loc:.3f}",
                                    conf=f"{terms.conf:.3f}")
                    if logf:
                        logf.flush()
                if self.main and time.monotonic() - last_save > c.checkpoint_minutes * 60 and it < stop:
                    self.folder.checkpoint(model, pre, meta, stage_i, it, opts, ema)
                    last_save = time.monotonic()
        finally:
            bar.close()
            if logf:
                logf.close()
            for p in model.parameters():
                p.requires_grad_(True)
            model.eval()
        if ema is not None and it >= stage.iters:  # the stage's output is the average
            ema.copy_to(model)
            self.log(f"stage {stage.name}: weights averaged over {ema.updates} updates (ema_decay {ema.decay})")
        if self.main:
            self.folder.checkpoint(model, pre, meta, stage_i, it, opts, ema)
        return it


