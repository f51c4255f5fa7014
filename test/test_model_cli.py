"""``tssd detect`` over a folder of frames and a video; clear errors for bad sources and weights."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.cli import main
from tssd_ros.model import PostprocessConfig, build_detector, save_checkpoint, tiny_config


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    det = build_detector(tiny_config(), seed=5, postprocess=PostprocessConfig(conf_threshold=0.2, top_k=20))
    return save_checkpoint(det, tmp_path_factory.mktemp("w") / "tiny.pt")


def make_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur((rng.random((96, 128, 3)) * 255).astype(np.uint8), (0, 0), 2)
    return [np.roll(base, 3 * t, axis=1) for t in range(n)]


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_records(recs: list[dict], n: int, tracked: bool = True) -> None:
    assert [r["frame"] for r in recs] == list(range(n))
    dets = [d for r in recs for d in r["detections"]]
    assert dets, "random tiny weights at conf 0.2 should detect something"
    for d in dets:
        assert set(d) == {"box", "score", "label", "class_name", "track_id"}
        assert len(d["box"]) == 4 and 0.2 < d["score"] <= 1
        assert d["track_id"] is None or (tracked and isinstance(d["track_id"], int) and d["track_id"] >= 0)
        assert d["class_name"] == UNDERWATER_CLASSES[d["label"]]


def test_detect_folder_of_frames(tmp_path, weights, one_thread):
    """one_thread: --threads changes torch's process-wide thread count; the fixture restores it afterwards."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(make_frames(4)):
        cv2.imwrite(str(folder / f"{i:04d}.{'png' if i % 2 else 'jpg'}"), f)
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "dets.jsonl"
    assert main(["detect", str(folder), "--weights", str(weights), "--out", str(out), "--threads", "2",
                 "--backend", "torch"]) == 0
    assert torch.get_num_threads() == 2
    check_records(read_jsonl(out), 4)
    out2 = tmp_path / "dets2.jsonl"
    args = ["detect", str(folder), "--weights", str(weights), "--out", str(out2), "--conf-threshold", "0.9",
            "--top-k", "5", "--nms-iou", "0.3", "--no-track"]
    assert main(args) == 0
    recs = read_jsonl(out2)
    assert len(recs) == 4 and all(d["score"] > 0.9 for r in recs for d in r["detections"])
    assert all(d["track_id"] is None for r in recs for d in r["detections"])


def test_detect_video(tmp_path, weights):
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    assert vw.isOpened()
    for f in make_frames(5):
        vw.write(f)
    vw.release()
    out = tmp_path / "v.jsonl"
    assert main(["detect", str(path), "--weights", str(weights), "--out", str(out), "--ota-mode", "iou",
                 "--min-hits", "2"]) == 0
    recs = read_jsonl(out)
    check_records(recs, 5)
    # identities are those the node would publish: confirmed (>= min_hits) OTA identities only
    ids = [d["track_id"] for d in recs[0]["detections"]]
    assert ids and all(i is None for i in ids)


def test_detect_errors(tmp_path, weights, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["detect", str(bad), "--weights", str(weights), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read video" in err[0]
    assert main(["detect", str(tmp_path / "missing"), "--weights", str(weights)]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty), "--weights", str(weights)]) == 2
    assert "no .jpg/.png frames" in capsys.readouterr().err
    assert main(["detect", str(empty), "--weights", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


@pytest.mark.parametrize("opt,msg", [(["--conf-threshold", "7"], "conf_threshold must be in [0, 1]"),
                                     (["--nms-iou", "-1"], "nms_iou must be in [0, 1]"),
                                     (["--top-k", "0"], "top_k must be in [1, 5000]"),
                                     (["--threads", "-3"], "threads must be in [0, 256]"),
                                     (["--fps", "0"], "--fps must be in (0, 1000]"),
                                     (["--out", "/proc/no/such/dir/o.jsonl"], "cannot write --out")])
def test_detect_options_are_checked_like_node_parameters(tmp_path, weights, capsys, opt, msg):
    folder = tmp_path / "f"
    folder.mkdir()
    cv2.imwrite(str(folder / "000.png"), np.zeros((64, 80, 3), np.uint8))
    args = ["detect", str(folder), "--weights", str(weights), "--out", str(tmp_path / "o.jsonl")]
    assert main(args + opt) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0], err


def test_detect_skips_a_corrupt_frame_and_runs_outside_the_repo(tmp_path, weights, capsys, monkeypatch):
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((64, 80, 3), 40 * i, np.uint8))
    (folder / "001b.png").write_bytes(b"not a png")
    monkeypatch.chdir(tmp_path)  # default --params: the installed config/tssd.yaml, found from anywhere
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert main(["detect", str(folder), "--weights", str(weights), "--out", "o.jsonl"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == [0, 1, 3]  # frame 2 (001b.png) skipped, the rest go on
    assert "1 skipped" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["demo", "eval", "train"])
def test_unwritable_out_is_one_line(tmp_path, weights, capsys, cmd):
    from pathlib import Path

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    coco = tmp_path / "c.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
                                "annotations": [], "categories": [{"id": 1, "name": "echinus"}]}))
    args = {"demo": ["demo", "--weights", str(weights), "--frames", "2"],
            "eval": ["eval", "--weights", str(weights), "--coco", str(coco)],
            "train": ["train", str(Path(__file__).resolve().parents[1] / "config/train/toy.yaml")]}[cmd]
    assert main([*args, "--out", "/proc/no/such/dir"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create" in err[0], err
