"""``tssd eval-mot``: HOTA, MOTA, IDF1, ID switches, MT/ML of a MOT result file against ground truth.

Computed by TrackEval 1.3.0's metric classes (see tssd_ros.eval.mot): 7-column MOT15 ground truth is
accepted; conf = 0 rows are ignored; with MOT16/17 9-column ground truth only class 1 (pedestrian) counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-mot", help="score a MOT result file (HOTA, MOTA, IDF1, IDSW, MT/ML)",
                       description=__doc__)
    p.add_argument("--gt", required=True, type=Path, help="MOT gt.txt")
    p.add_argument("--res", required=True, type=Path, help="MOT result file (e.g. from tssd track)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   help="print the metrics as JSON (or write them to PATH)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.data.mot import read_mot_txt
    from tssd_ros.eval.mot import evaluate_mot, format_summary

    gt = read_mot_txt(args.gt, min_cols=6, what="ground truth")
    res = read_mot_txt(args.res, min_cols=6, what="results")
    metrics = evaluate_mot(gt, res)
    if args.json is None:
        print(format_summary(metrics))
    elif args.json == "-":
        json.dump(metrics, sys.stdout, indent=1)
        print()
    else:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
        print(format_summary(metrics))
    return 0
