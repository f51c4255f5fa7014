"""`make bench`'s verdict: every speed figure against its target, from the JSON the benchmark scripts wrote.

Why: a benchmark that only prints numbers lets a regression through. Ratios are taken within one script's run
(the machines are shared and noisy); absolute frame rates only as floors. A figure that was not measured is a
miss. Writes benchmarks/results/targets.{json,md}; exit status 1 on any miss.

    .venv/bin/python benchmarks/targets.py [RESULTS_DIR]
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
    Target("node, latency p50 over inference p50 (ms)", "node.json", lambda d: d["overhead_ms_p50"], "<=", 3.0),
    Target("node, latency p95 / p50", "node.json", lambda d: d["latency_ms_p95"] / d["latency_ms_p50"], "<=", 2.0),
    Target("OTA motion / SORT updates per second at 20 detections", "tracker.json",
           lambda d: d["speed"]["20"]["ota-motion"]["ratio_vs_sort"], ">=", 2.0),
    Target("synthetic dive generator at 640x480, frames/s (floor, slowest preset)", "synth.json",
           lambda d: min(r["fps_wall"] for r in d["results"] if r["size"] == "640x480"), ">=", 20.0),
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
    args = sys.argv[1:] if argv is None else argv
    results = Path(args[0]) if args else RESULTS
    rows = check(results)
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    for r in rows:
        v = "not measured" if r["value"] is None else f"{r['value']:.3g}"
        verdict = "ok" if r["met"] else "MISS"
        lines.append(f"| {r['name']} ({r['source']}) | {v} | {r['op']} {r['target']:g} | {verdict} |")
    table = "\n".join(lines)
    (results / "targets.md").write_text(table + "\n")
    (results / "targets.json").write_text(json.dumps(rows, indent=1))
    print(table)
    missed = [r["name"] for r in rows if not r["met"]]
    if missed:
        print(f"{len(missed)} of {len(rows)} targets missed", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
