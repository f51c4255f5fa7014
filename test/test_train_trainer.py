"""`tssd train` and the Trainer on a small MOT-layout sequence of toy frames (both stages, freezing, errors)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tssd_ros.cli import main
from tssd_ros.model import load_detector
from tssd_ros.train.toy import TOY_CLASSES, make_toy_frame
from tssd_ros.train.trainer import PhotometricMirror, TrainConfig, build_optimizers, recurrent_parameters


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions: a second thread buys nothing and, on a busy machine, costs ten times the time."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def toy_seq(tmp_path_factory) -> Path:
    """12 frames of a moving scallop and urchin in MOT layout with a class column and classes.txt."""
    root = tmp_path_factory.mktemp("seq") / "toy-01"
    (root / "img1").mkdir(parents=True)
    (root / "gt").mkdir()
    rows = []
    for t in range(12):
        img, boxes, labels = make_toy_frame(t, [(1, 30 + 3 * t, 40, 24), (0, 90, 90 - 2 * t, 30)], size=96, seed=3)
        cv2.imwrite(str(root / "img1" / f"{t + 1:06d}.png"), img)
        for k, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
            rows.append(f"{t + 1},{k + 1},{b[0] + 1:.1f},{b[1] + 1:.1f},{b[2] - b[0]:.1f},{b[3] - b[1]:.1f},1,"
                        f"{lab + 1},1")
    (root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    (root / "classes.txt").write_text("\n".join(TOY_CLASSES) + "\n")
    return root


def _args(seq: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(seq), "--out", str(out), "--arch", "mobile", "--alpha", "0.25", "--input-size",
            "64", "--batch", "2", "--quiet", *extra]


def test_train_ssd_then_tssd_stage(toy_seq, tmp_path):
    ssd = tmp_path / "ssd.pt"
    assert main(_args(toy_seq, ssd, "--stage", "ssd", "--iters", "6", "--lr", "1e-2")) == 0
    det = load_detector(ssd)
    assert det.class_names == TOY_CLASSES and det.input_size == 64
    blob = torch.load(ssd, weights_only=True)
    meta = blob["metadata"]
    assert meta["iterations"] == 6 and meta["stage"] == "ssd" and np.isfinite(meta["final_loss"])
    assert "toy-01" in meta["trained_on"]
    png = tmp_path / "ssd.loss.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"

    tssd = tmp_path / "tssd.pt"
    assert main(_args(toy_seq, tssd, "--stage", "tssd", "--init", str(ssd), "--iters", "3", "--seq-len", "3",
                      "--lr", "1e-2")) == 0
    before = blob["state_dict"]
    after = torch.load(tssd, weights_only=True)["state_dict"]
    frozen = [k for k in before if k.startswith(("backbone.", "neck."))]
    cells = [k for k in before if ".cell." in k]
    heads = [k for k in before if k.startswith("heads.")]
    assert frozen and cells and heads
    assert all(torch.equal(before[k], after[k]) for k in frozen)  # backbone + extras frozen (BN stats too)
    assert any(not torch.equal(before[k], after[k]) for k in cells)  # RMSprop moved the LSTM
    assert any(not torch.equal(before[k], after[k]) for k in heads)  # SGD moved the heads


def test_optimizers_split_recurrent_cells():
    from tssd_ros.model import TSSD, tiny_config

    model = TSSD(tiny_config(4, 64))
    opts, rnn = build_optimizers(model, TrainConfig(stage="tssd"))
    assert [type(o).__name__ for o in opts] == ["SGD", "RMSprop"]
    assert {id(p) for p in rnn} == {id(p) for p in recurrent_parameters(model)}
    sgd, rms = opts
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 5e-4
    assert rms.defaults["weight_decay"] == 5e-4 and rms.defaults["lr"] == 1e-4
    n_all = sum(1 for _ in model.parameters())
    assert len(sgd.param_groups[0]["params"]) + len(rms.param_groups[0]["params"]) == n_all


def test_mirror_flips_boxes():
    aug = PhotometricMirror(seed=1)
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :5] = 200
    flipped = [aug(img, np.array([[0.0, 0, 5, 10]]), np.array([0])) for _ in range(10)]
    mirrored = [b for im, b, _ in flipped if b[0, 0] == 15.0]
    assert mirrored and all(b[0, 2] == 20.0 for b in mirrored)
    assert any(b[0, 0] == 0.0 for _, b, _ in flipped)


def test_bad_inputs_are_one_line_errors(toy_seq, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "w.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err
    assert main(_args(toy_seq, tmp_path, "--iters", "1")) == 2  # --out is a directory
    assert "directory" in capsys.readouterr().err
    assert main(_args(toy_seq, tmp_path / "w.pt", "--init", str(tmp_path / "missing.pt"))) == 2
    assert "not found" in capsys.readouterr().err
