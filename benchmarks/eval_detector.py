"""The model card's numbers: shipped TSSD vs its single-frame SSD on real stills, clips made from them and the
synthetic benchmark. Not part of `make bench` (it needs ../shared/data/urpc2020 and takes ~15 min on 2 cores).

    .venv/bin/python benchmarks/eval_detector.py [--model NAME=W ...] [--limit N] [--clips N]

Writes benchmarks/results/detector_metrics.json and detector_metrics.md (the tables of weights/README.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
URPC = REPO.parent / "shared" / "data" / "urpc2020"


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", metavar="NAME=WEIGHTS",
                    help="a model to evaluate (repeat; default: the shipped TSSD and SSD)")
    ap.add_argument("--limit", type=int, default=None, help="URPC valid images (default all 800)")
    ap.add_argument("--clips", type=int, default=100, help="valid stills made into 8-frame clips (default 100)")
    ap.add_argument("--frames", type=int, default=None, help="frames per synthetic benchmark dive (default all)")
    ap.add_argument("--out", default=str(HERE / "results" / "detector_metrics"))
    args = ap.parse_args()

    from tssd_ros.data.benchmark import ensure_benchmark, load_benchmark
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.data.stills import load_coco
    from tssd_ros.eval.coco import evaluate_stills, save_pr_curves
    from tssd_ros.eval.report import EvalOptions, evaluate_model, nan_to_none
    from tssd_ros.pipeline import Pipeline

    valid = load_coco(URPC / "coco_valid.json")
    bench = load_benchmark("underwater")
    dives = [load_mot_sequence(p) for p in ensure_benchmark(bench, progress=False)]
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "models": {}}
    models = [m.split("=", 1) for m in args.model] if args.model else [
        ("TSSD", str(REPO / "weights" / "tssd_mobile_underwater.pt")),
        ("SSD", str(REPO / "weights" / "ssd_mobile_underwater.pt"))]
    for tag, w in models:
        pipe = Pipeline.from_params(REPO / "config" / "tssd.yaml", weights=w)
        det = pipe.detector
        t0 = time.time()
        stills = evaluate_stills(det, valid, limit=args.limit, progress=False)
        save_pr_curves(stills, f"{args.out}_{tag.lower()}_pr.png", f"{tag} on URPC2020 valid")
        clips = evaluate_stills(det, valid.subset(range(args.clips)), clip_len=8, progress=False,
                                operating_threshold=pipe.conf_threshold)
        opts = EvalOptions(min_hits=pipe.count_min_hits, max_frames=args.frames, progress=False)
        synth, _, _ = evaluate_model(pipe, dives, dives[0].class_names, opts, tag=tag)
        res["models"][tag] = {"weights": Path(w).name, "urpc_valid": stills, "urpc_valid_clips": clips,
                              "synthetic_benchmark": synth, "seconds": round(time.time() - t0, 1)}
        print(f"{tag}: URPC valid mAP50 {stills['mAP50']:.3f}, clips mAP50 {clips['mAP50']:.3f} flicker "
              f"{clips['clips']['flicker']:.3f}, synthetic mAP {synth['detection']['mAP']:.3f} count err "
              f"{synth['counting']['total']['mean_rel_abs_error']:.3f}", flush=True)
    for m in res["models"].values():
        for k in ("urpc_valid", "urpc_valid_clips"):
            m[k].pop("pr_curves", None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(nan_to_none(res), indent=2) + "\n")
    Path(args.out + ".md").write_text(table(res) + "\n")
    print(table(res))
    return 0


def table(res: dict) -> str:
    """Markdown tables: per class AP on URPC valid, clips, synthetic."""
    ms = res["models"]
    names = list(next(iter(ms.values()))["urpc_valid"]["per_class"])
    lines = ["| URPC2020 valid (800 stills) | " + " | ".join(f"{t} AP50 | {t} AP50:95" for t in ms) + " |",
             "| --- |" + " --- |" * (2 * len(ms))]
    for c in names:
        lines.append(f"| {c} | " + " | ".join(f"{_f(m['urpc_valid']['per_class'][c]['AP50'])} | "
                                             f"{_f(m['urpc_valid']['per_class'][c]['AP50_95'])}" for m in ms.values())
                     + " |")
    three = [c for c in names if c != "starfish"]
    lines.append("| mAP (4 classes) | " + " | ".join(
        f"{_f(m['urpc_valid']['mAP50'])} | {_f(m['urpc_valid']['mAP50_95'])}" for m in ms.values()) + " |")

    def mean3(m: dict, key: str) -> str:
        v = [m["urpc_valid"]["per_class"][c][key] for c in three]
        return _f(sum(v) / len(v)) if all(x is not None for x in v) else "-"

    lines.append(f"| mAP ({', '.join(three)}) | " + " | ".join(f"{mean3(m, 'AP50')} | {mean3(m, 'AP50_95')}"
                                                             for m in ms.values()) + " |")
    lines += ["", "| clips from valid stills (8 frames, moving camera) | " + " | ".join(ms) + " |",
              "| --- |" + " --- |" * len(ms)]
    for key, label in (("mAP50", "mAP@0.5"), ("mAP50_95", "mAP@0.5:0.95")):
        lines.append(f"| {label} | " + " | ".join(_f(m["urpc_valid_clips"][key]) for m in ms.values()) + " |")
    for key, label in (("mean_abs_score_change", "mean abs score change per frame (lower = steadier)"),
                       ("flicker", "flicker: boxes appearing/vanishing per object-frame (lower = steadier)"),
                       ("recall_at_threshold", "recall at the operating threshold")):
        lines.append(f"| {label} | " + " | ".join(_f(m["urpc_valid_clips"]["clips"][key]) for m in ms.values())
                     + " |")
    lines += ["", "| synthetic benchmark (6 held-out dives) | " + " | ".join(ms) + " |",
              "| --- |" + " --- |" * len(ms)]
    lines.append("| mAP@0.5 (VOC, node thresholds) | " + " | ".join(
        _f(m["synthetic_benchmark"]["detection"]["mAP"]) for m in ms.values()) + " |")
    lines.append("| count error (mean relative, all dives) | " + " | ".join(
        _f(m["synthetic_benchmark"]["counting"]["total"]["mean_rel_abs_error"]) for m in ms.values()) + " |")
    for c in names:
        lines.append(f"| count {c}: counted / true | " + " | ".join(
            "{predicted} / {true}".format(**m["synthetic_benchmark"]["counting"]["total"]["per_class"][c])
            for m in ms.values()) + " |")
    lines.append("| HOTA / IDF1 | " + " | ".join(
        f"{_f(m['synthetic_benchmark']['tracking']['all']['HOTA'])} / "
        f"{_f(m['synthetic_benchmark']['tracking']['all']['IDF1'])}" for m in ms.values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
