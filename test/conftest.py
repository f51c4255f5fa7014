"""Test-wide settings: DDS on loopback with a per-run domain, and helpers for real-rclpy tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Before anything imports rclpy: keep discovery and traffic on loopback, and give this run its own
# domain so parallel runs on one machine never meet. `make test` sets both; this covers plain pytest.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.pop("ROS_LOCALHOST_ONLY", None)
# Fast DDS: the shipped profile for camera-sized messages (`make test` sets it too; TSSD_NO_DDS_PROFILE=1 runs
# the tests on Fast DDS defaults, to see the transport test fail).
if not os.environ.get("TSSD_NO_DDS_PROFILE"):
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(Path(__file__).resolve().parents[1] / "config"
                                                                / "fastdds.xml"))

sys.path.insert(0, str(Path(__file__).parent))  # for `import rosutil`


import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # real data (URPC2020, pretrained backbones); absent in a user's clone


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """Pipeline.from_params sets torch's thread count (parameter `threads`; one thread beside ONNX Runtime):
    what a node process wants, not the tests after it."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def one_thread():
    """Tiny convolutions: a second thread buys nothing and, on a busy machine, costs ten times the time.
    Restores the thread count, so no test changes torch's threads for the ones after it."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny randomly initialised mobile TSSD (project format) with the underwater classes.

    Random weights give random detections; tests that need a known object use `scripted_weights`.
    """
    from tssd_ros.classes import UNDERWATER_CLASSES
    from tssd_ros.model.checkpoint import build_detector, save_checkpoint
    from tssd_ros.model.config import PostprocessConfig, tiny_config

    det = build_detector(tiny_config(num_classes=5, input_size=128), UNDERWATER_CLASSES,
                         postprocess=PostprocessConfig(conf_threshold=0.3, nms_iou=0.3, top_k=50))
    return save_checkpoint(det, tmp_path_factory.mktemp("weights") / "tiny.pt", trained_on="nothing (random)")


@pytest.fixture(scope="session")
def toy_weights(tmp_path_factory) -> Path:
    """A tiny mobile TSSD trained here by `tssd train config/train/toy.yaml` (about a minute and a half on one
    core, a fixed number of iterations) to find the toy objects of tssd_ros.train.toy.

    Real weights with known behaviour, for tests that need real detections of a known object (identity
    stability, counting, grasp selection through the whole graph).
    """
    import torch

    from tssd_ros.train.config import load_run_config
    from tssd_ros.train.trainer import RunTrainer

    out = tmp_path_factory.mktemp("toy")
    n = torch.get_num_threads()
    try:
        return RunTrainer(load_run_config(REPO / "config/train/toy.yaml", {"out": str(out)}), progress=False).run()
    finally:
        torch.set_num_threads(n)


def write_stills(root: Path, n: int = 3) -> Path:
    """n small images with two boxes each, as COCO json and as YOLO txt (images/ and labels/)."""
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("holothurian\nechinus\n")
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"{i:03d}.png"), rng.integers(0, 255, (96, 128, 3), np.uint8))
        images.append({"id": i + 7, "file_name": f"images/{i:03d}.png", "width": 128, "height": 96})
        rows = []
        for j, (x, y, w, h, c) in enumerate([(10, 10, 30, 20, 1), (60, 40, 40, 40, 2)]):
            anns.append({"id": 100 + 2 * i + j, "image_id": i + 7, "category_id": c, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
            rows.append(f"{c - 1} {(x + w / 2) / 128} {(y + h / 2) / 96} {w / 128} {h / 96}")
        (root / "labels" / f"{i:03d}.txt").write_text("\n".join(rows) + "\n")
    doc = {"images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "holothurian"}, {"id": 2, "name": "echinus"}]}
    (root / "coco.json").write_text(json.dumps(doc))
    return root
