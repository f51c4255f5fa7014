"""``tssd replay --out OUT_BAG``: record what the live nodes would publish for a replayed bag.

Why: a ROS user replaying a bag for an offline test expects a bag back, openable in Foxglove, RViz tools or
any rosbag2 reader. The messages are built by the same functions the nodes publish with
(``conversions.result_messages``, ``grasp_messages``) and serialised by rclpy, so the recorded bytes are the
node's; each output carries its input frame's header and the input's receive time, so two runs write
identical messages.

Topics (the nodes' names at the root namespace): ``/detections``, ``/counts``, ``/label_info`` (once, at
the first frame), ``/grasp_target``, ``/grasp_target/point`` (pixels: a bag replay has no calibration),
``/grasp_status``, optionally ``/image_annotated`` and the input images on their own topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from tssd_ros.bag.message_bag import MessageBagWriter
from tssd_ros.bag.reader import BagFrame
from tssd_ros.grasp.selector import GraspSelector
from tssd_ros.pipeline import FrameResult
from tssd_ros.ros.conversions import label_info_msg, result_messages
from tssd_ros.ros.grasp_messages import candidates, grasp_messages, selector_config


def _type_name(msg: Any) -> str:
    mod = type(msg).__module__.split(".")[0]
    return f"{mod}/msg/{type(msg).__name__}"


class ReplayBagOut:
    """Context manager; ``frame(fr, res)`` records one processed input frame's outputs."""

    def __init__(self, path: str | Path, class_names: tuple[str, ...], threshold: float,
                 grasp_params: Mapping[str, Any], storage: str = "mcap", annotated: bool = False,
                 images: tuple[str, str] | None = None) -> None:
        """``images``: (topic, msgtype) of the input frames to copy into the output (CDR as recorded)."""
        self.writer = MessageBagWriter(path, storage)
        self.class_names = class_names
        self.threshold = threshold
        self.selector = GraspSelector(selector_config(grasp_params))
        self.annotated = annotated
        self.images = images
        self.grasp_states: dict[str, int] = {}
        self._label_info_done = False

    def __enter__(self) -> ReplayBagOut:
        self.writer.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.__exit__(*exc)

    def _put(self, topic: str, msg: Any, log_ns: int) -> None:
        self.writer.write(topic, _type_name(msg), serialize_message(msg), log_ns)

    def frame(self, fr: BagFrame, res: FrameResult) -> None:
        header = Header(stamp=Time(sec=fr.stamp_ns // 1_000_000_000, nanosec=fr.stamp_ns % 1_000_000_000),
                        frame_id=fr.frame_id)
        t = fr.log_ns
        if not self._label_info_done:
            self._put("/label_info", label_info_msg(self.class_names, self.threshold, header), t)
            self._label_info_done = True
        if self.images is not None and fr.raw:
            self.writer.write(self.images[0], self.images[1], fr.raw, t)
        dets, counts, annotated = result_messages(header, res, fr.image if self.annotated else None)
        self._put("/detections", dets, t)
        self._put("/counts", counts, t)
        if annotated is not None:
            self._put("/image_annotated", annotated, t)
        out = self.selector.update(fr.stamp, candidates(dets))
        grasp = grasp_messages(dets, out, fr.stamp)
        if grasp.target is not None:
            self._put("/grasp_target", grasp.target, t)
        if grasp.point is not None:
            self._put("/grasp_target/point", grasp.point, t)
        self._put("/grasp_status", grasp.status, t)
        self.grasp_states[out.state] = self.grasp_states.get(out.state, 0) + 1
