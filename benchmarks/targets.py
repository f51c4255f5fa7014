"""`make bench`'s and `make soak`'s verdict: every figure against its target, from the JSON the scripts wrote.

Why: a benchmark that only prints numbers lets a regression through. Ratios are taken within one script's run
(the machines are shared and noisy); absolute frame rates only as floors. A figure that was not measured is a
miss. Writes benchmarks/results/targets.{json,md} (with --soak: soak_targets.{json,md}); exit status 1 on any
miss.

    .venv/bin/python benchmarks/targets.py [--soak] [RESULTS_DIR]
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OPS = {">=": operator.ge, "<=": operator.le}


def _model(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(r for r in d["results"] if r["model"].startswith(prefix))


@dataclass(frozen=True)
class Target:
    name: str
    source: str  # JSON file in the results folder
    value: Callable[[dict[str, Any]], float]
    op: str
    target: float


TARGETS = (
    Target("shipped detector, Detector.step frames/s on 2 threads (floor)", "model.json",
           lambda d: _model(d, "shipped")["fps_step"], ">=", 25.0),
    Target("shipped detector, Detector.step / bare forward", "model.json",
           lambda d: _model(d, "shipped")["step_ms_median"] / _model(d, "shipped")["forward_ms_median"], "<=", 1.25),
    Target("temporal overhead, mobile TSSD / its SSD forward (a1.0, 320)", "model.json",
           lambda d: _model(d, "mobile TSSD a1.0 320")["forward_ms_median"]
           / _model(d, "mobile SSD a1.0 320")["forward_ms_median"], "<=", 1.15),
    Target("node, frames processed / published at 30 Hz", "node.json",
           lambda d: d["processed_fps"] / d["published_hz"], ">=", 0.97),
    Target("node, latency p50 over its inference p50 (ms)", "node.json", lambda d: d["overhead_ms_p50"], "<=", 3.0),
    Target("node, latency p95 / p50", "node.json", lambda d: d["latency_ms_p95"] / d["latency_ms_p50"], "<=", 2.0),
    Target("node overloaded (backend torch, slower than 30 Hz), latency p95 / p50", "node.json",
           lambda d: d["overload"]["latency_ms_p95"] / d["overload"]["latency_ms_p50"], "<=", 2.0),
    Target("node overloaded, frames processed + reported dropped / published", "node.json",
           lambda d: (int(d["overload"]["node_diagnostics"]["frames_processed"])
                      + int(d["overload"]["node_diagnostics"]["frames_dropped"])) / d["overload"]["published"],
           ">=", 0.99),
    Target("OTA motion / SORT updates per second at 20 detections", "tracker.json",
           lambda d: d["speed"]["20"]["ota-motion"]["ratio_vs_sort"], ">=", 2.0),
    Target("synthetic dive generator at 640x480, frames/s (floor, slowest preset)", "synth.json",
           lambda d: min(r["fps_wall"] for r in d["results"] if r["size"] == "640x480"), ">=", 20.0),
)



def _soak(phase: str, key: str) -> Callable[[dict[str, Any]], float]:
    return lambda d: d[phase][key]


SOAK_TARGETS = (
    Target("endurance: node alive after the dive (1 = yes)", "soak.json", _soak("endurance", "node_alive"), ">=", 1),
    Target("endurance: RSS growth after the first 1000 frames (MB)", "soak.json",
           _soak("endurance", "rss_growth_mb"), "<=", 10.0),
    Target("endurance: latency p95, last 1000 / first 1000 answers", "soak.json",
           _soak("endurance", "latency_p95_last_over_first"), "<=", 1.25),
    Target("endurance: identities reused", "soak.json", lambda d: len(d["endurance"]["identities_reused"]), "<=", 0),
    Target("kill -9: restored counts - counts one save period before the kill", "soak.json",
           lambda d: d["kill9"]["counts_restored"] - d["kill9"]["counts_required"], ">=", 0),
    Target("kill -9: identities after the restart continue (1 = all new)", "soak.json",
           _soak("kill9", "ids_continue"), ">=", 1),
    Target("bad input: node alive (1 = yes)", "soak.json", _soak("bad_input", "node_alive"), ">=", 1),
    Target("bad input: garbage frames not in /diagnostics frames_bad", "soak.json",
           lambda d: abs(d["bad_input"]["frames_bad"] - d["bad_input"]["bad_sent"]), "<=", 0),
    Target("bad input: good frames unanswered (VGA, 1080p, 16-bit)", "soak.json",
           lambda d: sum(d["bad_input"]["good_sent"].values()) - sum(d["bad_input"]["good_answered"].values()),
           "<=", 0),
    Target("soak wall time (s)", "soak.json", lambda d: d["wall_s"], "<=", 600.0),
)


def check(results: Path = RESULTS, targets: tuple[Target, ...] = TARGETS) -> list[dict[str, Any]]:
    """One row per target: value (None if not measured), target and whether it is met."""
    rows = []
    for t in targets:
        try:
            value: float | None = float(t.value(json.loads((results / t.source).read_text())))
        except (OSError, ValueError, KeyError, StopIteration, ZeroDivisionError, TypeError):
            value = None
        ok = value is not None and OPS[t.op](value, t.target)
        rows.append({"name": t.name, "source": t.source, "value": value, "op": t.op, "target": t.target, "met": ok})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    soak = "--soak" in args
    args = [a for a in args if a != "--soak"]
    results = Path(args[0]) if args else RESULTS
    rows = check(results, SOAK_TARGETS if soak else TARGETS)
    name = "soak_targets" if soak else "targets"
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    for r in rows:
        v = "not measured" if r["value"] is None else f"{r['value']:.3g}"
        verdict = "ok" if r["met"] else "MISS"
        lines.append(f"| {r['name']} ({r['source']}) | {v} | {r['op']} {r['target']:g} | {verdict} |")
    table = "\n".join(lines)
    (results / f"{name}.md").write_text(table + "\n")
    (results / f"{name}.json").write_text(json.dumps(rows, indent=1))
    print(table)
    missed = [r["name"] for r in rows if not r["met"]]
    if missed:
        print(f"{len(missed)} of {len(rows)} targets missed", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
