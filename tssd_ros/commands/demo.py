"""``tssd demo``: the main job on the bundled demo dive, with the real nodes over DDS.

1. renders the demo dive (a synthetic ROV dive over a scallop bed, exact ground truth) as a rosbag2 of
   compressed camera images, the way the ROV records it (cached in ``--out``);
2. starts ``tssd_node`` and ``grasp_selector_node`` as processes (through the launch file where launch_ros is
   installed, else the executables with the same parameter files), plays the dive to them with ``tssd play``'s
   player (bag time on /clock, ``use_sim_time``) and records what they publish into ``output_bag`` (mcap);
   ``--offline`` runs the same pipeline in this process instead (``tssd replay``'s path), no DDS;
3. leaves the annotated video (the node's ``image_annotated``), a contact sheet, the counts next to the
   ground truth (JSON and a plot over time) and the grasp-target log, and prints where each is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.errors import TssdError
from tssd_ros.paths import make_out_dir

OUT_TOPICS = {"/detections": "vision_msgs/msg/Detection2DArray", "/counts": "diagnostic_msgs/msg/DiagnosticArray",
              "/label_info": "vision_msgs/msg/LabelInfo", "/grasp_target": "vision_msgs/msg/Detection2D",
              "/grasp_target/point": "geometry_msgs/msg/PointStamped", "/grasp_status": "std_msgs/msg/String"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the nodes on the bundled demo dive and show what they publish",
                       description=__doc__)
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    add_pipeline_args(p)
    p.add_argument("--seed", type=int, default=777, help="dive seed (training range; not a benchmark seed)")
    p.add_argument("--frames", type=int, default=180, help="frames of the demo dive")
    p.add_argument("--preset", default="clear", choices=("clear", "turbid", "dark"))
    p.add_argument("--rate", type=float, default=1.0, help="playback speed (live; default 1 = camera rate)")
    p.add_argument("--offline", action="store_true", help="run the pipeline in this process (no nodes, no DDS)")
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


def _node_params(pipe: Any, out: Path) -> tuple[Path, Path]:
    """The parameter files the nodes get: the pipeline's own parameters (--params and the overrides, weights as
    an absolute path), counts saved to out/counts.json; the installed grasp selector file as it is."""
    import yaml

    from tssd_ros.paths import resolve_data_path, share_dir

    values = {k: v for k, v in pipe.params.items() if v is not None}
    values |= {"weights": str(resolve_data_path(values["weights"]).resolve()), "counts_file": str(
        (out / "counts.json").resolve()), "compressed": True, "publish_annotated": True}
    folder = out / "params"
    folder.mkdir(exist_ok=True)
    tssd = folder / "tssd.yaml"
    tssd.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}, sort_keys=False))
    return tssd, share_dir() / "config" / "grasp_selector.yaml"


def _live(args: argparse.Namespace, pipe: Any, dive: Path, out: Path, out_bag: Path) -> dict[str, Any]:
    from tssd_ros.bag.message_bag import MessageBagWriter
    from tssd_ros.ros.conversions import image_to_bgr
    from tssd_ros.ros.launcher import Nodes
    from tssd_ros.ros.player import play
    from tssd_ros.ros.recorder import BagRecorder
    from tssd_ros.types import stamp_to_sec
    from tssd_ros.video import VideoOut

    (out / "counts.json").unlink(missing_ok=True)  # a new dive: the node must not restore the last one's
    params, grasp = _node_params(pipe, out)
    video = VideoOut(out / "annotated.mp4")
    frames: dict[float, np.ndarray] = {}

    def on_annotated(msg: Any) -> None:
        img, stamp = image_to_bgr(msg), stamp_to_sec(msg.header.stamp)
        video.add(img, stamp)
        frames[stamp] = img

    with Nodes(params, grasp, out / "logs", compressed=True) as nodes, MessageBagWriter(out_bag) as writer, BagRecorder(
            writer, OUT_TOPICS, latched=("/label_info", "/grasp_status"),
            watch={"/image_annotated": ("sensor_msgs/msg/Image", on_annotated)}) as rec:
        print(f"started {'the launch file' if nodes.via_launch else 'tssd_node and grasp_selector_node'}; "
              "waiting for them ...", flush=True)
        end = time.monotonic() + 90.0
        while not all(rec.publisher_count(t) for t in ("/detections", "/grasp_status")):
            if not nodes.alive() or time.monotonic() > end:
                raise TssdError("the nodes did not come up: " + nodes.logs().strip().splitlines()[-1]
                                if nodes.logs().strip() else "the nodes did not come up (no log)")
            time.sleep(0.2)
        t0 = time.monotonic()
        counts, _, _ = play(dive / "bag", rate=args.rate, clock=True, start_delay=10.0)
        # the node works on the newest frame: wait until its answers stop coming
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 1.5 and time.monotonic() - t0 < 600:
            n = rec.counts.get("/detections", 0)
            if n != last:
                last, quiet_since = n, time.monotonic()
            time.sleep(0.1)
        wall = time.monotonic() - t0
    video.close()
    played = sum(n for t, n in counts.items() if t != "/clock")
    return {"played": played, "processed": rec.counts.get("/detections", 0), "wall": wall,
            "sheet": [frames[s] for s in sorted(frames)], "how": "live nodes over DDS"}


def _offline(pipe: Any, dive: Path, out: Path, out_bag: Path) -> dict[str, Any]:
    from tqdm import tqdm

    from tssd_ros.bag.reader import read_frames
    from tssd_ros.params import read_ros_params
    from tssd_ros.paths import share_dir
    from tssd_ros.ros.replay_bag import ReplayBagOut
    from tssd_ros.video import VideoOut
    from tssd_ros.viz import draw_detections

    grasp = read_ros_params(share_dir() / "config" / "grasp_selector.yaml", "grasp_selector")
    count, frames = read_frames(dive / "bag")
    video = VideoOut(out / "annotated.mp4")
    sheet = []
    t0 = time.monotonic()
    with ReplayBagOut(out_bag, pipe.class_names, pipe.conf_threshold, grasp) as rb:
        for fr, res in tqdm(pipe.process_stream(frames), total=count, unit="frame", desc="demo"):
            if res is None:
                continue
            rb.frame(fr, res)
            vis = draw_detections(fr.image, res.detections, res.published_ids(), res.counts)
            video.add(vis, fr.stamp)
            sheet.append(vis)
    video.close()
    pipe.save_counts(out / "counts.json")
    return {"played": count, "processed": len(sheet), "wall": time.monotonic() - t0, "sheet": sheet,
            "how": "offline pipeline"}


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    make_out_dir(out)
    pipe = pipeline_from_args(args)  # checks the weights and parameters before anything starts
    dive = _dive(out, args.seed, args.frames, args.preset)
    out_bag = out / "output_bag"
    if out_bag.exists():
        shutil.rmtree(out_bag)
    res = _offline(pipe, dive, out, out_bag) if args.offline else _live(args, pipe, dive, out, out_bag)
    _report(out, dive, out_bag, pipe, res)
    return 0


def _report(out: Path, dive: Path, out_bag: Path, pipe: Any, res: dict[str, Any]) -> None:
    """Counts against the ground truth, the grasp log, the contact sheet and the plot, from the output bag."""
    import cv2
    from rosbags.highlevel import AnyReader

    from tssd_ros.bag.reader import image_topics, read_frames
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.eval.counting import true_counts_over_time
    from tssd_ros.ros.conversions import counts_from_msg
    from tssd_ros.types import stamp_to_sec

    names = pipe.class_names
    count, frames = read_frames(dive / "bag", next(iter(image_topics(dive / "bag"))))
    index = {round(fr.stamp, 6): fr.index for fr in frames}
    pred = np.zeros((count, len(names)), np.int64)
    grasp_log = []
    with AnyReader([out_bag]) as reader:
        for conn, _t, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/counts":
                k = index.get(round(stamp_to_sec(msg.header.stamp), 6))
                if k is not None:
                    c = counts_from_msg(msg)
                    pred[k] = [c.get(n, (0, 0))[0] for n in names]
            elif conn.topic == "/grasp_status":
                grasp_log.append(json.loads(msg.data))
    pred = np.maximum.accumulate(pred, axis=0)  # frames the node skipped keep the last count
    seq = load_mot_sequence(dive)
    true_all = true_counts_over_time([seq.targets(i) for i in range(len(seq))], len(seq.class_names),
                                     min_frames=pipe.count_min_hits)
    true = np.stack([true_all[:, seq.class_names.index(c)] if c in seq.class_names else np.zeros(len(true_all), int)
                     for c in names], 1)
    (out / "grasp_log.jsonl").write_text("".join(json.dumps(s) + "\n" for s in grasp_log))
    (out / "counts_vs_truth.json").write_text(json.dumps(
        {c: {"counted": int(pred[-1, k]), "true": int(true[-1, k])} for k, c in enumerate(names)}, indent=1))
    sheet = res["sheet"]
    if sheet:
        picks = [sheet[int(i)] for i in np.linspace(len(sheet) * 0.2, len(sheet) - 1, 4)]
        cv2.imwrite(str(out / "contact_sheet.png"), np.vstack([np.hstack(picks[:2]), np.hstack(picks[2:])]))
    _plot_counts(out / "counts_over_time.png", pred, true, names, seq.frame_rate)
    locked = sorted({s["target_id"] for s in grasp_log if s.get("state") == "locked"}, key=int)
    print(f"\n{res['how']}: {res['processed']} of {res['played']} frames processed in {res['wall']:.1f} s "
          f"with {Path(pipe.params['weights']).name}")
    print("class          counted  true")
    for k, c in enumerate(names):
        print(f"{c:<14} {pred[-1, k]:>7}  {int(true[-1, k]):>4}")
    print(f"grasp targets locked: {', '.join(locked) or 'none'} ({len(grasp_log)} status messages)")
    print(f"wrote {out}/:")
    for name, what in (("annotated.mp4", "the node's image_annotated"), ("contact_sheet.png", "four annotated frames"),
                       ("counts_vs_truth.json", "counts next to the ground truth"),
                       ("counts_over_time.png", "counts over the dive"), ("grasp_log.jsonl", "grasp_status"),
                       ("output_bag", "everything published (mcap; open it in Foxglove)"),
                       ("counts.json", "the dive counter")):
        if (out / name).exists():
            print(f"  {name:<22} {what}")


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
