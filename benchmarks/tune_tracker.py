"""Tune the tracker's defaults: the node's pipeline rules, one change at a time, on cached detections.

Why: identities and counts depend on the tracker's settings and on which boxes it sees (``track_threshold``),
and each setting must be chosen on data that is not the held-out benchmark. The shipped detector runs once over
the tuning dives (benchmarks/tuning.yaml, training-range seeds) and over moving-camera clips made from URPC2020
valid stills, down to the lowest track threshold of the grid; its detections are cached
(benchmarks/cache/tune_<weights>.pkl). Every variant then replays them as the pipeline would: OTA gets the
boxes above its ``track_threshold``, publishes confirmed identities, counts at ``count_min_hits``. SORT (the
published boxes) and ByteTrack (all boxes) run on the same detections. Scores as benchmarks/eval_identities.py.
Writes benchmarks/results/tracker_tuning.{json,md}.

    .venv/bin/python benchmarks/tune_tracker.py [--weights W] [--clips 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_identities import URPC, BaselineRun, OTARun, Recording, scores, table  # noqa: E402

from tssd_ros.data.sequence import mark_difficult  # noqa: E402
from tssd_ros.eval.report import EvalOptions  # noqa: E402
from tssd_ros.params import load_params, ota_changes_from_params  # noqa: E402
from tssd_ros.tracking.ota import OTAConfig  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / "cache"

#: one change at a time from the node's parameters (keys: OTAConfig fields, track_threshold, count_min_hits)
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "track_threshold 0.1": {"track_threshold": 0.1},
    "track_threshold 0.25": {"track_threshold": 0.25},
    "no faint boxes (track_threshold = conf)": {"track_threshold": 1.0},
    "G 0.4": {"G": 0.4},
    "G 0.55": {"G": 0.55},
    "birth_cover 1.0 (off)": {"birth_cover": 1.0},
    "birth_cover 0.4": {"birth_cover": 0.4},
    "birth_cover 0.6": {"birth_cover": 0.6},
    "cross_class_cover 0.8": {"cross_class_cover": 0.8},
    "cross_class_match 1.0 (per-class tubelets, the paper)": {"cross_class_match": 1.0},
    "min_hits 2": {"min_hits": 2},
    "count_min_hits 3": {"count_min_hits": 3},
    "count_min_hits 10": {"count_min_hits": 10},
    "max_age_frames 10 (the paper's modes)": {"max_age_frames": 10},
    "reid_max_age_s 3": {"reid_max_age_s": 3.0},
    "assignment hungarian": {"assignment": "hungarian"},
}
LOWEST = 0.1  # the detector's threshold for the cache: the lowest track_threshold above


def detect_all(params: dict[str, Any], clips: int) -> dict[str, Any]:
    """Per data set: [(name, fps, [(Detections, FrameTargets), ...])] from the pipeline's detector at LOWEST."""
    from tssd_ros.data.benchmark import ensure_benchmark, load_benchmark
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.pipeline import Pipeline

    pipe = Pipeline.from_params(params, track_threshold=LOWEST)
    det, opts = pipe.detector, EvalOptions()
    dives = ensure_benchmark(load_benchmark("tuning"))
    sets: dict[str, list[Any]] = {"synthetic": [load_mot_sequence(f) for f in dives]}
    if (URPC / "coco_valid.json").is_file() and clips > 0:
        from tssd_ros.data.still_clips import clips_from_stills
        from tssd_ros.data.stills import load_coco

        stills = load_coco(URPC / "coco_valid.json")
        pick = np.linspace(0, len(stills) - 1, clips).astype(int)
        sets["urpc_clips"] = clips_from_stills(stills.subset(pick, "urpc_valid"), 24, seed=7)
    out: dict[str, Any] = {"names": tuple(pipe.class_names), "conf_threshold": pipe.conf_threshold, "sets": {}}
    for key, seqs in sets.items():
        data = []
        for seq in tqdm(seqs, desc=f"detect {key}", unit="seq"):
            det.reset()
            frames = [(det.step(seq.image(i)), mark_difficult(seq.targets(i), opts.min_visibility, opts.min_size))
                      for i in range(len(seq))]
            data.append((seq.name, float(getattr(seq, "frame_rate", 15.0) or 15.0), frames))
        out["sets"][key] = {"class_names": tuple(seqs[0].class_names), "data": data}
    return out


def replay(cache: dict[str, Any], part: str, make: Any, track_threshold: float, count_min_hits: int) -> dict[str, Any]:
    """One tracker over one cached data set, as the pipeline runs it; scores as eval_identities.summarise."""
    names, cn = cache["names"], cache["sets"][part]["class_names"]
    runs = []
    for name, fps, frames in cache["sets"][part]["data"]:
        trk, rec = make(fps), Recording(names, cn, len(frames))
        for i, (d, gt) in enumerate(frames):
            rec.truth(i, gt)
            d = d.select(d.scores > track_threshold)
            rec.published("t", i, d, *trk.update(d, i / fps, None))
        runs.append(rec.runs(name, count_min_hits)["t"])
    return scores(runs, cn)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=str(ROOT / "config" / "tssd.yaml"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--clips", type=int, default=60, help="URPC valid clips (0 = none)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    params = load_params(args.params, weights=args.weights)
    w = Path(params["weights"]) if Path(params["weights"]).is_absolute() else ROOT / params["weights"]
    digest = hashlib.sha256(w.read_bytes()).hexdigest()[:12]
    cache_file = CACHE / f"tune_{w.stem}_{digest}_{args.clips}.pkl"
    if cache_file.is_file():
        cache = pickle.loads(cache_file.read_bytes())
    else:
        cache = detect_all(params, args.clips)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_bytes(pickle.dumps(cache))
    base = OTAConfig(**ota_changes_from_params(params))
    names = cache["names"]
    report: dict[str, Any] = {"weights": w.name, "sha256": digest, "defaults": dataclasses.asdict(base),
                              "track_threshold": params["track_threshold"], "count_min_hits": params["count_min_hits"]}
    for part in cache["sets"]:
        res: dict[str, Any] = {}
        for tag, change in tqdm(VARIANTS.items(), desc=part, unit="variant"):
            ch = dict(change)
            tt = float(ch.pop("track_threshold", params["track_threshold"]))
            cmh = int(ch.pop("count_min_hits", params["count_min_hits"]))
            cfg = dataclasses.replace(base, **ch)
            tt = min(max(tt, LOWEST), cache["conf_threshold"] or 1.0)  # not below conf_threshold: off
            res[tag] = replay(cache, part, lambda fps, cfg=cfg, k=cmh: OTARun(cfg, names, False, k), tt,
                              max(cmh, cfg.min_hits))
        cmh = max(int(params["count_min_hits"]), base.min_hits)
        pub = cache["conf_threshold"] or 0.0
        res["SORT (published boxes)"] = replay(cache, part, lambda fps: BaselineRun("sort", names, fps), pub, cmh)
        res["ByteTrack (all boxes)"] = replay(cache, part, lambda fps: BaselineRun("bytetrack", names, fps), LOWEST,
                                              cmh)
        report[part] = res
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracker_tuning.json").write_text(json.dumps(report, indent=1, default=float))
    lines = [f"# Tracker tuning with {w.name} (one change at a time from the node's parameters)\n"]
    for part in cache["sets"]:
        lines += table(part, report[part], "variant")
    (RESULTS / "tracker_tuning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
