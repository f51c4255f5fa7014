"""``tssd replay BAG --out dets.jsonl``: a rosbag2 through the same pipeline as tssd_node (``--params``).

The bag's header stamps drive the stream rules (gaps, loops), exactly as they would live, so an offline
replay gives the answers the node would give on the ROV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.errors import TssdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run a rosbag2's images through detector + OTA + counter",
                       description=__doc__)
    p.add_argument("bag", help="rosbag2 folder (sqlite3 or mcap) or ROS 1 .bag")
    p.add_argument("--out", required=True, help="JSONL output, one object per image")
    p.add_argument("--topic", default=None, help="image topic (default: the bag's only image topic)")
    add_pipeline_args(p)
    p.add_argument("--counts", default=None, help="write the final per-class counts (DiveCounter JSON) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tssd_ros.bag.reader import read_frames
    from tssd_ros.records import bad_frame_record, frame_record

    pipe = pipeline_from_args(args)
    count, frames = read_frames(args.bag, args.topic)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        f = out.open("w")
    except OSError as e:
        raise TssdError(f"cannot write {out}: {e.strerror}") from None
    bad = 0
    with f:
        for fr, res in tqdm(pipe.process_stream(frames), total=count, unit="frame", desc="replay"):
            if res is None:
                bad += 1
                f.write(json.dumps(bad_frame_record(fr.index, fr.stamp, fr.error)) + "\n")
                continue
            f.write(json.dumps(frame_record(fr.index, res.detections, res.published_ids(), fr.stamp)) + "\n")
    if args.counts:
        pipe.save_counts(args.counts)
    summary = ", ".join(f"{c}: {u}" for c, (u, _) in pipe.counts().items())
    print(f"{count} frames ({bad} bad) -> {out}; unique individuals: {summary}")
    return 0
