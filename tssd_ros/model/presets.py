"""Class-name presets and the reference's evaluation thresholds per preset."""

from __future__ import annotations

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.model.config import PostprocessConfig

# ImageNet VID, in the devkit's class-index order (1..30; background is 0).
VID_CLASSES = (
    "airplane", "antelope", "bear", "bicycle", "bird", "bus", "car", "cattle", "dog", "domestic_cat",
    "elephant", "fox", "giant_panda", "hamster", "horse", "lion", "lizard", "monkey", "motorcycle", "rabbit",
    "red_panda", "sheep", "snake", "squirrel", "tiger", "train", "turtle", "watercraft", "whale", "zebra",
)
MOT_CLASSES = ("pedestrian",)

CLASS_PRESETS: dict[str, tuple[str, ...]] = {
    "vid": VID_CLASSES,
    "mot": MOT_CLASSES,
    "underwater": UNDERWATER_CLASSES,
}

POSTPROCESS_PRESETS: dict[str, PostprocessConfig] = {
    "vid": PostprocessConfig(conf_threshold=0.01, nms_iou=0.45, top_k=200),
    "mot": PostprocessConfig(conf_threshold=0.3, nms_iou=0.3, top_k=400),
    "underwater": PostprocessConfig(conf_threshold=0.4, nms_iou=0.3, top_k=400),
}


def preset_for_count(n_foreground: int) -> str | None:
    """The preset whose class count matches (None if none does)."""
    for name, names in CLASS_PRESETS.items():
        if len(names) == n_foreground:
            return name
    return None
