"""``tssd train --data SEQ... --out W.pt``: train (or fine-tune) a detector on MOTChallenge-style sequences."""

from __future__ import annotations

import argparse
from pathlib import Path

from tssd_ros.errors import CheckpointError, InputError, TssdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a TSSD detector on annotated sequences (MOT layout with classes)",
                       description="Train the SSD stage (still frames, state reset every frame) or the TSSD stage "
                       "(clips by random skip sampling, backbone+extras frozen) on MOTChallenge-style sequences "
                       "whose gt.txt has a class column (e.g. dives from `tssd synth`). Writes a project-format "
                       "checkpoint and OUT's loss curve (<stem>.loss.png).")
    p.add_argument("--data", nargs="+", required=True, metavar="SEQ_DIR",
                   help="sequence folders (img1/, gt/gt.txt) or folders of sequences")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--arch", choices=("mobile", "vgg"), default="mobile",
                   help="mobile: MobileNetV1 + Bottleneck-LSTM; vgg: the paper's VGG16 + AC-LSTM (SSD300)")
    p.add_argument("--alpha", type=float, default=0.5, help="MobileNet width multiplier (default 0.5)")
    p.add_argument("--input-size", type=int, default=256, help="network input size, mobile only (default 256)")
    p.add_argument("--stage", choices=("ssd", "tssd"), default="ssd", help="training stage (default ssd)")
    p.add_argument("--init", help="start from this checkpoint (e.g. the SSD stage's output for --stage tssd)")
    p.add_argument("--iters", type=int, default=1000, help="iterations (default 1000)")
    p.add_argument("--batch", type=int, default=8, help="stills (ssd) or clips (tssd) per iteration")
    p.add_argument("--seq-len", type=int, default=8, help="clip length of the tssd stage (default 8)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3 ssd, 1e-4 tssd)")
    p.add_argument("--train-backbone", action="store_true", help="tssd stage: do not freeze backbone+extras")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_sequences(paths: list[str]) -> list:
    """MOT sequences from folders (each a sequence or a folder of them); all must share their class names."""
    from tssd_ros.data.mot import find_mot_sequences, load_mot_sequence

    seqs = []
    for p in paths:
        if not Path(p).exists():
            raise InputError(f"--data {p}: no such directory")
        for root in find_mot_sequences(p):
            seq = load_mot_sequence(root)
            if not seq.has_class:
                raise InputError(f"{root}/gt/gt.txt has no class column: training needs rows "
                                 "frame,id,x,y,w,h,flag,class,visibility")
            seqs.append(seq)
    names = {s.class_names for s in seqs}
    if len(names) > 1:
        raise InputError(f"the sequences disagree on their classes: {sorted(names)}")
    return seqs


def run(args: argparse.Namespace) -> int:
    import torch

    from tssd_ros.model.checkpoint import load_detector
    from tssd_ros.model.config import DetectorConfig
    from tssd_ros.model.tssd import TSSD
    from tssd_ros.train.trainer import TrainConfig, Trainer, save_trained

    for name in ("iters", "batch", "seq_len"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1")
    if args.lr is not None and not args.lr > 0:
        raise InputError(f"--lr must be > 0, got {args.lr}")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise InputError(f"--out {out} is a directory; give a file name such as {out / 'weights.pt'}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise TssdError(f"--device {args.device}: CUDA is not available here; use --device cpu")
    seqs = load_sequences(args.data)
    names = seqs[0].class_names
    pre = post = None
    if args.init:
        det = load_detector(args.init)
        if tuple(det.class_names) != tuple(names):
            raise CheckpointError(f"--init {args.init} has classes {det.class_names}, the data {names}")
        model, pre, post = det.model, det.preprocess, det.postprocess
    else:
        if args.arch == "vgg":
            cfg = DetectorConfig(backbone="vgg16", temporal="ac_lstm", num_classes=len(names) + 1)
        else:
            if args.input_size < 32:
                raise InputError(f"--input-size must be >= 32, got {args.input_size}")
            cfg = DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=len(names) + 1,
                                 input_size=args.input_size, alpha=args.alpha)
        torch.manual_seed(args.seed)
        model = TSSD(cfg)
        from tssd_ros.train.init import init_heads

        init_heads(model)
    tcfg = TrainConfig(stage=args.stage, iters=args.iters, batch=args.batch, seq_len=args.seq_len, lr=args.lr,
                       freeze_backbone=False if args.train_backbone else None, device=args.device, seed=args.seed,
                       num_workers=args.workers, progress=not args.quiet)
    result = Trainer(model, seqs, tcfg, pre).fit()
    trained_on = ", ".join(s.name for s in seqs)
    ckpt, png = save_trained(model.cpu(), result, out, names, trained_on, tcfg, pre, post)
    print(f"trained {result.iterations} iterations ({args.stage}, final loss {result.final_loss:.3f}, "
          f"{result.seconds:.0f} s) -> {ckpt} (loss curve {png})")
    return 0
