"""Identities and counts with the shipped detector: OTA's modes next to SORT and ByteTrack on the same detections.

Why: counting unique individuals is the mission's headline output and every identity switch is a double count.
Each sequence is run once through the detector (the node's parameters, config/tssd.yaml: the shipped weights,
their threshold); every frame's detections go to all trackers at once, so they see identical input. Data: the
held-out synthetic benchmark (benchmarks/underwater.yaml) and moving-camera clips made from URPC2020 *valid*
stills (real seabed appearance; skipped when ../shared is absent). Scores: TrackEval HOTA / IDF1 / ID switches
(class-agnostic, sequences joined), ids per true identity (the double-count figure), count error per class
(OTA: identities matched count_min_hits times, as the node counts; baselines: every id they output; true:
identities seen in count_min_hits frames). Writes
benchmarks/results/identities.{json,md}.

    .venv/bin/python benchmarks/eval_identities.py [--quick]

Not part of `make bench` (an evaluation, like eval_detector.py: about 4 min on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tssd_ros.data.sequence import mark_difficult  # noqa: E402
from tssd_ros.eval.counting import count_error, true_counts_over_time  # noqa: E402
from tssd_ros.eval.report import EvalOptions, SequenceRun, _mot_rows, label_map, tracking_metrics  # noqa: E402
from tssd_ros.params import load_params, ota_changes_from_params  # noqa: E402
from tssd_ros.pipeline import Pipeline  # noqa: E402
from tssd_ros.tracking.counting import DiveCounter  # noqa: E402
from tssd_ros.tracking.offline import make_baseline, to_supervision  # noqa: E402
from tssd_ros.tracking.ota import OTAConfig, OTATracker  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
URPC = ROOT.parent / "shared" / "data" / "urpc2020"


class OTARun:
    """OTA with the node's rules: published ids are the confirmed ones, counted by DiveCounter."""

    def __init__(self, cfg: OTAConfig, names: tuple[str, ...], frames: bool, count_min_hits: int) -> None:
        self.tracker, self.frames = OTATracker(cfg), frames
        self.counter = DiveCounter(names, min_hits=max(cfg.min_hits, count_min_hits))

    def update(self, dets: Any, t: float, img: np.ndarray) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
        tracks = self.tracker.update(dets, t, img if self.frames else None)
        self.counter.update(tracks, self.tracker.next_id)
        ids = np.full(len(dets), -1, np.int64)
        labels = dets.labels.copy()
        for tr in tracks:
            if tr.det_index >= 0 and tr.confirmed and tr.track_id >= 0:
                ids[tr.det_index] = tr.track_id
                labels[tr.det_index] = tr.label  # the identity's class, as the pipeline publishes it
        return ids, self.counter.counts, labels


