"""Project checkpoint format: round trip, weights_only loading, and every CheckpointError case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tssd_ros.errors import CheckpointError
from tssd_ros.model import PostprocessConfig, build_detector, load_detector, save_checkpoint, tiny_config


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [(rng.random((100, 140, 3)) * 255).astype(np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    det = build_detector(tiny_config(temporal="ac_lstm"), seed=3,
                         postprocess=PostprocessConfig(conf_threshold=0.2, nms_iou=0.4, top_k=50))
    path = save_checkpoint(det, tmp_path_factory.mktemp("ckpt") / "tiny.pt", trained_on="nothing", notes="test")
    return det, path


def test_project_format_round_trip_gives_identical_detections(saved):
    det, path = saved
    blob = torch.load(path, weights_only=True)  # only plain containers
    assert blob["format"] == "tssd_ros.detector" and blob["version"] == 2
    assert blob["config"]["temporal"] == "ac_lstm" and blob["class_names"] == list(det.class_names)
    assert blob["preprocess"]["mean_bgr"] == [104.0, 117.0, 123.0] and blob["preprocess"]["channel_order"] == "rgb"
    assert blob["metadata"]["trained_on"] == "nothing" and blob["metadata"]["created"]
    loaded = load_detector(path)
    assert loaded.postprocess == det.postprocess and loaded.config == det.config
    assert loaded.input_size == 128 and str(loaded.device) == "cpu"
    det.reset()
    n = 0
    for f in frames(3):
        a, b = det.step(f), loaded.step(f)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.attention, b.attention)
        n += len(a)
    assert n > 0
    over = load_detector(path, conf_threshold=0.5, top_k=7, class_filter=(2,), classes=("a", "b", "c", "d"))
    assert (over.postprocess.conf_threshold, over.postprocess.top_k, over.postprocess.class_filter) == (0.5, 7, (2,))
    assert over.class_names == ("a", "b", "c", "d")


def test_missing_and_corrupt_files(tmp_path, saved):
    with pytest.raises(CheckpointError, match="not found"):
        load_detector(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_detector(bad)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(saved[1].read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_detector(trunc)
    lst = tmp_path / "list.pt"
    torch.save([1, 2], lst)
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_detector(lst)


def _edit(saved, tmp_path, name, fn):
    blob = torch.load(saved[1], weights_only=True)
    fn(blob)
    p = tmp_path / name
    torch.save(blob, p)
    return p


def test_checkpoint_content_errors(saved, tmp_path):
    def nan(b):
        b["state_dict"]["heads.conf.0.1.weight"][0, 0] = float("nan")

    with pytest.raises(CheckpointError, match=r"'heads.conf.0.1.weight' has NaN/Inf"):
        load_detector(_edit(saved, tmp_path, "nan.pt", nan))

    def extra(b):
        b["state_dict"]["heads.extra.weight"] = torch.zeros(3)

    with pytest.raises(CheckpointError, match="unknown keys.*heads.extra.weight"):
        load_detector(_edit(saved, tmp_path, "extra.pt", extra))

    def shape(b):
        b["state_dict"]["heads.loc.0.1.weight"] = torch.zeros(3, 3, 1, 1)

    with pytest.raises(CheckpointError, match="has shape"):
        load_detector(_edit(saved, tmp_path, "shape.pt", shape))

    def drop(b):
        del b["config"]

    with pytest.raises(CheckpointError, match="malformed"):
        load_detector(_edit(saved, tmp_path, "noconfig.pt", drop))
    with pytest.raises(CheckpointError, match=r"4 foreground classes but preset 'vid' has 30.*--classes underwater"):
        load_detector(saved[1], classes="vid")
    with pytest.raises(CheckpointError, match="unknown class preset"):
        load_detector(saved[1], classes="fish")
    torch.save({"vgg.0.weight": torch.zeros(64, 3, 3, 3), "optimizer": {"lr": 1}}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="neither a tssd_ros checkpoint nor a bare state_dict"):
        load_detector(tmp_path / "mixed.pt")

    def future(b):
        b["version"] += 1

    with pytest.raises(CheckpointError, match=r"future.pt has format version 3; update tssd_ros"):
        load_detector(_edit(saved, tmp_path, "future.pt", future))
