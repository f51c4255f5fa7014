"""``tssd replay IN_BAG --out OUT_BAG``: a bag's images through the node's pipeline, its outputs as a bag.

Every frame goes through the pipeline of ``--params`` (default: the installed config/tssd.yaml) in order, none
dropped; the bag's header stamps drive the stream rules (gaps, loops) exactly as they would live. OUT_BAG
(mcap, or ``--storage sqlite3``) holds what tssd_node and grasp_selector_node would have published:
/detections, /label_info, /counts, /grasp_target, /grasp_target/point, /grasp_status (grasp parameters from
``--grasp-params``), with ``--annotated`` /image_annotated and with ``--images`` the input frames; message
definitions are embedded, so Foxglove or any rosbag2 reader opens it. ``--jsonl`` writes one JSON object per
frame, ``--video`` an annotated MP4. Input: rosbag2 (sqlite3 or mcap) or ROS 1 bags, Image or
CompressedImage. A corrupt message is a warning and the replay goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.errors import InputError, TssdError

DEFAULT_GRASP_PARAMS = "config/grasp_selector.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run a bag's images through detector + OTA + counter + grasp selection",
                       description=__doc__)
    p.add_argument("bag", help="rosbag2 folder (sqlite3 or mcap) or ROS 1 .bag")
    p.add_argument("--out", default=None, help="output rosbag2 folder (must not exist)")
    p.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="output bag storage")
    p.add_argument("--annotated", action="store_true", help="also record /image_annotated")
    p.add_argument("--images", action="store_true", help="also copy the input images into the output bag")
    p.add_argument("--jsonl", default=None, help="JSONL output, one object per image")
    p.add_argument("--video", default=None, help="annotated video (.mp4)")
    p.add_argument("--topic", default=None, help="image topic (default: the bag's only image topic)")
    add_pipeline_args(p)
    p.add_argument("--grasp-params", default=DEFAULT_GRASP_PARAMS,
                   help=f"grasp_selector parameter file (default: the installed {DEFAULT_GRASP_PARAMS})")
    p.add_argument("--counts", default=None, help="write the final per-class counts (DiveCounter JSON) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tssd_ros.bag.reader import image_topics, read_frames
    from tssd_ros.params import read_ros_params
    from tssd_ros.paths import resolve_data_path
    from tssd_ros.records import bad_frame_record, frame_record
    from tssd_ros.video import VideoOut
    from tssd_ros.viz import draw_detections

    if not (args.out or args.jsonl or args.video):
        raise InputError("nothing to write: give --out OUT_BAG (and/or --jsonl FILE, --video FILE.mp4)")
    if args.out and str(args.out).endswith(".jsonl"):
        raise InputError(f"--out is the output bag folder; for JSON lines use --jsonl {args.out}")
    grasp = read_ros_params(resolve_data_path(args.grasp_params), "grasp_selector") if args.out else {}
    pipe = pipeline_from_args(args)
    count, frames = read_frames(args.bag, args.topic)
    topics = image_topics(args.bag)
    topic = args.topic or next(iter(topics))
    bad = 0
    with ExitStack() as stack:
        bag_out = jsonl = video = None
        if args.out:
            from tssd_ros.ros.replay_bag import ReplayBagOut

            msgtype = topics[topic]
            bag_out = stack.enter_context(ReplayBagOut(
                args.out, pipe.class_names, pipe.conf_threshold, grasp, args.storage,
                annotated=args.annotated, images=(topic, msgtype) if args.images else None))
        if args.jsonl:
            out = Path(args.jsonl)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                jsonl = stack.enter_context(out.open("w"))
            except OSError as e:
                raise TssdError(f"cannot write {out}: {e.strerror}") from None
        if args.video:
            video = VideoOut(args.video)
            stack.callback(video.close)
        bar = stack.enter_context(tqdm(total=count, unit="frame", desc="replay"))
        for fr, res in pipe.process_stream(frames):
            bar.update(1)
            if res is None:
                bad += 1
                bar.write(f"warning: frame {fr.index} skipped: {fr.error}", file=sys.stderr)
                if jsonl:
                    jsonl.write(json.dumps(bad_frame_record(fr.index, fr.stamp, fr.error)) + "\n")
                continue
            if jsonl:
                jsonl.write(json.dumps(frame_record(fr.index, res.detections, res.published_ids(), fr.stamp)) + "\n")
            if bag_out:
                bag_out.frame(fr, res)
            if video:
                video.add(draw_detections(fr.image, res.detections, res.published_ids(), res.counts), fr.stamp)
    if args.counts:
        pipe.save_counts(args.counts)
    wrote = [w for w in (args.out, args.jsonl, args.video) if w]
    print(f"{count} frames ({bad} skipped) -> {', '.join(wrote)}")
    if bag_out:
        print("grasp: " + ", ".join(f"{k} {v}" for k, v in sorted(bag_out.grasp_states.items())))
    print("unique individuals: " + ", ".join(f"{c}: {u}" for c, (u, _) in pipe.counts().items()))
    return 0
