"""``tssd eval``: detection AP, tracking (HOTA/MOTA/IDF1), count error and score stability of a model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tssd_ros.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on annotated sequences or a named benchmark",
                       description="Run detector + OTA tracker + counter over each sequence as one stream and "
                       "write a JSON report with per-class AP@0.5/mAP, HOTA/MOTA/IDF1/ID switches, count error "
                       "and score stability, plus PNG plots (precision-recall, counts over time).")
    p.add_argument("--weights", required=True, help="model checkpoint (.pt/.pth)")
    p.add_argument("--data", nargs="+", default=[], metavar="SEQ_DIR",
                   help="MOT sequence folders (img1/, gt/gt.txt) or folders of them")
    p.add_argument("--benchmark", help="named benchmark (benchmarks/NAME.yaml), e.g. underwater")
    p.add_argument("--cache-dir", help="where benchmark sequences are rendered (default benchmarks/cache/NAME)")
    p.add_argument("--baseline", help="second checkpoint evaluated side by side (e.g. the single-frame SSD)")
    p.add_argument("--out", default="eval_report.json", help="JSON report path; plots are written beside it")
    p.add_argument("--min-hits", type=int, default=5, help="matches before an identity counts (default 5)")
    p.add_argument("--min-visibility", type=float, default=0.3, help="gt below this visibility is ignored")
    p.add_argument("--min-size", type=float, default=8.0, help="gt with a box side below this (px) is ignored")
    p.add_argument("--max-frames", type=int, help="evaluate at most this many frames per sequence")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _sequences(args: argparse.Namespace) -> tuple[list, str]:
    from tssd_ros.data.mot import find_mot_sequences, load_mot_sequence

    dirs: list[Path] = []
    source = []
    if args.benchmark:
        from tssd_ros.data.benchmark import ensure_benchmark, load_benchmark

        bench = load_benchmark(args.benchmark)
        dirs += ensure_benchmark(bench, args.cache_dir, progress=not args.quiet)
        source.append(f"benchmark:{bench.name}@v{bench.version}")
    for d in args.data:
        dirs += find_mot_sequences(d)
        source.append(str(d))
    if not dirs:
        raise InputError("nothing to evaluate: pass --data SEQ_DIR... and/or --benchmark NAME")
    return [load_mot_sequence(d) for d in dirs], ", ".join(source)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.eval.report import EvalOptions, evaluate_model, write_report
    from tssd_ros.model import load_detector

    if args.min_hits < 1:
        raise InputError(f"--min-hits must be >= 1, got {args.min_hits}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be >= 1, got {args.max_frames}")
    seqs, source = _sequences(args)
    names = seqs[0].class_names
    for s in seqs[1:]:
        if s.class_names != names:
            raise InputError(f"sequence {s.name} has classes {list(s.class_names)}, {seqs[0].name} has {list(names)}")
    opts = EvalOptions(min_hits=args.min_hits, min_visibility=args.min_visibility, min_size=args.min_size,
                       max_frames=args.max_frames, progress=not args.quiet)
    models = {}
    t0 = time.time()
    for tag, w in (("model", args.weights), ("baseline", args.baseline)):
        if not w:
            continue
        det = load_detector(w, device=args.device)
        models[tag] = evaluate_model(det, seqs, names, opts, tag=f"{tag}:")
    meta = {"weights": str(args.weights), "baseline": args.baseline, "data": source,
            "sequences": [s.name for s in seqs], "options": {k: v for k, v in vars(opts).items() if k != "progress"},
            "seconds": round(time.time() - t0, 2)}
    files = write_report(args.out, models, meta, names)
    for tag, (sec, _, _) in models.items():
        tr = sec["tracking"]["all"]
        print(f"{tag}: mAP {sec['detection']['mAP']:.3f}  HOTA {tr['HOTA']:.3f}  MOTA {tr['MOTA']:.3f}  "
              f"IDF1 {tr['IDF1']:.3f}  IDSW {int(tr['IDSW'])}  count err "
              f"{sec['counting']['total']['mean_rel_abs_error']:.3f}  score std "
              f"{sec['score_stability']['mean_score_std']:.3f}")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0
