"""``tssd train CONFIG.yaml``: run (or resume) a training recipe: stills, clips, association fine-tuning."""

from __future__ import annotations

import argparse
from pathlib import Path

from tssd_ros.errors import InputError
from tssd_ros.paths import make_out_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a TSSD detector from a training config (YAML)",
        description="Run the stages of a training config (config/train/*.yaml): SSD on stills (COCO/YOLO stills, "
        "MOT sequences, synthetic dives), TSSD on clips (random skip sampling, clips made from stills), "
        "association fine-tuning. The run folder (the config's `out`) holds last.pt (resumable, and a detector "
        "load_detector opens), <stage>.pt per finished stage, log.csv and curves.png. Running the same config "
        "again resumes where it stopped. Multi-GPU: torchrun --nproc_per_node N -m tssd_ros.cli train CONFIG.")
    p.add_argument("config", help="training config YAML (paths in it are relative to the file)")
    p.add_argument("--out", help="run folder (overrides the config's `out`)")
    p.add_argument("--device", help="torch device (overrides the config's `device`): cpu, cuda, cuda:N")
    p.add_argument("--max-iters", type=int, help="stop after this many iterations (resume later)")
    p.add_argument("--restart", action="store_true", help="discard the run folder's progress and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.train.config import load_run_config
    from tssd_ros.train.trainer import RunTrainer

    if args.max_iters is not None and args.max_iters < 1:
        raise InputError(f"--max-iters must be >= 1, got {args.max_iters}")
    overrides: dict[str, object] = {}
    if args.out:
        overrides["out"] = str(Path(args.out).resolve())
    if args.device:
        overrides["device"] = args.device
    cfg = load_run_config(args.config, overrides)
    out = cfg.out_dir
    if out.exists() and not out.is_dir():
        raise InputError(f"run folder {out} is a file; give a folder in `out` or --out")
    if args.restart:
        for name in ["last.pt", "log.csv", "curves.png"] + [f"{s.name}.pt" for s in cfg.stages]:
            (out / name).unlink(missing_ok=True)
    make_out_dir(out, "run folder")
    final = RunTrainer(cfg, progress=not args.quiet).run(args.max_iters)
    done = final.name != "last.pt"
    print(("trained" if done else "stopped; resume with the same command") + f": {final} (log {out / 'log.csv'}, "
          f"curves {out / 'curves.png'})")
    return 0
