"""``tssd eval``: detection AP, tracking (HOTA/MOTA/IDF1), count error and score stability of a model.

Two modes: annotated sequences (``--data``/``--benchmark``: one online pass with tracker and counter, VOC AP)
or annotated stills (``--coco``/``--yolo``: COCO mAP@0.5 and @0.5:0.95 via pycocotools, the recurrent state
reset before every image, as published still-image detectors are scored).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.errors import InputError
from tssd_ros.paths import make_out_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on annotated sequences, a named benchmark or stills",
                       description="Sequences (--data/--benchmark): run the node's pipeline (--params: detector + "
                       "OTA tracker + counter, stream rules on) over each sequence as one stream, score what the "
                       "node publishes (confirmed identities) and write a JSON report with per-class AP@0.5/mAP, "
                       "HOTA/MOTA/IDF1/ID switches, count error and score stability, plus PNG plots "
                       "(precision-recall, counts over time). Stills (--coco/--yolo): COCO mAP@0.5 and "
                       "mAP@0.5:0.95 per class (pycocotools), written as DIR/metrics.json and DIR/pr_curve.png.")
    add_pipeline_args(p, weights_required=True)
    p.add_argument("--data", nargs="+", default=[], metavar="SEQ_DIR",
                   help="MOT sequence folders (img1/, gt/gt.txt) or folders of them")
    p.add_argument("--benchmark", help="named benchmark (benchmarks/NAME.yaml), e.g. underwater")
    p.add_argument("--cache-dir", help="where benchmark sequences are rendered (default benchmarks/cache/NAME)")
    p.add_argument("--baseline", help="second checkpoint evaluated side by side (e.g. the single-frame SSD)")
    p.add_argument("--coco", metavar="JSON", help="annotated stills as COCO detection json (instead of sequences)")
    p.add_argument("--images", metavar="ROOT", help="with --coco: folder the json's file_name is relative to "
                   "(default: the json's folder)")
    p.add_argument("--yolo", metavar="IMAGE_DIR", help="annotated stills as a YOLO image folder (labels in the "
                   "matching labels/ folder)")
    p.add_argument("--labels", metavar="LABEL_DIR", help="with --yolo: the label folder, when not images->labels")
    p.add_argument("--names", metavar="FILE", help="with --yolo: class names (classes.txt or data.yaml)")
    p.add_argument("--limit", type=int, help="with --coco/--yolo: evaluate only the first N images")
    p.add_argument("--clips", type=int, default=1, metavar="N",
                   help="with --coco/--yolo: make each still a moving-camera clip of N frames (state carried) and "
                   "add temporal figures: score change, flicker (default 1: plain stills)")
    p.add_argument("--eval-threshold", type=float, help="with --coco/--yolo: score threshold while evaluating "
                   "(default: the model's, capped at 0.01, since mAP needs the full ranking)")
    p.add_argument("--out", help="sequences: JSON report path, plots beside it (default eval_report.json); "
                   "stills: output folder for metrics.json and pr_curve.png (default eval_stills)")
    p.add_argument("--min-visibility", type=float, default=0.3, help="gt below this visibility is ignored")
    p.add_argument("--min-size", type=float, default=8.0, help="gt with a box side below this (px) is ignored")
    p.add_argument("--max-frames", type=int, help="evaluate at most this many frames per sequence")
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


def _stills(args: argparse.Namespace) -> tuple:
    from tssd_ros.data.stills import load_coco, load_yolo

    if args.coco and args.yolo:
        raise InputError("pass either --coco or --yolo, not both")
    if args.data or args.benchmark:
        raise InputError("stills (--coco/--yolo) and sequences (--data/--benchmark) are evaluated separately")
    if args.baseline:
        raise InputError("--baseline is for sequences; evaluate each checkpoint on stills with its own --out")
    if args.coco:
        if args.labels or args.names:
            raise InputError("--labels/--names go with --yolo; a COCO json names its own classes")
        return load_coco(args.coco, image_root=args.images), f"coco:{args.coco}"
    if args.images:
        raise InputError("--images goes with --coco (for --yolo the folder is the argument)")
    return load_yolo(args.yolo, label_dir=args.labels, names_file=args.names), f"yolo:{args.yolo}"


def run_stills(args: argparse.Namespace) -> int:
    """COCO mAP of one checkpoint on annotated stills: metrics.json, pr_curve.png and a table on stdout."""
    import json

    from tssd_ros.eval.coco import evaluate_stills, save_pr_curves
    from tssd_ros.eval.report import nan_to_none
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    if args.eval_threshold is not None and not 0 <= args.eval_threshold < 1:
        raise InputError(f"--eval-threshold must be in [0, 1), got {args.eval_threshold}")
    out = Path(args.out or "eval_stills")
    if out.suffix.lower() == ".json":
        raise InputError(f"--out is a folder for stills (metrics.json and pr_curve.png go in it), got {out}")
    if not 1 <= args.clips <= 1000:
        raise InputError(f"--clips must be in [1, 1000], got {args.clips}")
    stills, source = _stills(args)
    pipe = pipeline_from_args(args)
    det = pipe.detector
    make_out_dir(out)  # after the inputs are known good: a bad input leaves nothing behind
    t0 = time.time()
    res = evaluate_stills(det, stills, conf_threshold=args.eval_threshold, operating_threshold=pipe.conf_threshold,
                          progress=not args.quiet,
                          limit=args.limit, clip_len=args.clips)
    doc = {"weights": str(args.weights), "data": source, "class_names": list(stills.class_names),
           "seconds": round(time.time() - t0, 2), **res}
    metrics = out / "metrics.json"
    metrics.write_text(json.dumps(nan_to_none(doc), indent=2) + "\n")
    png = save_pr_curves(res, out / "pr_curve.png")

    def f(v: float | None) -> str:
        return "    -" if v is None else f"{v:.3f}"

    w = max(len("class"), *(len(c) for c in res["per_class"]))
    print(f"{'class':<{w}}  {'n_gt':>6}  {'AP50':>6}  {'AP50:95':>7}")
    for c, d in res["per_class"].items():
        print(f"{c:<{w}}  {d['n_gt']:>6}  {f(d['AP50']):>6}  {f(d['AP50_95']):>7}")
    print(f"{'all':<{w}}  {sum(d['n_gt'] for d in res['per_class'].values()):>6}  {f(res['mAP50']):>6}  "
          f"{f(res['mAP50_95']):>7}")
    if "clips" in res:
        c = res["clips"]
        print(f"clips of {c['length']} frames: mean |score change| {c['mean_abs_score_change']:.3f}, "
              f"flicker {c['flicker']:.3f}, recall at threshold {c['recall_at_threshold']:.3f}")
    print(f"{res['images']} images, {res['images_per_s']:.1f} images/s; wrote {metrics}, {png}")
    return 0


def run(args: argparse.Namespace) -> int:
    from tssd_ros.eval.report import EvalOptions, evaluate_model, write_report

    if args.coco or args.yolo:
        return run_stills(args)
    if args.limit is not None or args.eval_threshold is not None or args.clips != 1:
        raise InputError("--limit/--eval-threshold/--clips go with --coco/--yolo (use --max-frames for sequences)")
    if args.images or args.labels or args.names:
        raise InputError("--images/--labels/--names go with --coco/--yolo")
    args.out = args.out or "eval_report.json"
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be >= 1, got {args.max_frames}")
    seqs, source = _sequences(args)
    names = seqs[0].class_names
    for s in seqs[1:]:
        if s.class_names != names:
            raise InputError(f"sequence {s.name} has classes {list(s.class_names)}, {seqs[0].name} has {list(names)}")
    models = {}
    t0 = time.time()
    opts = EvalOptions()
    for tag, w in (("model", args.weights), ("baseline", args.baseline)):
        if not w:
            continue
        pipe = pipeline_from_args(args, weights=w)
        opts = EvalOptions(min_hits=pipe.count_min_hits, min_visibility=args.min_visibility,
                           min_size=args.min_size, max_frames=args.max_frames, progress=not args.quiet)
        models[tag] = evaluate_model(pipe, seqs, names, opts, tag=f"{tag}:")
    meta = {"weights": str(args.weights), "baseline": args.baseline, "data": source,
            "sequences": [s.name for s in seqs], "options": {k: v for k, v in vars(opts).items() if k != "progress"},
            "seconds": round(time.time() - t0, 2)}
    files = write_report(args.out, models, meta, names)
    for tag, (sec, _, _) in models.items():
        tr = sec["tracking"]["all"]
        print(f"{tag}: mAP {sec['detection']['mAP']:.3f}  HOTA {tr['HOTA']:.3f}  MOTA {tr['MOTA']:.3f}  "
              f"IDF1 {tr['IDF1']:.3f}  IDSW {int(tr['IDSW'])}  ids/identity {tr['ids_per_identity']:.2f}  count err "
              f"{sec['counting']['total']['mean_rel_abs_error']:.3f}  score std "
              f"{sec['score_stability']['mean_score_std']:.3f}")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0
