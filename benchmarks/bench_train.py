"""Training step speed on the CPU: float32 vs bfloat16 autocast (the run config's ``cpu_bf16``).

Why: training the shipped detector happens on CPUs here (2 cores, no GPU promised), so a step's time decides how
much a session can train. One SSD-stage step (forward, MultiBox loss, backward, optimiser) of the shipped SSD at
its input size, batch 8, on synthetic dive frames, both precisions (bfloat16 with channels-last weights, as the
trainer runs it) alternated in one process (the machines are
noisy; only the ratio is quoted). Also the loss each precision computes on the same batch, so the speed does
not come with a different objective. On a CPU without native bfloat16 the bf16 figures are skipped.
Writes benchmarks/results/train.json.

    .venv/bin/python benchmarks/bench_train.py [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tssd_ros.model import load_detector  # noqa: E402
from tssd_ros.train.config import run_config_from_dict  # noqa: E402
from tssd_ros.train.sources import DataMix, StageDataset  # noqa: E402
from tssd_ros.train.trainer import (  # noqa: E402
    _collate,
    build_optimizers,
    cpu_bf16_supported,
    optimizer_step,
    preprocess_fn,
    stage_loss,
)

RESULTS = ROOT / "benchmarks" / "results"
WEIGHTS = ROOT / "weights" / "ssd_mobile_underwater.pt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per precision and round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    det = load_detector(WEIGHTS)
    model, pre = det.model.train(), det.preprocess
    with tempfile.TemporaryDirectory() as tmp:
        cfg = run_config_from_dict({
            "out": tmp, "model": {}, "stages": [{"name": "ssd", "kind": "ssd", "iters": 1, "batch": args.batch}],
            "data": [{"kind": "synth", "seeds": [1], "options": {"frames": args.batch, "preset": "clear"}}]})
        stage = cfg.stages[0]
        ds = StageDataset(DataMix(cfg.data, cfg), stage, 0, preprocess_fn(pre), 0, 10**4)
        x, targets = _collate([ds[k] for k in range(args.batch)])
    opts = build_optimizers(model, stage)
    for o in opts:  # a tiny rate: the timed steps should not move the weights far from the shipped ones
        for g in o.param_groups:
            g["lr"] = 1e-6
    cpu = torch.device("cpu")
    modes = {"float32": nullcontext}
    if cpu_bf16_supported():  # as the trainer runs it: autocast, weights channels-last
        modes["bfloat16 autocast"] = lambda: torch.autocast("cpu", dtype=torch.bfloat16)

    def layout(mode: str) -> None:
        model.to(memory_format=torch.contiguous_format if mode == "float32" else torch.channels_last)

    def step(mode: str) -> float:
        layout(mode)
        with modes[mode]():
            terms, _ = stage_loss(model, x, targets, stage, cpu)
        optimizer_step(model, opts, terms.total, stage)
        return float(terms.total.detach())

    times: dict[str, list[float]] = {m: [] for m in modes}
    for m in modes:
        step(m)  # warm-up (oneDNN picks its kernels)
    for _ in range(2):
        for m in modes:
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step(m)
                times[m].append(time.perf_counter() - t0)
    model.eval()  # the same function for both: batch statistics frozen
    with torch.no_grad():
        loss = {m: _loss(model, x, targets, stage, cpu, modes[m]) for m in modes}
    res = {"meta": {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                    "batch": args.batch, "input_size": pre.input_size, "weights": WEIGHTS.name,
                    "cpu_bf16_supported": cpu_bf16_supported()},
           "step_s_median": {m: statistics.median(v) for m, v in times.items()}, "loss": loss}
    if "bfloat16 autocast" in modes:
        res["bf16_speedup"] = res["step_s_median"]["float32"] / res["step_s_median"]["bfloat16 autocast"]
        res["bf16_loss_rel_diff"] = abs(loss["bfloat16 autocast"] - loss["float32"]) / abs(loss["float32"])
    print(f"{'precision':<20} {'s/step':>8} {'loss':>9}")
    for m in modes:
        print(f"{m:<20} {res['step_s_median'][m]:8.2f} {loss[m]:9.4f}")
    if "bf16_speedup" in res:
        print(f"bf16 speed-up {res['bf16_speedup']:.2f}x, loss differs by {100 * res['bf16_loss_rel_diff']:.2f} %")
    else:
        print("this CPU has no native bfloat16: float32 only")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0


def _loss(model: Any, x: torch.Tensor, targets: list, stage: Any, device: torch.device, ctx: Any) -> float:
    model.to(memory_format=torch.contiguous_format if ctx is nullcontext else torch.channels_last)
    with ctx():
        terms, _ = stage_loss(model, x, targets, stage, device)
    return float(terms.total)


if __name__ == "__main__":
    sys.exit(main())
