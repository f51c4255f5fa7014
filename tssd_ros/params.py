"""The pipeline's parameters: one table (name, default, range, meaning) for the node, the YAML and every CLI.

Why one table: ``tssd_node`` declares its ROS parameters from it (with descriptors and ranges), the offline
tools read ``config/tssd.yaml`` through :func:`load_params` and check their options with :func:`check`, and
the tracker's defaults come from :class:`~tssd_ros.tracking.ota.OTAConfig` itself; so a replay, an eval and the
live node cannot disagree about a default or a range. No rclpy here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tssd_ros.errors import InputError
from tssd_ros.tracking.ota import ASSIGNMENTS, OTA_MODES, OTAConfig

NODE_NAME = "tssd_node"
RELIABILITIES = ("best_effort", "reliable")
BACKENDS = ("auto", "torch", "onnxruntime")  # tssd_ros.model.engine
_OTA = OTAConfig()


@dataclass(frozen=True)
class Param:
    """One parameter. default None: the checkpoint's own value (thresholds). read_only: set at start only."""

    name: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    integer: bool = False

    def check(self, value: Any) -> Any:
        """``value`` converted to the parameter's type, or a one-line InputError saying what is allowed."""
        if value is None and self.default is None:
            return None
        try:
            if isinstance(self.default, bool):
                if not isinstance(value, bool):
                    raise TypeError
                v: Any = value
            elif self.integer:
                if isinstance(value, bool) or float(value) != int(value):
                    raise TypeError
                v = int(value)
            elif self.lo is not None or isinstance(self.default, float):
                if isinstance(value, bool):
                    raise TypeError
                v = float(value)
            elif isinstance(self.default, list):
                v = [str(x) for x in (value or [])]
            else:
                v = str(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.name}: expected {self._kind()}, got {value!r}") from None
        if self.lo is not None and self.hi is not None and not self.lo <= v <= self.hi:
            raise InputError(f"{self.name} must be in [{self.lo:g}, {self.hi:g}], got {v}")
        if self.choices is not None and v not in self.choices:
            allowed = ", ".join(c or "''" for c in self.choices)
            raise InputError(f"{self.name} must be one of {allowed}, got {v!r}")
        return v

    def _kind(self) -> str:
        if isinstance(self.default, bool):
            return "true or false"
        if self.integer:
            return "an integer"
        if self.lo is not None or isinstance(self.default, float):
            return "a number"
        return "a list of strings" if isinstance(self.default, list) else "a string"


def _int(name: str, default: int | None, doc: str, lo: int, hi: int, **kw: Any) -> Param:
    return Param(name, default, doc, lo, hi, integer=True, **kw)


