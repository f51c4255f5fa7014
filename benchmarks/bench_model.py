"""Detector speed on this CPU: parameters, network-forward and full-step latency (after warm-up), frames/s.

Models: SSD-VGG16 and TSSD-VGG16 (300 px; 31 and 4 classes) and the mobile TSSD (Bottleneck-LSTM after Conv13)
and mobile SSD at alpha 1.0 / 320 px and alpha 0.5 / 256 px (4 classes). Random weights (speed does not depend
on them); the full step uses the underwater thresholds (conf 0.4, NMS 0.3, top_k 400).
Also the shipped detector (weights/tssd_mobile_underwater.pt, its own architecture and thresholds) on each
inference backend, the node's default (``auto``: ONNX Runtime on the CPU) first, with the target of the detector
issue: >= 25 frames/s end to end (Detector.step on 640x480 frames) on 2 threads; the script exits 1 on a miss.
"forward" is the backend's bare network step (tssd_ros.model.engine: network, softmax, appearance maps);
"step" adds preprocessing, decoding, NMS and the OTA vectors. Writes benchmarks/results/model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from tssd_ros.model import Detector, DetectorConfig, PostprocessConfig
from tssd_ros.model.tssd import TSSD

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "tssd_mobile_underwater.pt"
SHIPPED_MIN_FPS = 25.0

MODELS = [
    ("SSD-VGG16 300 c31", DetectorConfig(temporal="none", num_classes=31)),
    ("TSSD-VGG16 300 c31", DetectorConfig(temporal="ac_lstm", num_classes=31)),
    ("TSSD-VGG16 300 c4", DetectorConfig(temporal="ac_lstm", num_classes=4)),
    ("mobile TSSD a1.0 320 c4", DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=4,
                                               input_size=320, alpha=1.0)),
    ("mobile SSD a1.0 320 c4", DetectorConfig(backbone="mobilenet_v1", temporal="none", num_classes=4,
                                              input_size=320, alpha=1.0)),
    ("mobile TSSD a0.5 256 c4", DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=4,
                                               input_size=256, alpha=0.5)),
    ("mobile SSD a0.5 256 c4", DetectorConfig(backbone="mobilenet_v1", temporal="none", num_classes=4,
                                              input_size=256, alpha=0.5)),
]


def random_detector(cfg: DetectorConfig) -> Detector:
    torch.manual_seed(0)
    model = TSSD(cfg)  # our init keeps activations O(1): PyTorch default init decays them into slow denormals
    names = tuple(f"c{k}" for k in range(cfg.num_classes - 1))
    return Detector(model, names, postprocess=PostprocessConfig(conf_threshold=0.4, nms_iou=0.3, top_k=400))


def bench(group: list[tuple[str, Detector]], frames: list[np.ndarray], n: int, warmup: int) -> list[dict]:
    """Bare forward and full step of every detector in ``group``, taking turns frame by frame: the ratios the
    targets read (step / forward, a TSSD / its SSD) then come from the same moments of a shared, noisy machine."""
    fwd: dict[str, list[float]] = {name: [] for name, _ in group}
    step: dict[str, list[float]] = {name: [] for name, _ in group}
    states: dict[str, object] = {name: None for name, _ in group}
    xs = {name: det.preprocess_image(frames[0]) for name, det in group}
    for _, det in group:
        det.reset()
    with torch.inference_mode():
        for i in range(warmup + n):
            for name, det in group:
                t = time.perf_counter()
                states[name] = det.engine(xs[name], states[name]).state
                t1 = time.perf_counter()
                det.step(frames[i % len(frames)])
                t2 = time.perf_counter()
                if i >= warmup:
                    fwd[name].append(t1 - t)
                    step[name].append(t2 - t1)
    rows = []
    for name, det in group:
        med_f, med_s = statistics.median(fwd[name]), statistics.median(step[name])
        rows.append({
            "model": name, "backend": det.backend, "config": det.config.to_dict(),
            "params": sum(p.numel() for p in det.model.parameters()), "frames": n,
            "forward_ms_median": 1000 * med_f, "step_ms_median": 1000 * med_s, "step_ms_min": 1000 * min(step[name]),
            "fps_step": 1 / med_s,
        })
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--frames", type=int, default=None, help="timed frames per model (default 5 VGG, 30 mobile)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "model.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from node_harness import dive_frames  # beside this file

    frames = dive_frames(8)  # camera-like 640x480 frames: noise images make NMS do work no camera frame does
    rows = []
    for vgg in (True, False):  # the VGG models together (5 frames), the mobile ones together (30)
        group = [(name, random_detector(cfg)) for name, cfg in MODELS if (cfg.backbone == "vgg16") == vgg]
        for r in bench(group, frames, args.frames or (5 if vgg else 30), warmup=2 if vgg else 5):
            rows.append(r)
            print(f"{r['model']:<26} {r['params'] / 1e6:8.2f}M  fwd {r['forward_ms_median']:8.1f} ms  "
                  f"step {r['step_ms_median']:8.1f} ms  {r['fps_step']:6.1f} fps", flush=True)
    shipped = None
    if SHIPPED.is_file():
        from tssd_ros.pipeline import Pipeline

        threads = torch.get_num_threads()
        torch.set_num_threads(2)
        for backend in ("auto", "torch"):  # the default first: targets.py reads the first "shipped" row
            torch.set_num_threads(2)
            det = Pipeline.from_params(None, weights=str(SHIPPED), backend=backend).detector  # as the node has it
            r = bench([(f"shipped {SHIPPED.name} {det.backend}", det)], frames, args.frames or 60, 10)[0]
            r.update(target_fps=SHIPPED_MIN_FPS, torch_threads=2, default=backend == "auto",
                     **{"pass": r["fps_step"] >= SHIPPED_MIN_FPS})
            rows.append(r)
            shipped = shipped or r
        torch.set_num_threads(threads)
    meta = {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average_1min_after": os.getloadavg()[0], "input_frame": "640x480 BGR",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"\n{'model':<46} {'params':>9} {'forward ms':>11} {'step ms':>9} {'fps':>7}")
    for r in rows:
        print(f"{r['model']:<46} {r['params'] / 1e6:8.2f}M {r['forward_ms_median']:11.1f} "
              f"{r['step_ms_median']:9.1f} {r['fps_step']:7.1f}")
    print(f"torch threads {meta['torch_threads']}, load average {meta['load_average_1min_after']:.1f} -> {args.out}")
    if shipped is not None:
        verdict = "PASS" if shipped["pass"] else "MISS"
        print(f"{verdict}: shipped detector {shipped['fps_step']:.1f} frames/s end to end on 2 threads "
              f"(target >= {SHIPPED_MIN_FPS:.0f})")
        return 0 if shipped["pass"] else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
