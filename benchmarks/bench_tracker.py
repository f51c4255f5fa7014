"""OTA benchmark: speed of each mode next to trackers' SORT/ByteTrack, and tracking quality on a simulated
scrolling sequence and on a simulated pedestrian crowd (HOTA, IDF1, MOTA, ID switches), all in one run.

Why: OTA must be fast enough for the ROV's frame rate at crowded scenes, and its identities must be at
least as good as what people would otherwise use. Speed is measured on identical inputs (inputs are built
before timing: OTA gets tssd_ros Detections, the baselines supervision.Detections). Quality uses
tssd_ros.tracking.sim (seeds 0-2, mean reported) through the same code path as ``tssd track`` and scores
with ``evaluate_mot`` (TrackEval metrics). Writes benchmarks/results/tracker.json and the seed-0 scrolling
sequence as MOT files into benchmarks/results/sim_scroll/.

Run: .venv/bin/python benchmarks/bench_tracker.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tssd_ros.eval.mot import evaluate_mot  # noqa: E402
from tssd_ros.tracking.offline import make_baseline, to_supervision, track_mot  # noqa: E402
from tssd_ros.tracking.ota import OTAConfig, OTATracker  # noqa: E402
from tssd_ros.tracking.sim import simulate_crowd_sequence, simulate_scrolling_sequence  # noqa: E402
from tssd_ros.types import Detections  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

SPEED_MODES: dict[str, OTAConfig] = {
    "ota-attention": OTAConfig(mode="attention"),
    "ota-iou": OTAConfig(mode="iou"),
    "ota-motion": OTAConfig(mode="motion"),
}

QUALITY: dict[str, dict[str, Any]] = {
    "ota-attention": {"config": OTAConfig(mode="attention"), "feats": True},
    "ota-attention-hungarian": {"config": OTAConfig(mode="attention", assignment="hungarian"), "feats": True},
    "ota-iou": {"config": OTAConfig(mode="iou"), "feats": False},
    "ota-iou-exp-T1": {"config": OTAConfig(mode="iou", iou_term="exp", T=1.0), "feats": False},
    "ota-motion": {"config": OTAConfig(mode="motion"), "feats": True},
    "ota-motion-iou": {"config": OTAConfig(mode="motion", motion_appearance=False), "feats": False},
    "ota-motion-confirmed": {"config": OTAConfig(mode="motion"), "feats": True, "output": "confirmed"},
    "ota-motion-all": {"config": OTAConfig(mode="motion"), "feats": True, "output": "all"},
    "sort": {"tracker": "sort"},
    "bytetrack": {"tracker": "bytetrack"},
}


def speed_frames(n: int, frames: int, seed: int = 0, dim: int = 147) -> list[tuple[np.ndarray, np.ndarray]]:
    """n objects drifting over a 1920x1080 image with noisy boxes (steady state: every track lives)."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [1840, 1000], (n, 2))
    size = rng.uniform(30, 80, (n, 2))
    vel = rng.normal(0, 2, (n, 2))
    out = []
    for f in range(frames):
        p = pos + vel * f
        p = np.abs((p + 1840) % 3680 - 1840)  # bounce inside the image
        b = np.concatenate([p, p + size], 1) + rng.normal(0, 1, (n, 4))
        out.append((b.astype(np.float32), rng.uniform(0.5, 1.0, n).astype(np.float32)))
    return out


