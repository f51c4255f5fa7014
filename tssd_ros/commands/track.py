"""``tssd track``: OTA (or SORT / ByteTrack for comparison) over MOTChallenge detections.

Input: det.txt rows ``frame, id, x, y, w, h, conf[, x, y, z]`` (id ignored); ``--appearance feats.npy`` is an
(N, D) array with one row per data line of det.txt, in file order (blank and ``#`` lines do not count).
All detections are one class unless ``--class-col K`` names a 1-based column holding a class value (MOT det
files keep world x, y, z in columns 8-10, so there is no class by default). Output: MOT results
``frame, id, x, y, w, h, conf, -1, -1, -1`` with 1-based ids (the tracker's id + 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tssd_ros.errors import InputError
from tssd_ros.tracking.offline import OUTPUTS
from tssd_ros.tracking.ota import ASSIGNMENTS, OTA_MODES, OTAConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="track MOTChallenge detections with OTA (or SORT/ByteTrack)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dets", required=True, type=Path, help="MOT det.txt")
    p.add_argument("--out", required=True, type=Path, help="MOT result file to write")
    p.add_argument("--tracker", choices=("ota", "sort", "bytetrack"), default="ota",
                   help="ota (default) or the trackers package's SORT / ByteTrack on the same detections")
    d = OTAConfig()  # the node's defaults (config/tssd.yaml holds the same values; a test checks)
    p.add_argument("--mode", choices=OTA_MODES, default=d.mode,
                   help=f"OTA mode (default: {d.mode}, the node's; attention needs --appearance)")
    p.add_argument("--appearance", type=Path, help="feats.npy: one appearance row per det.txt line")
    p.add_argument("--T", type=float, default=None, help="match threshold on S (default: per mode)")
    p.add_argument("--G", type=float, default=d.G,
                   help=f"normalised score above which a detection starts a tubelet (default {d.G})")
    p.add_argument("--low-score", type=float, default=d.low_score,
                   help=f"motion: normalised score above which a detection can extend a track (default {d.low_score})")
    p.add_argument("--score-scale", type=float, default=d.score_scale,
                   help="scores are divided by this before --G and --low-score apply; 0 = read from the stream: the "
                        f"20th largest score seen, at least 1 (default {d.score_scale})")
    p.add_argument("--tub-len", type=int, default=d.tub_len, help=f"rows kept per tubelet (default {d.tub_len})")
    p.add_argument("--max-age", type=int, default=d.max_age_frames or 0,
                   help="frames a tubelet lives unmatched, 0 = the mode's: 10 in attention and iou, 30 in motion "
                        f"(default {d.max_age_frames or 0})")
    p.add_argument("--max-age-s", type=float, default=d.max_age_s or 0.0,
                   help=f"seconds a tubelet lives unmatched, 0 = off (default {d.max_age_s or 0.0})")
    p.add_argument("--reid-max-age-s", type=float, default=d.reid_max_age_s,
                   help=f"motion: seconds a lost tubelet can take its identity back (default {d.reid_max_age_s})")
    p.add_argument("--cmc", action=argparse.BooleanOptionalAction, default=d.cmc,
                   help="motion: compensate camera motion (from the matched boxes' median shift here)")
    p.add_argument("--birth-cover", type=float, default=d.birth_cover,
                   help="motion: a box inside a box of its class that took an identity by more than this fraction "
                        f"of its area starts no track, 1 = off (default {d.birth_cover})")
    p.add_argument("--cross-class-cover", type=float, default=d.cross_class_cover,
                   help="motion: the same for a box inside a box of another class (one object boxed as two "
                        f"classes), 1 = off (default {d.cross_class_cover})")
    p.add_argument("--cross-class-match", type=float, default=d.cross_class_match,
                   help="motion: IoU above which a detection of another class may continue a track (one of its own "
                        "class first; a track's class is its detections' vote), 1 = off "
                        f"(default {d.cross_class_match})")
    p.add_argument("--min-hits", type=int, default=d.min_hits,
                   help=f"matches for an identity to be confirmed (default {d.min_hits})")
    p.add_argument("--assignment", choices=ASSIGNMENTS, default=d.assignment)
    p.add_argument("--iou-term", choices=("exp", "linear"), default=None,
                   help="box term: exp(IoU) or IoU (default: exp with appearance, else linear)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate: time stamps = (frame-1)/fps (default: frameRate of the sequence's seqinfo.ini "
                        "beside det/, else 30)")
    p.add_argument("--class-col", type=int, default=None, help="1-based column holding a class value")
    p.add_argument("--output", choices=OUTPUTS, default="backfill",
                   help="OTA rows written: backfill = confirmed identities (hits >= --min-hits) with their rows "
                        "before confirmation; confirmed = from confirmation on, as the node publishes; all = every "
                        "tubelet (default backfill)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.data.mot import read_mot_txt, sequence_frame_rate
    from tssd_ros.eval.mot import write_mot_txt
    from tssd_ros.tracking.offline import track_mot

    det = read_mot_txt(args.dets, min_cols=7, what="detections")
    feats = None
    if args.appearance is not None:
        try:
            feats = np.load(args.appearance, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read appearance array {args.appearance}: {e}") from None
        if feats.ndim != 2 or len(feats) != len(det):
            raise InputError(f"{args.appearance} has shape {feats.shape}; it needs one row per det.txt line "
                             f"({len(det)} rows)")
    mode = args.mode
    if args.tracker == "ota" and mode == "attention" and feats is None:
        raise InputError("--mode attention needs --appearance feats.npy (or use --mode iou / motion)")
    fps = args.fps if args.fps is not None else sequence_frame_rate(args.dets.resolve().parent.parent) or 30.0
    if fps <= 0:
        raise InputError(f"--fps must be > 0, got {fps}")
    config = OTAConfig(mode=mode, T=args.T, G=args.G, low_score=args.low_score, score_scale=args.score_scale,
                       tub_len=args.tub_len,
                       max_age_frames=args.max_age or None, max_age_s=args.max_age_s or None,
                       reid_max_age_s=args.reid_max_age_s, cmc=args.cmc, birth_cover=args.birth_cover,
                       cross_class_cover=args.cross_class_cover, cross_class_match=args.cross_class_match,
                       min_hits=args.min_hits,
                       assignment=args.assignment, iou_term=args.iou_term, motion_appearance=feats is not None,
                       fps=fps)
    t0 = time.perf_counter()
    res = track_mot(det, tracker=args.tracker, config=config, feats=feats, fps=fps,
                    class_col=args.class_col, output=args.output)
    dt = time.perf_counter() - t0
    write_mot_txt(args.out, res)
    frames = int(det[:, 0].max()) if len(det) else 0
    name = f"ota/{mode}" if args.tracker == "ota" else args.tracker
    print(f"{name}: {len(det)} detections in {frames} frames -> {len(res)} rows, "
          f"{len(np.unique(res[:, 1]))} identities in {args.out} ({frames / max(dt, 1e-9):.0f} frames/s)")
    return 0
