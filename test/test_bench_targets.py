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
    miss = rows["node, latency p50 over its inference p50 (ms)"]
    assert not miss["met"] and miss["value"] == 7.0
    unmeasured = [r for r in rows.values() if r["source"] in ("model.json", "synth.json")]
    assert unmeasured and all(r["value"] is None and not r["met"] for r in unmeasured)
    assert targets.main([str(tmp_path)]) == 1
    assert "MISS" in (tmp_path / "targets.md").read_text()


def test_soak_verdict(tmp_path):
    soak = {"wall_s": 400.0,
            "endurance": {"node_alive": True, "rss_growth_mb": 2.0, "latency_p95_last_over_first": 1.0,
                          "identities_reused": []},
            "kill9": {"counts_restored": 150, "counts_required": 140, "ids_continue": False},
            "bad_input": {"node_alive": True, "frames_bad": 4, "bad_sent": 4, "good_sent": {"vga": 10},
                          "good_answered": {"vga": 10}}}
    (tmp_path / "soak.json").write_text(json.dumps(soak))
    rows = {r["name"]: r for r in targets.check(tmp_path, targets.SOAK_TARGETS)}
    missed = [n for n, r in rows.items() if not r["met"]]
    assert missed == ["kill -9: identities after the restart continue (1 = all new)"]
    assert targets.main(["--soak", str(tmp_path)]) == 1
    assert (tmp_path / "soak_targets.md").exists() and not (tmp_path / "targets.md").exists()
