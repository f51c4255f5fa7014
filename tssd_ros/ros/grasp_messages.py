"""Detections message -> grasp selector -> grasp_target, grasp_target/point and grasp_status messages.

One copy of the message side of grasp selection: ``grasp_selector_node`` publishes these messages live and
``tssd replay --out`` records the same ones from the replayed detections, so a bag replay shows the target
the manipulator would have been given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from geometry_msgs.msg import PointStamped
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2D, Detection2DArray

from tssd_ros.grasp.selector import Candidate, SelectorConfig, SelectorOutput
from tssd_ros.params import string_list

Ray = Callable[[float, float], "tuple[float, float, float] | None"]


def selector_config(values: Mapping[str, Any], principal_point: tuple[float, float] | None = None
                    ) -> SelectorConfig:
    """SelectorConfig from grasp_selector parameters (config/grasp_selector.yaml names); the image centre is
    the principal point when known, else the centre of image_width x image_height (0 = unknown)."""
    w, h = int(values.get("image_width", 0)), int(values.get("image_height", 0))
    centre = principal_point or ((w / 2.0, h / 2.0) if w > 0 and h > 0 else None)
    d = SelectorConfig()
    return SelectorConfig(
        policy=str(values.get("policy", d.policy)),
        target_classes=string_list(values.get("target_classes")),
        min_track_age=int(values.get("min_track_age", d.min_track_age)),
        lost_timeout_s=float(values.get("lost_timeout_s", d.lost_timeout_s)),
        stable_px=float(values.get("stable_px", d.stable_px)),
        stable_frames=int(values.get("stable_frames", d.stable_frames)),
        image_center=centre,
    )


def candidates(msg: Detection2DArray) -> list[Candidate]:
    """Detection2D -> Candidate, using each detection's highest-scoring hypothesis (tssd_node sends one)."""
    out = []
    for index, det in enumerate(msg.detections):
        best = max(det.results, key=lambda r: r.hypothesis.score, default=None)
        out.append(Candidate(
            target_id=det.id.strip(),
            class_name=best.hypothesis.class_id if best is not None else "",
            score=float(best.hypothesis.score) if best is not None else 0.0,
            cx=float(det.bbox.center.position.x),
            cy=float(det.bbox.center.position.y),
            width=float(det.bbox.size_x),
            height=float(det.bbox.size_y),
            index=index,
        ))
    return out


@dataclass
class GraspMessages:
    """The messages for one detections message: target and point only while the locked identity is in it."""

    target: Detection2D | None
    point: PointStamped | None
    status: String


def grasp_messages(msg: Detection2DArray, out: SelectorOutput, stamp: float, ray: Ray | None = None,
                   camera_frame: str = "", rays_available: bool = False) -> GraspMessages:
    """Messages for ``out`` (the selector's answer to ``msg``). ``ray(u, v)``: the unit ray through a pixel
    (None: pixel coordinates are published); ``rays_available``: a calibration is known (status "point")."""
    target = point = None
    point_kind = "ray" if rays_available else "pixel"
    if out.target is not None:
        target = msg.detections[out.target.index]
        target.header = msg.header
        point = PointStamped(header=Header(stamp=msg.header.stamp, frame_id=msg.header.frame_id))
        u, v = out.target.cx, out.target.cy
        r = ray(u, v) if ray is not None else None
        if r is not None:
            point_kind = "ray"
            point.point.x, point.point.y, point.point.z = r
            if not point.header.frame_id:
                point.header.frame_id = camera_frame
        else:
            point_kind = "pixel"
            point.point.x, point.point.y, point.point.z = u, v, 0.0
    status = out.status() | {"point": point_kind, "stamp": round(stamp, 6)}
    return GraspMessages(target, point, String(data=json.dumps(status, separators=(",", ":"))))
