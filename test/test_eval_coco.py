"""COCO mAP on stills (pycocotools): hand-computed answers, the PR plot, the detector loop and `tssd eval --coco`.

Expected APs are worked out by hand from COCO's rules (101 recall points 0, 0.01, ..., 1; precision at a point
= the best precision at any recall >= it, 0 beyond the last recall reached), never by calling pycocotools.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import write_stills

from tssd_ros.data.sequence import FrameTargets
from tssd_ros.eval.coco import coco_map, evaluate_stills, save_pr_curves

SHARED = Path(__file__).resolve().parents[2] / "shared"
URPC = SHARED / "data" / "urpc2020"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def targets(boxes, labels, ignore=None) -> FrameTargets:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(b)
    ig = np.zeros(n, bool) if ignore is None else np.asarray(ignore, bool)
    return FrameTargets(b, np.asarray(labels, np.int64), np.arange(n), np.ones(n, np.float32), ig)


def hand_case():
    """Class a: 2 gt, both found first (+1 ignored gt, not found). Class b: 4 gt; ranking TP, FP, TP.

    Class c: one false positive and no gt. Class d: nothing at all.
    """
    gts = [targets([[10, 10, 50, 50], [200, 10, 240, 50], [300, 300, 340, 340], [0, 200, 30, 230]],
                   [0, 1, 1, 0], ignore=[0, 0, 0, 1]),
           targets([[100, 100, 160, 140], [10, 300, 50, 340], [300, 10, 340, 50]], [0, 1, 1])]
    preds = [([[10, 10, 50, 50], [200, 10, 240, 50], [100, 100, 140, 140]], [0.9, 0.9, 0.8], [0, 1, 1]),
             ([[100, 100, 160, 140], [10, 300, 50, 340], [50, 50, 60, 60]], [0.8, 0.7, 0.5], [0, 1, 2])]
    return gts, preds, ("a", "b", "c", "d")


def test_hand_computed_ap():
    gts, preds, names = hand_case()
    r = coco_map(gts, preds, names)
    a, b, c, d = (r["per_class"][k] for k in names)
    # a: every box matched exactly before any error -> precision 1 at every recall point; the ignored gt
    # is not owed a detection (else recall would stop at 2/3 and AP fall below 1)
    assert a["n_gt"] == 2 and a["n_ignored"] == 1
    assert a["AP50"] == pytest.approx(1.0) and a["AP50_95"] == pytest.approx(1.0)
    # b: ranking TP, FP, TP over 4 gt -> (recall, precision) = (.25, 1), (.25, .5), (.5, 2/3);
    # envelope: 1 for recall points 0..0.25 (26 of them), 2/3 for 0.26..0.50 (25), 0 for the other 50
    ap_b = (26 * 1.0 + 25 * 2 / 3) / 101
    assert b["n_gt"] == 4 and b["n_det"] == 3
    assert b["AP50"] == pytest.approx(ap_b, abs=1e-9)
    assert b["AP50_95"] == pytest.approx(ap_b, abs=1e-9), "exact boxes match at every IoU"
    assert b["recall50"] == pytest.approx(0.5)
    # c, d: no ground truth -> no AP, left out of the mean
    assert c["AP50"] is None and c["AP50_95"] is None and c["n_det"] == 1
    assert d["AP50"] is None and d["n_gt"] == 0
    assert r["mAP50"] == pytest.approx((1.0 + ap_b) / 2, abs=1e-9)
    assert r["pr_curves"]["precision"]["c"] is None
    curve = r["pr_curves"]["precision"]["b"]
    assert len(curve) == len(r["pr_curves"]["recall"]) == 101
    assert curve[25] == pytest.approx(1.0) and curve[26] == pytest.approx(2 / 3) and curve[51] == 0.0
    json.dumps(r)  # plain, JSON-ready


def test_shifted_box_counts_at_50_but_not_at_strict_iou():
    # gt 100x100, prediction shifted 23 px: IoU = 77 / 123 = 0.626 -> matched at IoU 0.50, 0.55, 0.60 only
    gts = [targets([[0, 0, 100, 100]], [0])]
    preds = [([[23, 0, 123, 100]], [0.9], [0])]
    r = coco_map(gts, preds, ("a",))
    assert r["per_class"]["a"]["AP50"] == pytest.approx(1.0)
    assert r["per_class"]["a"]["AP50_95"] == pytest.approx(3 / 10)
    assert r["mAP50_95"] == pytest.approx(0.3)


def test_crowded_image_is_not_cut_at_100_detections():
    # 150 objects found with falling scores: COCO's usual maxDets=100 would stop recall at 100/150
    boxes = [[20 * (i % 15), 20 * (i // 15), 20 * (i % 15) + 15, 20 * (i // 15) + 15] for i in range(150)]
    gts = [targets(boxes, [0] * 150)]
    preds = [(boxes, np.linspace(0.9, 0.1, 150), [0] * 150)]
    assert coco_map(gts, preds, ("a",))["mAP50"] == pytest.approx(1.0)


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="outside"):
        coco_map([targets([[0, 0, 5, 5]], [0])], [([[0, 0, 5, 5]], [0.5], [3])], ("a", "b"))
    with pytest.raises(ValueError, match="prediction images"):
        coco_map([targets([[0, 0, 5, 5]], [0])], [], ("a",))


def test_pr_curve_png(tmp_path):
    gts, preds, names = hand_case()
    out = save_pr_curves(coco_map(gts, preds, names), tmp_path / "sub" / "pr.png")
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 2000
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert w > 200 and h > 200


@pytest.fixture(scope="module")
def tiny_detector():
    from tssd_ros.classes import UNDERWATER_CLASSES
    from tssd_ros.model.checkpoint import build_detector
    from tssd_ros.model.config import PostprocessConfig, tiny_config

    return build_detector(tiny_config(num_classes=5), UNDERWATER_CLASSES,
                          postprocess=PostprocessConfig(conf_threshold=0.3, top_k=50))


class _Spy:
    """Wraps a detector and records what evaluate_stills does to it."""

    def __init__(self, det) -> None:
        self.det, self.calls = det, []

    def __getattr__(self, name):
        return getattr(self.det, name)

    @property
    def postprocess(self):
        return self.det.postprocess

    @postprocess.setter
    def postprocess(self, v) -> None:
        self.det.postprocess = v

    def reset(self) -> None:
        self.calls.append("reset")
        self.det.reset()

    def step(self, img):
        self.calls.append(("step", self.det.postprocess.conf_threshold))
        return self.det.step(img)


@pytest.mark.skipif(not URPC.is_dir(), reason=f"shared data not present ({URPC}); a user's clone has none")
def test_evaluate_stills_on_urpc(tiny_detector):
    from tssd_ros.data.stills import load_coco

    stills = load_coco(URPC / "coco_valid.json")
    spy = _Spy(tiny_detector)
    r = evaluate_stills(spy, stills, progress=False, limit=3)
    assert spy.calls == ["reset", ("step", 0.01)] * 3, "reset before every still, low threshold while scoring"
    assert tiny_detector.postprocess.conf_threshold == 0.3, "threshold restored"
    assert r["images"] == 3 and r["conf_threshold"] == 0.01
    assert sum(d["n_gt"] for d in r["per_class"].values()) == sum(len(stills.targets(i)) for i in range(3))
    for v in [r["mAP50"], r["mAP50_95"]] + [d[k] for d in r["per_class"].values() for k in ("AP50", "AP50_95")]:
        assert v is None or (math.isfinite(v) and 0.0 <= v <= 1.0)
    assert r["mAP50"] is not None
    assert math.isfinite(r["images_per_s"]) and r["images_per_s"] > 0


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_detector) -> Path:
    from tssd_ros.model.checkpoint import save_checkpoint

    return save_checkpoint(tiny_detector, tmp_path_factory.mktemp("w") / "tiny.pt", trained_on="nothing (random)")


def test_cli_coco_writes_metrics_and_plot(tmp_path, tiny_ckpt, capsys):
    from tssd_ros.cli import main

    data = write_stills(tmp_path / "d")
    out = tmp_path / "out"
    rc = main(["eval", "--weights", str(tiny_ckpt), "--coco", str(data / "coco.json"), "--limit", "2",
               "--out", str(out), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["images"] == 2 and m["data"].startswith("coco:")
    assert {c: d["n_gt"] for c, d in m["per_class"].items()} == {"seacucumber": 2, "seaurchin": 2, "scallop": 0,
                                                                  "starfish": 0}
    assert m["per_class"]["scallop"]["AP50"] is None
    assert (out / "pr_curve.png").read_bytes()[:8] == PNG_MAGIC
    table = cap.out.splitlines()
    assert table[0].split() == ["class", "n_gt", "AP50", "AP50:95"]
    assert table[1].split()[:2] == ["seacucumber", "2"]

    rc = main(["eval", "--weights", str(tiny_ckpt), "--yolo", str(data / "images"), "--out", str(tmp_path / "y"),
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    y = json.loads((tmp_path / "y" / "metrics.json").read_text())
    assert y["images"] == 3 and y["per_class"]["seaurchin"]["n_gt"] == 3


def test_cli_coco_bad_input(tmp_path, tiny_ckpt, capsys):
    from tssd_ros.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    base = ["eval", "--weights", str(tiny_ckpt), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(base + ["--coco", str(tmp_path / "missing.json")]) == 2
    assert main(base + ["--coco", str(bad)]) == 2
    good = str(write_stills(tmp_path / "d") / "coco.json")
    assert main(base + ["--coco", good, "--limit", "0"]) == 2
    assert main(base + ["--coco", good, "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("tssd eval: error:") for e in err)
    assert "missing.json" in err[0] and "does not exist" in err[0]
    assert "bad.json" in err[1] and "--limit" in err[2] and "separately" in err[3]
    assert not (tmp_path / "o").exists()


def test_stability_counts_flicker_and_score_changes():
    """One object through 4 frames: detected at 0.9, missed, 0.8, 0.7 (operating threshold 0.5): 2 switches in
    3 steps; score changes 0.9, 0.8, 0.1 -> mean 0.6. A wrong-class detection does not count."""
    from tssd_ros.eval.coco import stability

    box = np.array([[10, 10, 30, 30]], np.float32)
    gt = FrameTargets(box, np.array([1]), np.array([7]), np.ones(1, np.float32), np.zeros(1, bool))
    frames = []
    for s, lab in ((0.9, 1), (0.95, 0), (0.8, 1), (0.7, 1)):
        frames.append((gt, (box + 1, np.array([s]), np.array([lab]))))
    r = stability([frames], 0.5)
    assert r["tracks"] == 1
    assert r["flicker"] == pytest.approx(2 / 3)
    assert r["mean_abs_score_change"] == pytest.approx(0.6)
    assert r["recall_at_threshold"] == pytest.approx(0.75)


def test_clip_figures_are_taken_at_the_operating_threshold(tmp_path, tiny_detector):
    """A pipeline's detector runs below its published threshold (track_threshold): recall and flicker on clips
    are taken at ``operating_threshold`` when given, at the detector's own otherwise; mAP does not change."""
    from tssd_ros.data.stills import load_coco

    stills = load_coco(write_stills(tmp_path / "d") / "coco.json")
    r = {op: evaluate_stills(tiny_detector, stills, progress=False, clip_len=4, operating_threshold=op)
         for op in (None, 0.0, 1.01)}
    assert r[0.0]["clips"]["recall_at_threshold"] == 1.0 and r[0.0]["clips"]["flicker"] == 0.0
    assert r[1.01]["clips"]["recall_at_threshold"] == 0.0
    assert r[None]["clips"]["recall_at_threshold"] < 1.0  # at the detector's 0.3: the random tiny model misses
    assert r[None]["mAP50"] == r[0.0]["mAP50"] == r[1.01]["mAP50"]
    assert tiny_detector.postprocess.conf_threshold == 0.3
