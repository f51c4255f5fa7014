"""``tssd demo``: the main job on the bundled demo dive, offline and end to end.

1. renders the demo dive (a synthetic ROV dive over a scallop bed, exact ground truth) as a rosbag2 of
   compressed camera images, the way the ROV records it (cached in ``--out``);
2. replays the bag through the same pipeline as tssd_node (detector + OTA + dive counter), with the
   parameters of ``config/tssd.yaml`` and the bundled weights;
3. writes identity-tagged detections (JSONL), an annotated video, a contact sheet of annotated frames, the
   dive's counts (JSON) and a plot of counts over time against the ground truth, and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.paths import make_out_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run detector + OTA + counting on the bundled demo dive", description=__doc__)
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    add_pipeline_args(p)
    p.add_argument("--seed", type=int, default=777, help="dive seed (training range; not a benchmark seed)")
    p.add_argument("--frames", type=int, default=180, help="frames of the demo dive")
    p.add_argument("--preset", default="clear", choices=("clear", "turbid", "dark"))
    p.set_defaults(func=run)


def _dive(out: Path, seed: int, frames: int, preset: str) -> Path:
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.synth import SynthConfig

    dive = out / "dive"
    stamp = dive / "demo.json"
    want = {"seed": seed, "frames": frames, "preset": preset}
    if stamp.exists() and json.loads(stamp.read_text()) == want and (dive / "bag").exists():
        return dive
    print(f"rendering the demo dive ({frames} frames, {preset}, seed {seed}) ...", flush=True)
    write_dive(dive, SynthConfig(seed=seed, frames=frames, width=640, height=480, fps=15.0, preset=preset),
               bag=True, compressed=True, force=True)
    stamp.write_text(json.dumps(want))
    return dive


def run(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from tssd_ros.bag.reader import read_frames
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.eval.counting import true_counts_over_time
    from tssd_ros.records import bad_frame_record, frame_record
    from tssd_ros.viz import draw_detections

    out = Path(args.out)
    make_out_dir(out)
    pipe = pipeline_from_args(args)
    det, ota = pipe.detector, pipe.ota_config
    weights = Path(pipe.params["weights"])
    dive = _dive(out, args.seed, args.frames, args.preset)
    seq = load_mot_sequence(dive)  # the dive's own classes.txt; matched to the detector's by name

    count, frames = read_frames(dive / "bag")
    names = tuple(det.class_names)
    pred_counts = np.zeros((count, len(names)), np.int64)
    writer = None
    sheet: list[np.ndarray] = []
    picks = set(np.linspace(count * 0.2, count - 1, 4).astype(int).tolist())
    infer = []
    t0 = time.time()
    with (out / "detections.jsonl").open("w") as f:
        for fr, res in tqdm(pipe.process_stream(frames), total=count, unit="frame", desc="demo"):
            if res is None:
                f.write(json.dumps(bad_frame_record(fr.index, fr.stamp, fr.error)) + "\n")
                continue
            infer.append(res.inference_s)
            ids = res.published_ids()
            f.write(json.dumps(frame_record(fr.index, res.detections, ids, fr.stamp)) + "\n")
            pred_counts[fr.index] = [res.counts[c][0] for c in names]
            vis = draw_detections(fr.image, res.detections, ids, res.counts)
            if writer is None:
                h, w = vis.shape[:2]
                writer = cv2.VideoWriter(str(out / "annotated.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 15, (w, h))
            writer.write(vis)
            if fr.index in picks:
                sheet.append(vis)
    wall = time.time() - t0
    if writer is not None:
        writer.release()
    pipe.save_counts(out / "counts.json")
    if sheet:
        rows = [np.hstack(sheet[i:i + 2]) for i in range(0, len(sheet) - len(sheet) % 2, 2)] or [sheet[0]]
        cv2.imwrite(str(out / "annotated_frames.png"), np.vstack(rows))

    true_all = true_counts_over_time([seq.targets(i) for i in range(len(seq))], len(seq.class_names),
                                     min_frames=ota.min_hits)
    true = np.stack([true_all[:, seq.class_names.index(c)] if c in seq.class_names else np.zeros(len(true_all), int)
                     for c in names], 1)
    _plot_counts(out / "counts_over_time.png", pred_counts, true, names, seq.frame_rate)
    final = pipe.counts()
    print(f"\n{count} frames in {wall:.1f} s ({count / max(wall, 1e-9):.1f} frames/s end to end, inference "
          f"p50 {1000 * float(np.median(infer)):.0f} ms) with {weights.name}")
    print("class          counted  true")
    for k, c in enumerate(names):
        print(f"{c:<14} {final[c][0]:>7}  {int(true[-1, k]):>4}")
    print(f"wrote {out}/: detections.jsonl, annotated.avi, annotated_frames.png, counts.json, counts_over_time.png")
    print(f"full metrics (mAP, HOTA, IDF1, count error): tssd eval --weights {weights} --data {dive}")
    return 0


def _plot_counts(path: Path, pred: np.ndarray, true: np.ndarray, names: tuple[str, ...], fps: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(pred)) / max(fps, 1e-9)
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, c in enumerate(names):
        (line,) = ax.plot(t, pred[:, k], label=f"{c} counted")
        ax.plot(t, true[:, k], "--", color=line.get_color(), label=f"{c} true")
    ax.set_xlabel("time in the dive (s)")
    ax.set_ylabel("unique individuals")
    ax.set_title("Per-class counts over the demo dive")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
