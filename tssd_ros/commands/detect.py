"""``tssd detect SOURCE --weights W --out dets.jsonl``: run the streaming detector over a video or a folder
of frames (one stream, state carried) and write one JSON object per frame."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tssd_ros.data.sequence import is_image_file
from tssd_ros.errors import InputError, TssdError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("detect", help="run TSSD on a video or a folder of frames, write JSONL",
                              description=__doc__)
    p.add_argument("source", help="video file or folder of frames (jpg/png, sorted by name)")
    p.add_argument("--weights", required=True, help="checkpoint (project format or reference state_dict)")
    p.add_argument("--out", default="-", help="output JSONL path ('-' = stdout)")
    p.add_argument("--conf-threshold", type=float, default=None, help="per-class score threshold")
    p.add_argument("--nms-iou", type=float, default=None, help="NMS IoU threshold")
    p.add_argument("--top-k", type=int, default=None, help="NMS candidates / kept boxes per class")
    p.add_argument("--classes", default=None, help="class-name preset: vid, mot, underwater")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    p.add_argument("--no-track", action="store_true", help="do not run the OTA tracker (track_id null)")
    p.add_argument("--ota-mode", default="attention", choices=("attention", "iou", "motion"),
                   help="OTA similarity (attention = the paper)")
    p.add_argument("--min-hits", type=int, default=5, help="matches before an identity is confirmed and reported")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate for the tracker's clock (default: the video's, else 30)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.set_defaults(func=run)


def iter_frames(source: str | Path) -> tuple[int, Iterator[np.ndarray]]:
    """(frame count or 0 if unknown, iterator of BGR uint8 frames) for a folder of images or a video file."""
    src = Path(source)
    if src.is_dir():
        files = sorted(f for f in src.iterdir() if is_image_file(f))
        if not files:
            raise InputError(f"no .jpg/.png frames in folder {str(src)!r}")

        def gen_images() -> Iterator[np.ndarray]:
            for f in files:
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None:
                    raise InputError(f"cannot read image {str(f)!r}")
                yield img

        return len(files), gen_images()
    if not src.is_file():
        raise InputError(f"source {str(src)!r} does not exist; pass a video file or a folder of frames")
    cap = cv2.VideoCapture(str(src))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise InputError(f"cannot read video {str(src)!r} (not a video or unsupported codec)")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def gen_video() -> Iterator[np.ndarray]:
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
    import torch
    from tqdm import tqdm

    from tssd_ros.model import load_detector
    from tssd_ros.pipeline import Pipeline, PipelineConfig
    from tssd_ros.records import frame_record
    from tssd_ros.tracking.ota import OTAConfig

    if args.threads:
        torch.set_num_threads(int(args.threads))
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise TssdError(f"--device {args.device}: CUDA is not available here; use --device cpu")
    det = load_detector(args.weights, device=args.device, classes=args.classes, conf_threshold=args.conf_threshold,
                        nms_iou=args.nms_iou, top_k=args.top_k, fp16=args.fp16)
    total, frames = iter_frames(args.source)
    fps = args.fps or _video_fps(args.source) or 30.0
    if fps <= 0:
        raise TssdError(f"--fps must be > 0, got {fps}")
    pipe = Pipeline(det, OTAConfig(mode=args.ota_mode, min_hits=args.min_hits, fps=fps),
                    config=PipelineConfig(max_gap_s=float("inf"), track=not args.no_track))
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    n = 0
    try:
        bar = tqdm(frames, total=total or None, desc="detect", unit="frame", disable=None)
        for i, frame in enumerate(bar):
            if args.max_frames is not None and i >= args.max_frames:
                break
            res = pipe.process(frame, i / fps)  # one stream: frame times from the frame rate
            ids = [None] * len(res.detections) if args.no_track else res.published_ids()
            out.write(json.dumps(frame_record(i, res.detections, ids)) + "\n")
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tssd detect: {n} frames -> {args.out}", file=sys.stderr)
    return 0
