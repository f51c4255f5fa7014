"""Plain dataclass configuration of the detector (architecture, preprocessing, post-processing).

Why plain dataclasses: a checkpoint stores them as dicts (``dataclasses.asdict``) so that a file loaded with
``torch.load(weights_only=True)`` holds only plain containers and rebuilds the exact model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

BACKBONES = ("vgg16", "mobilenet_v1")
TEMPORALS = ("ac_lstm", "conv_lstm", "bottleneck_lstm", "none")
PRIOR_CONFIGS = ("v2", "v3", "mobile", "mobile_small")


@dataclass
class DetectorConfig:
    """Architecture of a TSSD-family detector.

    backbone: ``vgg16`` (SSD300 trunk of the reference, input fixed at 300) or ``mobilenet_v1``.
    temporal: ``ac_lstm`` (attention + ConvLSTM, the paper), ``conv_lstm``, ``bottleneck_lstm`` (Liu and Zhu)
        or ``none`` (single-frame SSD baseline).
    placement: ``lh_tu`` (low unit shared by scales 0-2, high unit by 3-5, VGG) or ``conv13`` (one unit after
        MobileNet Conv13, LSTM-SSD); ``auto`` picks by backbone.
    num_classes: including background (index 0).
    priors: ``v2`` (VID, 4/6 anchors), ``v3`` (MOT, 5 tall anchors), ``mobile`` (v2 scales on the mobile
        feature maps), ``mobile_small`` (anchors from 0.0375 of the input: 12 px at 320, for small animals);
        ``auto`` picks v2 for VGG, mobile_small for MobileNet with ``min_stride`` 8, else mobile.
    alpha: MobileNet width multiplier (alpha_ssd = 0.5 alpha, alpha_lstm = 0.25 alpha).
    dropout: on the gated feature before the recurrent cell, training only.
    lstm_activation: phi of the Bottleneck-LSTM (``relu`` as the paper, ``relu6`` as its TF code: bounded
        state over endless ROV streams).
    min_stride: MobileNet only: 16 (sources Conv11, Conv13 + 4 extras, LSTM-SSD) or 8 (block 5's stride-8
        map, Conv11, Conv13 + 3 extras): urchins of 10-20 px need the stride-8 level.
    tf_padding: MobileNet only: TensorFlow SAME padding, as the ImageNet-pretrained files were trained.
    stateless: the recurrent state is zero at every frame: the single-frame SSD of the same network (what the
        SSD stage of training produces; the baseline a TSSD is compared with).
    """

    backbone: str = "vgg16"
    temporal: str = "ac_lstm"
    num_classes: int = 31
    input_size: int = 300
    placement: str = "auto"
    priors: str = "auto"
    alpha: float = 1.0
    dropout: float = 0.2
    lstm_activation: str = "relu6"
    min_stride: int = 16
    tf_padding: bool = True
    stateless: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.alpha, (int, float)) or not 0 < self.alpha <= 4:
            raise ValueError(f"alpha must be a number in (0, 4], got {self.alpha!r}")
        if not isinstance(self.input_size, int) or not 32 <= self.input_size <= 2048:
            raise ValueError(f"input_size must be an integer in [32, 2048], got {self.input_size!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.temporal not in TEMPORALS:
            raise ValueError(f"temporal must be one of {TEMPORALS}, got {self.temporal!r}")
        if self.placement == "auto":
            self.placement = "lh_tu" if self.backbone == "vgg16" else "conv13"
        if self.priors == "auto":
            self.priors = "v2" if self.backbone == "vgg16" else ("mobile_small" if self.min_stride == 8 else "mobile")
        if self.min_stride not in (8, 16) or (self.backbone == "vgg16" and self.min_stride != 16):
            raise ValueError("min_stride must be 16, or 8 with the MobileNet backbone")
        if self.priors not in PRIOR_CONFIGS:
            raise ValueError(f"priors must be one of {PRIOR_CONFIGS}, got {self.priors!r}")
        if self.backbone == "vgg16" and (self.input_size != 300 or self.placement != "lh_tu"):
            raise ValueError("the VGG16 backbone is SSD300: input_size 300 and placement lh_tu")
        if self.backbone == "mobilenet_v1" and self.placement != "conv13":
            raise ValueError("the MobileNet backbone supports placement 'conv13' only")
        if self.num_classes < 2:
            raise ValueError("num_classes counts the background: at least 2")
        if self.lstm_activation not in ("relu", "relu6"):
            raise ValueError("lstm_activation must be 'relu' or 'relu6'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown DetectorConfig fields {sorted(unknown)}")
        return cls(**d)


@dataclass
class PreprocessConfig:
    """How a BGR uint8 frame becomes the network input (the reference: resize on uint8, minus BGR mean, RGB)."""

    input_size: int = 300
    mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0)
    std: float = 1.0
    channel_order: str = "rgb"  # order of the network's input channels

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean_bgr"] = list(d["mean_bgr"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        d = dict(d)
        d["mean_bgr"] = tuple(float(v) for v in d.get("mean_bgr", (104.0, 117.0, 123.0)))
        return cls(**d)


@dataclass
class PostprocessConfig:
    """Mutable at runtime (the ROS node changes it from parameters).

    Per foreground class independently: scores > conf_threshold, the top_k highest are NMS candidates,
    greedy NMS keeps boxes with IoU <= nms_iou; so a frame holds up to classes x top_k detections.
    class_filter: 0-based foreground labels to report (None: all).
    clip_boxes: clip output boxes to the image (off: the reference does not clip).
    cross_class_iou: after the per-class NMS, a box overlapping a higher-scoring box of *another* class by IoU
        > this is dropped (one animal, one class, one identity, one count); 1.0 = off, as the reference.
    """

    conf_threshold: float = 0.01
    nms_iou: float = 0.45
    top_k: int = 200
    class_filter: tuple[int, ...] | None = None
    clip_boxes: bool = False
    cross_class_iou: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["class_filter"] is not None:
            d["class_filter"] = list(d["class_filter"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PostprocessConfig:
        d = dict(d)
        if d.get("class_filter") is not None:
            d["class_filter"] = tuple(int(v) for v in d["class_filter"])
        return cls(**d)


def tiny_config(num_classes: int = 5, input_size: int = 128, temporal: str = "bottleneck_lstm") -> DetectorConfig:
    """A mobile TSSD cheap enough for tests of other modules (alpha 0.25, steps in a few ms on CPU)."""
    return DetectorConfig(
        backbone="mobilenet_v1", temporal=temporal, num_classes=num_classes, input_size=input_size, alpha=0.25
    )