PARAMS: tuple[Param, ...] = (
    Param("weights", "weights/tssd_mobile_underwater.pt", "detector weights (.pt, project or reference format); "
          "relative paths resolve against the package's share directory", read_only=True),
    Param("classes_preset", "", "class names for reference checkpoints", choices=("", "vid", "mot", "underwater"),
          read_only=True),
    Param("device", "cpu", "torch device: cpu, cuda, cuda:N", read_only=True),
    _int("threads", 0, "CPU threads for inference, torch or ONNX Runtime (0 = torch's default)", 0, 256,
         read_only=True),
    Param("fp16", False, "half precision (CUDA only)", read_only=True),
    Param("backend", "auto", "inference engine: auto (ONNX Runtime on the CPU when installed, else torch) | "
          "torch | onnxruntime (CPU, float32)", choices=BACKENDS, read_only=True),
    Param("conf_threshold", None, "per-class confidence threshold (default: the checkpoint's)", 0.0, 1.0),
    Param("track_threshold", 0.15, "boxes scoring above this but not above conf_threshold only extend confirmed "
          "identities and are published only then (ByteTrack's low-score boxes); >= conf_threshold: off", 0.0, 1.0),
    Param("nms_iou", None, "NMS IoU threshold, keep IoU <= this (default: the checkpoint's)", 0.0, 1.0),
    _int("top_k", None, "NMS candidates and kept boxes per class (default: the checkpoint's)", 1, 5000),
    Param("cross_class_iou", 1.0, "drop a box overlapping a higher-scoring box of another class by IoU > this "
          "(one animal, one class); 1.0 = off", 0.0, 1.0),
    Param("class_filter", [""], "class names to report; [''] or [] = all"),
    Param("ota_mode", _OTA.mode, "OTA similarity: attention (the paper) | iou | motion", choices=OTA_MODES),
    Param("ota_T", -1.0 if _OTA.T is None else _OTA.T, "OTA match threshold T (S > T); -1 = the mode's default",
          -1.0, 10.0),
    Param("ota_G", _OTA.G, "score above which an unmatched detection starts a tubelet", 0.0, 1.0),
    _int("ota_tub_len", _OTA.tub_len, "rows kept per tubelet", 1, 100),
    _int("ota_max_age_frames", _OTA.max_age_frames or 0, "frames a tubelet lives without a match (0 = the mode's: "
         "10 in attention and iou, 30 in motion)", 0, 10000),
    Param("ota_max_age_s", _OTA.max_age_s or 0.0, "seconds a tubelet lives without a match (0 = off)", 0.0, 3600.0),
    Param("ota_assignment", _OTA.assignment, "greedy (the paper) | hungarian", choices=ASSIGNMENTS),
    Param("ota_low_score", _OTA.low_score, "motion mode: normalised score above which a detection can extend a "
          "track (ByteTrack's second stage; only above ota_G does one start a track)", 0.0, 1.0),
    Param("ota_score_scale", _OTA.score_scale, "scores are divided by this before ota_G / ota_low_score apply "
          "(0 = read from the stream: the 20th largest score seen since the last reset, at least 1)", 0.0, 1e6),
    Param("ota_app_gate", _OTA.app_gate, "motion mode: attention cosine below which a detection never matches a "
          "tubelet", -1.0, 1.0),
    Param("ota_reid_max_age_s", _OTA.reid_max_age_s, "motion mode: seconds a lost tubelet can take its identity "
          "back (0 = no re-identification)", 0.0, 3600.0),
    Param("ota_reid_cos", _OTA.reid_cos, "motion mode: attention cosine needed to re-identify a lost tubelet",
          -1.0, 1.0),
    Param("ota_cmc", _OTA.cmc, "motion mode: compensate camera motion (measured on the image)"),
    Param("ota_birth_cover", _OTA.birth_cover, "motion mode: a box inside a box of its class that took an identity "
          "this frame by more than this fraction of its area starts no tubelet (1 = off)", 0.0, 1.0),
    Param("ota_cross_class_cover", _OTA.cross_class_cover, "motion mode: the same rule for a box inside a box of "
          "another class (one animal boxed as two classes; 1 = off)", 0.0, 1.0),
    Param("ota_cross_class_match", _OTA.cross_class_match, "motion mode: IoU with a tubelet's prediction above "
          "which a detection of another class may continue it (its own class first; the tubelet's class is the "
          "vote of its detections; 1 = off)", 0.0, 1.0),
    _int("min_hits", _OTA.min_hits, "matches before an identity is confirmed and published", 1, 1000),
    _int("count_min_hits", 5, "matches before an identity is counted (below min_hits: min_hits)", 0, 1000),
    Param("max_gap_s", 1.0, "a larger gap between frame stamps resets the temporal state", 0.0, 3600.0),
    Param("counts_file", "", "JSON file the dive's counts are saved to and restored from ('' = off)",
          read_only=True),
    Param("counts_save_period_s", 5.0, "how often counts are saved", 0.1, 3600.0, read_only=True),
    Param("compressed", False, "subscribe to image/compressed instead of image", read_only=True),
    Param("reliability", "best_effort", "input reliability", choices=RELIABILITIES, read_only=True),
    Param("publish_annotated", True, "draw image_annotated (only while it has subscribers)"),
)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}

