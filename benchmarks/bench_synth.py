"""Frames per second of the synthetic dive generator, per preset and size, on one core.

Why: training data is only cheap if the generator is fast; the target is >= 20 frames/s at 640x480.
Reports render-only rate (CPU time of one thread, and wall time) and render + JPEG encode, steady state
(after the first frame, which builds the seabed tiles under the camera). Also writes a contact sheet of
frames from every preset (benchmarks/results/synth_contact_sheet.png) for a visual check.

    .venv/bin/python benchmarks/bench_synth.py [--frames 150]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from tssd_ros.data.synth import PRESETS, DiveRenderer, SynthConfig

RESULTS = Path(__file__).parent / "results"


def bench(preset: str, size: tuple[int, int], frames: int, seed: int = 1) -> dict:
    r = DiveRenderer(SynthConfig(seed=seed, frames=frames + 1, width=size[0], height=size[1], preset=preset))
    t0w, t0c = time.perf_counter(), time.process_time()
    r.render(0)
    first = time.perf_counter() - t0w
    cpu = wall = enc = 0.0
    for i in range(1, frames + 1):
        a, b = time.perf_counter(), time.process_time()
        f = r.render(i)
        c = time.perf_counter()
        cv2.imencode(".jpg", f.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        enc += time.perf_counter() - c
        wall += c - a
        cpu += time.process_time() - b
    del t0c
    return {"preset": preset, "size": f"{size[0]}x{size[1]}", "frames": frames,
            "fps_cpu": frames / cpu, "fps_wall": frames / wall, "fps_with_jpeg_wall": frames / (wall + enc),
            "first_frame_s": first}


def contact_sheet(path: Path, seeds: tuple[int, ...] = (1, 2), frames: tuple[int, ...] = (0, 60, 140)) -> None:
    """Grid: one row per (preset, seed), columns = frames; gt boxes drawn on the last column."""
    rows = []
    colours = [(0, 0, 255), (0, 255, 255), (255, 0, 255)]
    for preset in PRESETS:
        for seed in seeds:
            r = DiveRenderer(SynthConfig(seed=seed, frames=max(frames) + 1, preset=preset))
            tiles = []
            for i in range(max(frames) + 1):
                f = r.render(i)
                if i in frames:
                    im = f.image.copy()
                    if i == frames[-1]:
                        for b, lab in zip(f.boxes.astype(int), f.labels, strict=True):
                            cv2.rectangle(im, (b[0], b[1]), (b[2] - 1, b[3] - 1), colours[lab], 1)
                    cv2.putText(im, f"{preset} seed {seed} f{i}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                                (255, 255, 255), 1, cv2.LINE_AA)
                    tiles.append(cv2.resize(im, (320, 240), interpolation=cv2.INTER_AREA))
            rows.append(np.concatenate(tiles, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--no-sheet", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    rows = [bench(p, s, args.frames) for s in ((320, 240), (640, 480)) for p in PRESETS]
    print(f"{'preset':8s} {'size':8s} {'fps(cpu)':>9s} {'fps(wall)':>10s} {'+jpeg':>7s} {'first(s)':>9s}")
    for r in rows:
        print(f"{r['preset']:8s} {r['size']:8s} {r['fps_cpu']:9.1f} {r['fps_wall']:10.1f} "
              f"{r['fps_with_jpeg_wall']:7.1f} {r['first_frame_s']:9.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth.json").write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                                    "threads": 1, "results": rows}, indent=2) + "\n")
    if not args.no_sheet:
        contact_sheet(RESULTS / "synth_contact_sheet.png")
    print(f"wrote {RESULTS / 'synth.json'}")


if __name__ == "__main__":
    main()
