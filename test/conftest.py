"""Test-wide settings: DDS on loopback with a per-run domain, and helpers for real-rclpy tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before anything imports rclpy: keep discovery and traffic on loopback, and give this run its own
# domain so parallel runs on one machine never meet. `make test` sets both; this covers plain pytest.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.pop("ROS_LOCALHOST_ONLY", None)

sys.path.insert(0, str(Path(__file__).parent))  # for `import rosutil`


import pytest  # noqa: E402

UNDERWATER = ("seaurchin", "scallop", "seacucumber")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny randomly initialised mobile TSSD (project format) with the underwater classes.

    Random weights give random detections; tests that need a known object use `scripted_weights`.
    """
    from tssd_ros.model.checkpoint import build_detector, save_checkpoint
    from tssd_ros.model.config import PostprocessConfig, tiny_config

    det = build_detector(tiny_config(num_classes=4, input_size=128), UNDERWATER,
                         postprocess=PostprocessConfig(conf_threshold=0.3, nms_iou=0.3, top_k=50))
    return save_checkpoint(det, tmp_path_factory.mktemp("weights") / "tiny.pt", trained_on="nothing (random)")


@pytest.fixture(scope="session")
def toy_weights(tmp_path_factory) -> Path:
    """A tiny mobile TSSD trained here, in about a minute, to find the toy objects of tssd_ros.train.toy.

    Real weights with known behaviour, for tests that need real detections of a known object (identity
    stability, counting, grasp selection through the whole graph).
    """
    from tssd_ros.train.toy import train_toy_detector

    return train_toy_detector(tmp_path_factory.mktemp("toy") / "toy.pt", seed=0)