def bench_speed(counts: tuple[int, ...], frames: int, repeats: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(1)
    out: dict[str, dict[str, float]] = {}
    for n in tqdm(counts, desc="speed", leave=False):
        seq = speed_frames(n, frames)
        ids = rng.normal(0, 1, (n, 147)).astype(np.float32)
        ota_in = [Detections(b, s, np.zeros(n), ids + 0.3 * rng.normal(0, 1, ids.shape), ("object",))
                  for b, s in seq]
        sv_in = [to_supervision(b, s, np.zeros(n)) for b, s in seq]
        # the trackers take turns within each repeat, so a slow spell of the shared machine hits them all
        makers = {name: (lambda cfg=cfg: OTATracker(cfg), ota_in) for name, cfg in SPEED_MODES.items()}
        makers |= {name: (lambda name=name: make_baseline(name, fps=30.0), sv_in) for name in ("sort", "bytetrack")}
        times: dict[str, list[float]] = {name: [] for name in makers}
        for _ in range(repeats):
            for name, (make, inputs) in makers.items():
                trk = make()
                t0 = time.perf_counter()
                for d in inputs:
                    trk.update(d)
                times[name].append(time.perf_counter() - t0)
        row = {name: frames / statistics.median(t) for name, t in times.items()}
        out[str(n)] = row
    return out


#: the pedestrian crowd (public detections: no appearance vectors), with the second-box rules on and off
CROWD: dict[str, dict[str, Any]] = {
    "ota-iou": {"config": OTAConfig(mode="iou"), "feats": False},
    "ota-motion-iou": {"config": OTAConfig(mode="motion", motion_appearance=False), "feats": False},
    "ota-motion-iou-nocover": {"config": OTAConfig(mode="motion", motion_appearance=False, birth_cover=1.0,
                                                   cross_class_cover=1.0), "feats": False},
    "sort": {"tracker": "sort"},
    "bytetrack": {"tracker": "bytetrack"},
}


def bench_quality(seeds: tuple[int, ...], n_frames: int) -> dict[str, Any]:
    scenes: dict[str, tuple[Any, dict[str, Any]]] = {
        "scroll": (lambda seed: simulate_scrolling_sequence(seed, n_frames=n_frames), QUALITY),
        "static": (lambda seed: simulate_scrolling_sequence(seed, n_frames=n_frames, scroll=(0.0, 0.0)), QUALITY),
        "crowd": (lambda seed: simulate_crowd_sequence(seed, n_frames=n_frames), CROWD),
    }
    out: dict[str, Any] = {}
    for scene, (make, specs) in scenes.items():
        per_seed: dict[str, list[dict[str, float]]] = {k: [] for k in specs}
        for seed in tqdm(seeds, desc=f"quality {scene}", leave=False):
            seq = make(seed)
            if scene == "scroll" and seed == seeds[0]:
                seq.write(RESULTS / "sim_scroll")
            for name, spec in specs.items():
                res = track_mot(seq.det, tracker=spec.get("tracker", "ota"), config=spec.get("config"),
                                feats=seq.feats if spec.get("feats") else None, fps=seq.fps,
                                output=spec.get("output", "backfill"))
                per_seed[name].append(evaluate_mot(seq.gt, res))
        out[scene] = {
            name: {"mean": {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}, "per_seed": ms}
            for name, ms in per_seed.items()
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames/seeds (smoke run)")
    args = ap.parse_args()
    frames, repeats = (60, 1) if args.quick else (300, 5)
    seeds, n_frames = ((0,), 120) if args.quick else ((0, 1, 2), 300)

    speed = bench_speed((5, 20, 100), frames, repeats)
    quality = bench_quality(seeds, n_frames)

    names = list(SPEED_MODES) + ["sort", "bytetrack"]
    print(f"\nTracker updates per second ({frames} frames, median of {repeats}; ratio = / SORT)")
    print(f"{'dets/frame':>10}  " + "  ".join(f"{n:>22}" for n in names))
    for n, row in speed.items():
        cells = [f"{row[k]:9.0f} ({row[k] / row['sort']:5.2f}x)" for k in names]
        print(f"{n:>10}  " + "  ".join(f"{c:>22}" for c in cells))
    for scene, rows in quality.items():
        print(f"\nQuality on the simulated {scene} sequence (mean of seeds {list(seeds)}, {n_frames} frames)")
        print(f"{'tracker':>24}  {'HOTA':>6} {'IDF1':>6} {'MOTA':>6} {'AssA':>6} {'IDSW':>6} {'IDs':>6} {'GT_IDs':>6}")
        for name, r in rows.items():
            m = r["mean"]
            print(f"{name:>24}  {100 * m['HOTA']:6.2f} {100 * m['IDF1']:6.2f} {100 * m['MOTA']:6.2f} "
                  f"{100 * m['AssA']:6.2f} {m['IDSW']:6.1f} {m['IDs']:6.1f} {m['GT_IDs']:6.1f}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor(),
            "frames": frames, "repeats": repeats, "seeds": list(seeds), "quality_frames": n_frames}
    speed_json = {n: {k: {"updates_per_s": v, "ratio_vs_sort": v / row["sort"]} for k, v in row.items()}
                  for n, row in speed.items()}
    (RESULTS / "tracker.json").write_text(json.dumps({"meta": meta, "speed": speed_json, "quality": quality},
                                                     indent=1) + "\n")
    print(f"\nwrote {RESULTS / 'tracker.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
