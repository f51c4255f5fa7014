"""The one preprocessing rule (detector and trainer) against the reference's steps written out by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tssd_ros.model.config import PreprocessConfig
from tssd_ros.model.preprocess import to_blob
from tssd_ros.train.trainer import preprocess_fn


@pytest.mark.parametrize("cfg", [PreprocessConfig(input_size=300),  # the reference: BGR mean, RGB out
                                 PreprocessConfig(input_size=96, mean_bgr=(127.5,) * 3, std=127.5),  # TF MobileNet
                                 PreprocessConfig(input_size=64, mean_bgr=(10.0, 20.0, 30.0), std=2.0,
                                                  channel_order="bgr")])
def test_to_blob_is_the_reference_preprocessing(cfg):
    img = (np.random.default_rng(1).random((120, 200, 3)) * 255).astype(np.uint8)
    ref = (cv2.resize(img, (cfg.input_size, cfg.input_size)).astype(np.float32) - np.float32(cfg.mean_bgr)) / cfg.std
    if cfg.channel_order == "rgb":
        ref = ref[..., ::-1]
    ref = ref.transpose(2, 0, 1)
    got = to_blob(img, cfg)
    assert got.shape == (1, 3, cfg.input_size, cfg.input_size) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], ref, atol=1e-5)
    np.testing.assert_array_equal(preprocess_fn(cfg)(img), got[0])  # the trainer feeds the same numbers
    two = to_blob([img, img[::-1]], cfg)
    np.testing.assert_array_equal(two[0], got[0])
