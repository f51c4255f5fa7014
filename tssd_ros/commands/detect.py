"""``tssd detect SOURCE --out dets.jsonl``: run the node's pipeline (``--params``, default the installed
config/tssd.yaml) over a video or a folder of frames (one stream, state carried) and write one JSON object per
frame. A frame that cannot be decoded is skipped with a warning and counted, as the node drops a bad frame."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tssd_ros.commands.pipeline_args import add_pipeline_args, pipeline_from_args
from tssd_ros.data.sequence import is_image_file
from tssd_ros.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("detect", help="run TSSD on a video or a folder of frames, write JSONL",
                              description=__doc__)
    p.add_argument("source", help="video file or folder of frames (jpg/png, sorted by name)")
    p.add_argument("--out", default="-", help="output JSONL path ('-' = stdout)")
    add_pipeline_args(p)
    p.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    p.add_argument("--no-track", action="store_true", help="do not run the OTA tracker (track_id null)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate for the tracker's clock (default: the video's, else 30)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.set_defaults(func=run)


def iter_frames(source: str | Path) -> tuple[int, Iterator[np.ndarray | None]]:
    """(frame count or 0 if unknown, iterator of BGR uint8 frames) for a folder of images or a video file;
    a file in the folder that does not decode yields None (the caller skips and counts it)."""
    src = Path(source)
    if src.is_dir():
        files = sorted(f for f in src.iterdir() if is_image_file(f))
        if not files:
            raise InputError(f"no .jpg/.png frames in folder {str(src)!r}")

        def gen_images() -> Iterator[np.ndarray | None]:
            for f in files:
                yield cv2.imread(str(f), cv2.IMREAD_COLOR)

        return len(files), gen_images()
    if not src.is_file():
        raise InputError(f"source {str(src)!r} does not exist; pass a video file or a folder of frames")
    cap = cv2.VideoCapture(str(src))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise InputError(f"cannot read video {str(src)!r} (not a video or unsupported codec)")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def gen_video() -> Iterator[np.ndarray | None]:
        try:
            frame = first
            while frame is not None:
                yield frame
                ok, frame = cap.read()
                if not ok:
                    break
        finally:
            cap.release()

    return max(n, 0), gen_video()


def _video_fps(source: str | Path) -> float | None:
    if Path(source).is_dir():
        return None
    cap = cv2.VideoCapture(str(source))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    cap.release()
    return fps if 1.0 <= fps <= 1000.0 else None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tssd_ros.records import frame_record

    if args.fps is not None and not 0 < args.fps <= 1000:
        raise InputError(f"--fps must be in (0, 1000], got {args.fps}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be >= 1, got {args.max_frames}")
    pipe = pipeline_from_args(args, fp16=args.fp16 or None)
    pipe.config.track = not args.no_track
    total, frames = iter_frames(args.source)
    fps = args.fps or _video_fps(args.source) or 30.0
    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"cannot write --out {args.out}: {e.strerror}") from None
    n = bad = 0
    try:
        bar = tqdm(frames, total=total or None, desc="detect", unit="frame", disable=None)
        for i, frame in enumerate(bar):
            if args.max_frames is not None and i >= args.max_frames:
                break
            if frame is None:
                bad += 1
                print(f"tssd detect: warning: frame {i} of {args.source} does not decode: skipped", file=sys.stderr)
                continue
            res = pipe.process(frame, i / fps)  # one stream: frame times from the frame rate
            ids = [None] * len(res.detections) if args.no_track else res.published_ids()
            out.write(json.dumps(frame_record(i, res.detections, ids)) + "\n")
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tssd detect: {n} frames ({bad} skipped: not decodable) -> {args.out}", file=sys.stderr)
    return 0
