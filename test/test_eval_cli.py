"""`tssd eval` end to end on a tiny synthetic sequence with tiny random weights."""

from __future__ import annotations

import json

import pytest

from tssd_ros.classes import UNDERWATER_CLASSES


@pytest.fixture(scope="module")
def tiny_seq(tmp_path_factory):
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.synth import SynthConfig

    return write_dive(tmp_path_factory.mktemp("uw") / "seq", SynthConfig(seed=8, frames=5, width=160, height=120,
                                                                         density=3.0), progress=False)


def test_eval_writes_json_and_plots(tmp_path, tiny_seq, tiny_weights, capsys):
    from tssd_ros.cli import main

    out = tmp_path / "rep" / "report.json"
    rc = main(["eval", "--weights", str(tiny_weights), "--baseline", str(tiny_weights), "--data", str(tiny_seq),
               "--out", str(out), "--max-frames", "4", "--min-hits", "2", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads(out.read_text())
    assert set(rep["models"]) == {"model", "baseline"}
    m = rep["models"]["model"]
    assert set(m["detection"]["per_class"]) == set(UNDERWATER_CLASSES)
    assert m["frames"] == 4
    for k in ("HOTA", "MOTA", "IDF1", "IDSW", "ids_per_identity"):
        assert k in m["tracking"]["all"]
    assert set(m["tracking"]["per_class"]) == set(UNDERWATER_CLASSES)
    assert set(m["counting"]["total"]["per_class"]["scallop"]) >= {"predicted", "true", "error"}
    assert "mean_score_std" in m["score_stability"]
    assert rep["models"]["baseline"]["detection"] == m["detection"], "same weights, same numbers"
    for png in ("report_pr.png", "report_counts.png"):
        assert (out.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_bad_arguments(tmp_path, tiny_weights, capsys):
    from tssd_ros.cli import main

    assert main(["eval", "--weights", str(tiny_weights)]) == 2
    assert main(["eval", "--weights", str(tiny_weights), "--data", str(tmp_path)]) == 2
    assert main(["eval", "--weights", str(tmp_path / "none.pt"), "--benchmark", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("tssd eval: error:") for e in err)
