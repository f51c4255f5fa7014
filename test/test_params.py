"""One parameter table: config/tssd.yaml, the node's declared defaults, OTAConfig and the CLIs agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tssd_ros import params as P
from tssd_ros.errors import InputError
from tssd_ros.pipeline import Pipeline
from tssd_ros.tracking.ota import OTAConfig

YAML = Path(__file__).resolve().parents[1] / "config" / "tssd.yaml"


def test_yaml_and_otaconfig_match_the_table():
    section = P.ros_params_section(yaml.safe_load(YAML.read_text()), YAML)
    table = P.defaults()
    assert set(section) <= set(table), f"unknown keys in the YAML: {set(section) - set(table)}"
    for k, v in section.items():
        assert P.check(k, v) == table[k], f"config/tssd.yaml {k}={v!r} but the default is {table[k]!r}"
    # the YAML documents every parameter (the thresholds, which default to the checkpoint's, as comments)
    text = YAML.read_text()
    assert all(f"{p.name}:" in text for p in P.PARAMS)
    ota = OTAConfig(**P.ota_changes_from_params(table))
    assert ota == OTAConfig(), "the table's OTA defaults are OTAConfig's"


def test_load_params_checks_ranges_and_namespaces(tmp_path):
    assert P.load_params(None) == P.defaults()
    f = tmp_path / "p.yaml"
    f.write_text("/**:\n  ros__parameters:\n    ota_G: 0.5\n    min_hits: 3\n")
    p = P.load_params(f, min_hits=None, ota_mode="iou")
    assert (p["ota_G"], p["min_hits"], p["ota_mode"]) == (0.5, 3, "iou")
    for name, bad, msg in (("conf_threshold", 7, r"\[0, 1\]"), ("nms_iou", -1, r"\[0, 1\]"), ("top_k", 0, "1, 5000"),
                           ("threads", -3, "0, 256"), ("ota_mode", "kalman", "one of attention"),
                           ("min_hits", 2.5, "an integer"), ("fp16", "yes", "true or false")):
        with pytest.raises(InputError, match=msg):
            P.check(name, bad)
    with pytest.raises(InputError, match="unknown parameter 'bogus'"):
        P.load_params({"bogus": 1})
    f.write_text("camera:\n  ros__parameters: {}\n")
    with pytest.raises(InputError, match="no '/\\*\\*: ros__parameters:'"):
        P.load_params(f)


def test_pipeline_from_params_is_the_nodes_pipeline(tiny_weights):
    pipe = Pipeline.from_params(YAML, weights=str(tiny_weights), class_filter=["scallop"], conf_threshold=0.2)
    assert pipe.ota_config == OTAConfig()
    assert pipe.conf_threshold == pytest.approx(0.2)  # published; the detector runs down to track_threshold
    assert pipe.detector.postprocess.conf_threshold == pytest.approx(P.defaults()["track_threshold"])
    assert pipe.detector.postprocess.class_filter == (pipe.detector.class_names.index("scallop"),)
    assert pipe.config.max_gap_s == P.defaults()["max_gap_s"]
    with pytest.raises(InputError, match="unknown class"):
        Pipeline.from_params(YAML, weights=str(tiny_weights), class_filter=["shark"])


def test_node_declares_the_table(tiny_weights):
    import rclpy
    from rclpy.parameter import Parameter

    from tssd_ros.ros.tssd_node import TssdNode

    rclpy.init()
    try:
        node = TssdNode(parameter_overrides=[Parameter("weights", value=str(tiny_weights))])
        try:
            table = P.defaults()
            for prm in P.PARAMS:
                got = node.get_parameter(prm.name).value
                if prm.name == "conf_threshold":  # the checkpoint's, published; the detector runs lower
                    assert got == pytest.approx(node.pipeline.conf_threshold) == 0.3
                    assert node.detector.postprocess.conf_threshold == pytest.approx(table["track_threshold"])
                elif prm.default is None:  # the checkpoint's own threshold, shown once the weights are loaded
                    assert got == pytest.approx(getattr(node.detector.postprocess, prm.name))
                elif prm.name != "weights":
                    assert got == table[prm.name], prm.name
                assert node.describe_parameter(prm.name).read_only == prm.read_only
        finally:
            node.shutdown()
            node.destroy_node()
    finally:
        rclpy.shutdown()