class BaselineRun:
    """A trackers SORT/ByteTrack per class (they are class-agnostic); counts = distinct ids per class.
    min_score: boxes at or below it are not given to the tracker (SORT gets the published boxes; ByteTrack,
    made for them, also the faint ones)."""

    def __init__(self, name: str, names: tuple[str, ...], fps: float, min_score: float = 0.0) -> None:
        self.trackers = {k: make_baseline(name, fps) for k in range(len(names))}
        self.names, self.seen = names, {c: set() for c in names}
        self.ids: dict[tuple[int, int], int] = {}
        self.min_score = min_score

    def update(self, dets: Any, t: float, img: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        ids = np.full(len(dets), -1, np.int64)
        for k, trk in self.trackers.items():
            sel = np.flatnonzero((dets.labels == k) & (dets.scores > self.min_score))
            res = trk.update(to_supervision(dets.boxes[sel], dets.scores[sel], dets.labels[sel]))
            for i, tid in zip(res.data.get("det_index", []), res.tracker_id, strict=True):
                if tid >= 0:
                    gid = self.ids.setdefault((k, int(tid)), len(self.ids))
                    ids[sel[int(i)]] = gid
                    self.seen[self.names[k]].add(gid)
        return ids, {c: len(s) for c, s in self.seen.items()}


def make_runs(base: OTAConfig, names: tuple[str, ...], fps: float, count_min_hits: int,
              published: float = 0.0) -> dict[str, Any]:
    """published: the pipeline's conf_threshold (fainter boxes are the track_threshold's tracking evidence)."""
    k = count_min_hits
    return {
        "ota-motion (node)": OTARun(base, names, True, k),
        "ota-motion, no frames": OTARun(base, names, False, k),
        "ota-attention (paper)": OTARun(dataclasses.replace(base, mode="attention", T=None), names, True, k),
        "ota-iou": OTARun(dataclasses.replace(base, mode="iou", T=None), names, True, k),
        "sort": BaselineRun("sort", names, fps, published),
        "bytetrack": BaselineRun("bytetrack", names, fps),
    }


class Recording:
    """One sequence's ground truth and what each tracker published and counted, as ``SequenceRun``s: the one
    record both this benchmark and tune_tracker.py score."""

    def __init__(self, names: tuple[str, ...], class_names: tuple[str, ...], n: int) -> None:
        self.names, self.class_names, self.n = names, class_names, n
        self.lmap = label_map(names, class_names)
        self.gt_rows: list[np.ndarray] = []
        self.gt_frames: list[Any] = []
        self.rows: dict[str, list[np.ndarray]] = {}
        self.counts: dict[str, np.ndarray] = {}

    def truth(self, i: int, gt: Any) -> None:
        self.gt_frames.append(gt)
        if len(gt):
            self.gt_rows.append(np.column_stack([_mot_rows(i + 1, gt.ids, gt.boxes, (~gt.ignore).astype(float)),
                                                 gt.labels]))

    def published(self, key: str, i: int, d: Any, ids: np.ndarray, counts: dict[str, int],
                  labels: np.ndarray | None = None) -> None:
        """Frame i of tracker ``key``: its identities (-1 = none) per detection, its running counts and the
        classes it published (default: the detections')."""
        labels = d.labels if labels is None else labels
        lab = self.lmap[labels] if len(d) else labels
        pub = (ids >= 0) & (lab >= 0)
        if pub.any():
            self.rows.setdefault(key, []).append(
                np.column_stack([_mot_rows(i + 1, ids[pub], d.boxes[pub], d.scores[pub]), lab[pub]]))
        row = self.counts.setdefault(key, np.zeros((self.n, len(self.class_names)), np.int64))[i]
        for cname, v in counts.items():
            j = self.lmap[self.names.index(cname)]
            if j >= 0:
                row[j] = v

    def runs(self, name: str, min_hits: int) -> dict[str, SequenceRun]:
        opts = EvalOptions()
        true = true_counts_over_time(self.gt_frames, len(self.class_names), min_hits, opts.count_min_visibility,
                                     opts.min_size)
        g = np.concatenate(self.gt_rows) if self.gt_rows else np.zeros((0, 8))
        return {k: SequenceRun(name, g, np.concatenate(self.rows[k]) if self.rows.get(k) else np.zeros((0, 8)),
                               c, true) for k, c in self.counts.items()}


def run_sequences(pipe: Pipeline, seqs: list[Any], base: OTAConfig, class_names: tuple[str, ...],
                  min_hits: int, desc: str, max_frames: int | None = None) -> dict[str, list[SequenceRun]]:
    det, names = pipe.detector, tuple(pipe.class_names)
    runs: dict[str, list[SequenceRun]] = {}
    opts = EvalOptions()  # ignore regions as `tssd eval` marks them (tiny or mostly hidden animals)
    for seq in tqdm(seqs, desc=desc, unit="seq"):
        fps = float(getattr(seq, "frame_rate", 15.0) or 15.0)
        det.reset()
        trackers = make_runs(base, names, fps, min_hits, pipe.conf_threshold or 0.0)
        n = len(seq) if max_frames is None else min(len(seq), max_frames)
        rec = Recording(names, class_names, n)
        for i in range(n):
            img = seq.image(i)
            rec.truth(i, mark_difficult(seq.targets(i), opts.min_visibility, opts.min_size))
            d = det.step(img)
            for k, trk in trackers.items():
                rec.published(k, i, d, *trk.update(d, i / fps, img))
        for k, run in rec.runs(seq.name, min_hits).items():
            runs.setdefault(k, []).append(run)
    return runs


def scores(rs: list[SequenceRun], class_names: tuple[str, ...]) -> dict[str, Any]:
    """One tracker's figures over sequences: TrackEval's, ids per true identity, count error (mean and worst
    class, from the final counts of all sequences together)."""
    m = tracking_metrics(rs, class_names)["all"]
    ce = count_error(sum(r.pred_counts[-1] for r in rs), sum(r.true_counts[-1] for r in rs), class_names)
    return {"HOTA": m["HOTA"], "IDF1": m["IDF1"], "IDSW": m["IDSW"], "MOTA": m["MOTA"],
            "ids_per_identity": m["ids_per_identity"], "count_mean_rel_abs_error": ce["mean_rel_abs_error"],
            "count_worst_rel_abs_error": max(v["rel_abs_error"] for v in ce["per_class"].values()),
            "counts": {c: (v["predicted"], v["true"]) for c, v in ce["per_class"].items()}}


def summarise(runs: dict[str, list[SequenceRun]], class_names: tuple[str, ...]) -> dict[str, Any]:
    return {k: scores(rs, class_names) for k, rs in runs.items()}


def table(part: str, rows: dict[str, dict[str, Any]], first: str = "tracker") -> list[str]:
    """Markdown lines of one data set's scores (``scores`` output per row)."""
    lines = [f"\n## {part}\n", f"| {first} | HOTA | IDF1 | ID sw | ids per identity | count error | worst class |",
             "|---|---|---|---|---|---|---|"]
    for k, v in rows.items():
        lines.append(f"| {k} | {v['HOTA']:.3f} | {v['IDF1']:.3f} | {v['IDSW']:.0f} | {v['ids_per_identity']:.2f} | "
                     f"{100 * v['count_mean_rel_abs_error']:.0f}% | {100 * v['count_worst_rel_abs_error']:.0f}% |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 synthetic sequences of 120 frames, 20 URPC clips")
    ap.add_argument("--params", default=str(ROOT / "config" / "tssd.yaml"))
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    params = load_params(args.params, weights=args.weights)
    pipe = Pipeline.from_params(params)
    base = OTAConfig(**ota_changes_from_params(params))
    report: dict[str, Any] = {"weights": Path(params["weights"]).name, "ota": dataclasses.asdict(base)}

    from tssd_ros.data.benchmark import ensure_benchmark, load_benchmark
    from tssd_ros.data.mot import load_mot_sequence

    bench = load_benchmark("underwater")
    folders = ensure_benchmark(bench)[: 2 if args.quick else None]
    seqs = [load_mot_sequence(f) for f in folders]
    names = tuple(seqs[0].class_names)
    runs = run_sequences(pipe, seqs, base, names, pipe.count_min_hits, "synthetic", 120 if args.quick else None)
    report["synthetic"] = {"sequences": len(seqs), "frames": int(sum(len(s) for s in seqs)),
                           "trackers": summarise(runs, names)}

    if (URPC / "coco_valid.json").is_file():
        from tssd_ros.data.still_clips import clips_from_stills
        from tssd_ros.data.stills import load_coco

        stills = load_coco(URPC / "coco_valid.json")
        n = 20 if args.quick else 60
        pick = np.linspace(0, len(stills) - 1, n).astype(int)
        clips = clips_from_stills(stills.subset(pick, "urpc_valid"), 24, seed=7)
        cnames = tuple(stills.class_names)
        runs = run_sequences(pipe, clips, base, cnames, pipe.count_min_hits, "URPC clips")
        report["urpc_clips"] = {"clips": len(clips), "frames": 24 * len(clips),
                                "trackers": summarise(runs, cnames)}

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "identities.json").write_text(json.dumps(report, indent=1, default=float))
    lines = [f"# Identities with {report['weights']}\n"]
    for part in ("synthetic", "urpc_clips"):
        if part in report:
            lines += table(part, report[part]["trackers"])
    (RESULTS / "identities.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
