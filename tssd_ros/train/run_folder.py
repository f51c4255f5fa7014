"""A training run's folder: checkpoints that are detectors and resume points, the CSV log, the curves PNG.

Why its own object: every file a run writes is an artefact a user opens (``load_detector`` reads any
checkpoint, ``log.csv`` and ``curves.png`` show the progress), and resuming must find the same state the
loop left, so writing and reading them live in one place, apart from the training loop.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tssd_ros.errors import CheckpointError
from tssd_ros.model.config import DetectorConfig, PostprocessConfig, PreprocessConfig
from tssd_ros.model.tssd import TSSD
from tssd_ros.train.config import RunConfig
from tssd_ros.train.ema import WeightEMA

LOG_FIELDS = ("stage", "iter", "loss", "loc", "conf", "attention", "association", "lr", "seconds")


def _plain(d: Any) -> Any:
    """A config dict with only plain containers (``weights_only`` loading)."""
    if isinstance(d, dict):
        return {str(k): _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    return d if isinstance(d, (str, int, float, bool)) or d is None else str(d)


class RunFolder:
    """``<out>/last.pt`` (resume point), ``<out>/<stage>.pt`` (stage outputs), ``log.csv``, ``curves.png``."""

    def __init__(self, cfg: RunConfig, log: Callable[[str], None] = print) -> None:
        self.cfg, self.log = cfg, log
        self.out = cfg.out_dir
        self.last = self.out / "last.pt"
        self.log_csv = self.out / "log.csv"
        self.resumed: dict[str, Any] = {}  # the train_state the run resumed from (weight average, generators)

    def save(self, path: Path, model: TSSD, pre: PreprocessConfig, meta: dict[str, Any],
             train_state: dict[str, Any] | None = None, stateless: bool = False) -> None:
        """A project-format detector (written atomically); ``stateless`` marks an SSD-stage output as the
        single-frame SSD (its recurrent state was zero at every training image, so it is run that way)."""
        from tssd_ros.model.checkpoint import save_checkpoint

        post = PostprocessConfig(**self.cfg.postprocess)
        tmp = path.with_suffix(".tmp")
        save_checkpoint(model, tmp, tuple(self.cfg.classes), pre, post,
                        trained_on=", ".join(s.kind + ":" + (s.path or str(s.seeds)) for s in self.cfg.data),
                        notes="tssd train", train_config=_plain(self.cfg.to_dict()), **meta)
        if train_state is not None or stateless:
            blob = torch.load(tmp, map_location="cpu", weights_only=True)
            if train_state is not None:
                blob["train_state"] = train_state
            blob["config"]["stateless"] = stateless
            torch.save(blob, tmp)
        os.replace(tmp, path)

    def checkpoint(self, model: TSSD, pre: PreprocessConfig, meta: dict[str, Any], stage_i: int, it: int,
                   opts: list[torch.optim.Optimizer], ema: WeightEMA | None = None) -> None:
        """The resume point (model, optimisers, weight average, stage, iteration) and a fresh curves PNG."""
        from tssd_ros.train.curves import save_curves

        self.save(self.last, model, pre, meta, self.train_state(stage_i, it, opts, ema))
        save_curves(self.log_csv, self.out / "curves.png")

    @staticmethod
    def train_state(stage_i: int, it: int, opts: list[torch.optim.Optimizer], ema: WeightEMA | None = None
                    ) -> dict[str, Any]:
        """What a resume point holds besides the model: stage, iteration, optimisers, the random generators
        (dropout draws from them) and the weight average."""
        state: dict[str, Any] = {"stage": stage_i, "iter": it, "optimizers": [o.state_dict() for o in opts],
                                 "rng": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if ema is not None:
            state["ema"] = ema.state_dict()
        return state

    def resume(self, model: TSSD, opts_for: Callable[[int], list[torch.optim.Optimizer]], main: bool = True
               ) -> tuple[int, int, list[torch.optim.Optimizer] | None, PreprocessConfig | None, dict | None]:
        """Load ``last.pt`` into ``model``: (stage, iteration, optimisers, preprocessing, metadata), or zeros
        and Nones for a new run. Log rows after the resume point are dropped (they will be redone)."""
        if not self.last.is_file():
            return 0, 0, None, None, None
        try:
            blob = torch.load(self.last, map_location="cpu", weights_only=True)
            st = blob["train_state"]
        except Exception as e:  # a torn file: say so, never start over silently
            raise CheckpointError(f"{self.last}: cannot resume ({e}); delete it to start the run over") from None
        stored = DetectorConfig.from_dict({**dict(blob["config"]), "stateless": False})
        if stored != self.cfg.detector_config():
            raise CheckpointError(f"{self.last} holds a different model than the config; use a new out: folder")
        model.load_state_dict(blob["state_dict"])
        self.resumed = st
        stage_i, it = int(st["stage"]), int(st["iter"])
        opts = None
        if stage_i < len(self.cfg.stages) and st.get("optimizers"):
            opts = opts_for(stage_i)
            for o, s in zip(opts, st["optimizers"], strict=False):
                o.load_state_dict(s)
        if main:
            self._truncate_log(stage_i, it)
        pre = PreprocessConfig.from_dict(dict(blob["preprocess"]))
        meta = {k: v for k, v in dict(blob.get("metadata", {})).items() if k in ("pretrained", "init")}
        self.log(f"resuming {self.out} at stage {stage_i} "
                 f"({self.cfg.stages[min(stage_i, len(self.cfg.stages) - 1)].name}), iteration {it}")
        return stage_i, it, opts, pre, meta

    def restore_rng(self) -> None:
        """Put the random generators (dropout draws from them) back where the resume point saved them, so a
        resumed run takes the same steps as one never stopped (each process of a DDP run gets rank 0's). Once
        only: the first stage after the resume calls it, later stages find nothing to restore."""
        rng, cuda_rng = self.resumed.pop("rng", None), self.resumed.pop("cuda_rng", None)
        if rng is not None:
            torch.set_rng_state(rng)
        if cuda_rng is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_rng)

    def saved_ema(self) -> dict[str, Any] | None:
        """The weight average stored in the resume point, if any."""
        return self.resumed.get("ema")

    def _truncate_log(self, stage_i: int, it: int) -> None:
        if not self.log_csv.is_file():
            return
        order = {s.name: k for k, s in enumerate(self.cfg.stages)}
        with open(self.log_csv, newline="") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if len(r) == len(LOG_FIELDS)
                            and (order.get(r[0], -1), int(r[1])) <= (stage_i, it)]
        with open(self.log_csv, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    def open_log(self) -> tuple[Any, Any]:
        """(file, csv writer) appending to ``log.csv`` (header written for a new log)."""
        new = not self.log_csv.is_file()
        f = open(self.log_csv, "a", newline="")  # noqa: SIM115 (closed by the caller)
        w = csv.writer(f)
        if new:
            w.writerow(LOG_FIELDS)
        return f, w
