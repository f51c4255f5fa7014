"""benchmarks/targets.py: `make bench`'s verdict from the result JSON (met, missed, not measured)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "targets.py"
SPEC = importlib.util.spec_from_file_location("targets", FILE)
targets = importlib.util.module_from_spec(SPEC)
sys.modules["targets"] = targets  # dataclasses resolve annotations through the module
SPEC.loader.exec_module(targets)


def test_targets_met_missed_and_not_measured(tmp_path):
    (tmp_path / "tracker.json").write_text(json.dumps({"speed": {"20": {"ota-motion": {"ratio_vs_sort": 2.5}}}}))
    (tmp_path / "node.json").write_text(json.dumps({"processed_fps": 30.0, "published_hz": 30, "overhead_ms_p50": 7.0,
                                                    "latency_ms_p50": 20.0, "latency_ms_p95": 30.0}))
    rows = {r["name"]: r for r in targets.check(tmp_path)}
    assert rows["OTA motion / SORT updates per second at 20 detections"]["met"]
    assert rows["node, latency p95 / p50"]["met"] and rows["node, frames processed / published at 30 Hz"]["met"]
    miss = rows["node, latency p50 over inference p50 (ms)"]
    assert not miss["met"] and miss["value"] == 7.0
    unmeasured = [r for r in rows.values() if r["source"] in ("model.json", "synth.json")]
    assert unmeasured and all(r["value"] is None and not r["met"] for r in unmeasured)
    assert targets.main([str(tmp_path)]) == 1
    assert "MISS" in (tmp_path / "targets.md").read_text()
