"""``tssd synth OUT``: render one synthetic ROV dive with exact ground truth (MOT layout, optional bag)."""

from __future__ import annotations

import argparse
import re

from tssd_ros.errors import InputError


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); one-line InputError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise InputError(f"--size must look like WIDTHxHEIGHT (e.g. 640x480), got '{text}'")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="render a synthetic underwater dive with exact ground truth",
                       description="Render one synthetic ROV dive (seabed with sea urchins, scallops and sea "
                       "cucumbers) into OUT in MOTChallenge layout: img1/, gt/gt.txt (frame,id,x,y,w,h,1,class,"
                       "visibility), seqinfo.ini, classes.txt; --bag adds a rosbag2 in OUT/bag. "
                       "Training seeds: < 10000; the held-out benchmark uses seeds >= 90000.")
    p.add_argument("out", help="output directory (new or empty)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical dive)")
    p.add_argument("--frames", type=int, default=300, help="number of frames")
    p.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate (default 15)")
    p.add_argument("--preset", default="clear", help="water: clear | turbid | dark")
    p.add_argument("--density", type=float, default=1.0, help="animal density multiplier (default 1)")
    p.add_argument("--bag", action="store_true", help="also write a rosbag2 of the frames to OUT/bag")
    p.add_argument("--compressed", action="store_true",
                   help="bag holds sensor_msgs/CompressedImage (JPEG) on /camera/image_raw/compressed")
    p.add_argument("--storage", default="sqlite3", help="bag storage: sqlite3 | mcap")
    p.add_argument("--masks", action="store_true", help="also write 16-bit object-id masks to OUT/masks")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.synth import SynthConfig

    w, h = parse_size(args.size)
    if args.compressed and not args.bag:
        raise InputError("--compressed only applies with --bag")
    if args.density <= 0:
        raise InputError(f"--density must be > 0, got {args.density}")
    cfg = SynthConfig(seed=args.seed, frames=args.frames, width=w, height=h, fps=args.fps, preset=args.preset,
                      density=args.density)
    out = write_dive(args.out, cfg, bag=args.bag, compressed=args.compressed, storage=args.storage,
                     masks=args.masks, force=args.force, progress=not args.quiet)
    print(f"wrote {cfg.frames} frames ({w}x{h}, {cfg.preset}, seed {cfg.seed}) to {out}")
    return 0
