"""Online Tubelet Analysis (OTA): identities, per-class counting and MOT tooling (numpy only, no rclpy).

Why: identities let the ROV count individuals without double counting and keep a grasp target locked.
"""

from tssd_ros.tracking.counting import DiveCounter
from tssd_ros.tracking.ota import (
    OTAConfig,
    OTATracker,
    Track,
    assign_greedy,
    assign_hungarian,
    box_iou,
)

__all__ = [
    "DiveCounter",
    "OTAConfig",
    "OTATracker",
    "Track",
    "assign_greedy",
    "assign_hungarian",
    "box_iou",
]