# node parameter -> OTAConfig field
OTA_PARAMS = {"ota_mode": "mode", "ota_T": "T", "ota_G": "G", "ota_tub_len": "tub_len",
              "ota_max_age_frames": "max_age_frames", "ota_max_age_s": "max_age_s",
              "ota_assignment": "assignment", "min_hits": "min_hits", "ota_low_score": "low_score",
              "ota_score_scale": "score_scale", "ota_app_gate": "app_gate", "ota_reid_max_age_s": "reid_max_age_s",
              "ota_reid_cos": "reid_cos", "ota_cmc": "cmc", "ota_birth_cover": "birth_cover",
              "ota_cross_class_cover": "cross_class_cover",
              "ota_cross_class_match": "cross_class_match"}
POSTPROCESS_PARAMS = ("conf_threshold", "nms_iou", "top_k", "cross_class_iou", "class_filter")


def check(name: str, value: Any) -> Any:
    """Validate one parameter (the node's ranges, for CLI options too)."""
    if name not in BY_NAME:
        raise InputError(f"unknown parameter {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name].check(value)


def defaults() -> dict[str, Any]:
    return {p.name: (list(p.default) if isinstance(p.default, list) else p.default) for p in PARAMS}


def ota_changes_from_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """OTAConfig keyword arguments from node parameters (``ota_T`` < 0, ``ota_max_age_frames`` and
    ``ota_max_age_s`` <= 0 mean unset)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in OTA_PARAMS:
            continue
        if name == "ota_T":
            value = None if value < 0 else float(value)
        elif name == "ota_max_age_s":
            value = None if value <= 0 else float(value)
        elif name == "ota_max_age_frames":
            value = None if value <= 0 else int(value)
        out[OTA_PARAMS[name]] = value
    return out


def string_list(value: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """A ROS string-array parameter's names: ``[""]`` is the typed empty list (rcl reads a YAML ``[]`` as
    unset, leaving the parameter uninitialised), so empty strings are dropped and ``[""]`` means none."""
    return tuple(n for n in (value or ()) if n)


def class_filter_indices(names: list[str] | tuple[str, ...] | None, class_names: tuple[str, ...]
                         ) -> tuple[int, ...] | None:
    """``class_filter`` names -> detector label indices (None: report every class); unknown names are an error."""
    wanted = string_list(names)
    if not wanted:
        return None
    unknown = [n for n in wanted if n not in class_names]
    if unknown:
        raise InputError(f"class_filter: unknown class(es) {unknown}; known: {list(class_names)}")
    return tuple(class_names.index(n) for n in wanted)


def ros_params_section(doc: Any, path: Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` (or of ``/**``, which applies in any namespace) in a parsed
    ROS parameter file."""
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a ROS parameter file (expected '/**: ros__parameters: ...')")
    for key, val in doc.items():
        if str(key).strip("/").split("/")[-1] in (node_name, "**") and isinstance(val, dict):
            sec = val.get("ros__parameters")
            if isinstance(sec, dict):
                return dict(sec)
    raise InputError(f"{path}: no '/**: ros__parameters:' (or '{node_name}:') section")


def read_ros_params(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` (or ``/**``) in a ROS params YAML file, unchecked."""
    from tssd_ros.paths import read_yaml

    return ros_params_section(read_yaml(path, "params file"), Path(path), node_name)


def load_params(source: str | Path | Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Every parameter: the defaults, then a ROS params YAML (or a dict), then ``overrides`` (None = keep);
    each value checked. The result is what the node would run with."""
    values = defaults()
    given: dict[str, Any] = {}
    if isinstance(source, Mapping):
        given = dict(source)
    elif source is not None:
        given = read_ros_params(source)
    given.update({k: v for k, v in overrides.items() if v is not None})
    for name, value in given.items():
        values[name] = check(name, value)
    return values
