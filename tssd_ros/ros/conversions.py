"""Message <-> numpy conversion for tssd_node (no node state here, so it is testable on its own).

Images: the common encodings are viewed with numpy (bgr8 without a copy; the others with one colour
conversion), so there is no dependency on cv_bridge and no numpy-1/numpy-2 ABI trouble; cv_bridge is used
only for other encodings, when it is installed. Every malformed image raises ``InputError`` with the reason,
so the node can log it (throttled) and drop the frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from tssd_ros import imageio
from tssd_ros.errors import InputError
from tssd_ros.pipeline import FrameResult
from tssd_ros.types import (
    Detections,
    stamp_to_sec,  # noqa: F401 (part of this module's API)
)

SUPPORTED_ENCODINGS = imageio.SUPPORTED_ENCODINGS


def image_to_bgr(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 BGR. bgr8 with step == 3*width is a zero-copy view."""
    if msg.encoding not in imageio.ENCODINGS and int(msg.height) > 0 and int(msg.width) > 0:
        return _via_cv_bridge(msg)
    return imageio.raw_to_bgr(msg.height, msg.width, msg.step, msg.encoding, msg.data,
                              bool(msg.is_bigendian))


def _via_cv_bridge(msg: Image) -> np.ndarray:
    try:
        from cv_bridge import CvBridge  # optional: only for uncommon encodings
    except ImportError as e:
        raise InputError(
            f"unsupported encoding {msg.encoding!r} (supported without cv_bridge: "
            f"{', '.join(SUPPORTED_ENCODINGS)})"
        ) from e
    try:
        return CvBridge().imgmsg_to_cv2(msg, desired_encoding="bgr8")
    except Exception as e:  # noqa: BLE001 - cv_bridge raises several types
        raise InputError(f"cv_bridge could not convert {msg.encoding!r}: {e}") from e


def compressed_to_bgr(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> HxWx3 uint8 BGR."""
    return imageio.compressed_to_bgr(msg.data, msg.format)


def bgr_to_image(img: np.ndarray, header: Header, encoding: str = "bgr8", bigendian: bool = False) -> Image:
    """HxWx3 uint8 BGR -> sensor_msgs/Image in ``encoding`` (default bgr8) with the given header."""
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(bigendian)
    msg.step, msg.data = imageio.bgr_to_raw(img, encoding, bigendian)
    return msg


def result_messages(header: Header, res: FrameResult, img: np.ndarray | None = None
                    ) -> tuple[Detection2DArray, DiagnosticArray, Image | None]:
    """What tssd_node publishes for one processed frame (and what ``tssd replay --out`` records): detections
    with the published identities, the counts, and the annotated image when ``img`` (the input) is given."""
    ids = res.published_ids()
    annotated = None
    if img is not None:
        from tssd_ros.viz import draw_detections

        annotated = bgr_to_image(draw_detections(img, res.detections, ids, res.counts), header)
    return detections_to_msg(header, res.detections, ids), counts_msg(header, res.counts), annotated


def detections_to_msg(header: Header, dets: Detections, ids: Sequence[int | None] | None = None
                      ) -> Detection2DArray:
    """Detections -> vision_msgs/Detection2DArray (box centre/size in input pixels, id = identity).

    ``ids``: the identities as published (:meth:`tssd_ros.pipeline.FrameResult.published_ids`: confirmed
    identities, None otherwise); ``id`` is their decimal string, empty for None, so consumers (grasp
    selection, counting) never act on a flicker.
    """
    out = Detection2DArray()
    out.header = header
    boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    size = boxes[:, 2:] - boxes[:, :2]
    for i in range(len(dets)):
        d = Detection2D()  # fill the sub-messages it made: building new ones costs as much again
        d.header = header
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = dets.class_name(i)
        hyp.hypothesis.score = float(dets.scores[i])
        d.results.append(hyp)
        d.bbox.center.position.x, d.bbox.center.position.y = float(centre[i, 0]), float(centre[i, 1])
        d.bbox.size_x, d.bbox.size_y = float(size[i, 0]), float(size[i, 1])
        tid = None if ids is None else ids[i]
        d.id = "" if tid is None else str(int(tid))
        out.detections.append(d)
    return out


def msg_to_detections(msg: Detection2DArray, class_names: Sequence[str]) -> tuple[Detections, list[str]]:
    """Detection2DArray -> (Detections, ids); the inverse used by tests and bag tools."""
    names = list(class_names)
    boxes, scores, labels, ids = [], [], [], []
    for d in msg.detections:
        cx, cy = d.bbox.center.position.x, d.bbox.center.position.y
        boxes.append([cx - d.bbox.size_x / 2, cy - d.bbox.size_y / 2, cx + d.bbox.size_x / 2,
                      cy + d.bbox.size_y / 2])
        hyp = d.results[0].hypothesis if d.results else None
        scores.append(hyp.score if hyp else 0.0)
        name = hyp.class_id if hyp else ""
        if name not in names:
            names.append(name)
        labels.append(names.index(name))
        ids.append(d.id)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), scores, labels, None, tuple(names)), ids


def label_info_msg(class_names: Sequence[str], threshold: float, header: Header) -> LabelInfo:
    """vision_msgs/LabelInfo: class index -> name, as the detector's labels are 0-based foreground."""
    msg = LabelInfo()
    msg.header = header
    msg.threshold = float(threshold)
    for i, name in enumerate(class_names):
        vc = VisionClass()
        vc.class_id = i
        vc.class_name = name
        msg.class_map.append(vc)
    return msg


def counts_msg(header: Header, counts: Mapping[str, tuple[int, int]]) -> DiagnosticArray:
    """Per-class counts as diagnostic_msgs/DiagnosticArray (standard, stamped, readable by `ros2 topic echo`).

    One DiagnosticStatus per class (name = class name, values ``unique`` = cumulative unique individuals of
    the dive, ``in_view`` = confirmed individuals in view now) plus one named ``total``; ``message`` holds the
    same as JSON for scripts.
    """
    msg = DiagnosticArray()
    msg.header = header
    tot_u = tot_v = 0
    for name, (unique, in_view) in counts.items():
        tot_u += int(unique)
        tot_v += int(in_view)
        msg.status.append(_count_status(name, int(unique), int(in_view)))
    msg.status.append(_count_status("total", tot_u, tot_v))
    return msg


def _count_status(name: str, unique: int, in_view: int) -> DiagnosticStatus:
    st = DiagnosticStatus()
    st.level = DiagnosticStatus.OK
    st.name = name
    st.hardware_id = "tssd_ros"
    st.message = json.dumps({"unique": unique, "in_view": in_view})
    st.values = [KeyValue(key="unique", value=str(unique)), KeyValue(key="in_view", value=str(in_view))]
    return st


def counts_from_msg(msg: DiagnosticArray) -> dict[str, tuple[int, int]]:
    """Inverse of :func:`counts_msg` (without the total), for consumers and tests."""
    out: dict[str, tuple[int, int]] = {}
    for st in msg.status:
        if st.name == "total":
            continue
        vals = {kv.key: int(kv.value) for kv in st.values}
        out[st.name] = (vals.get("unique", 0), vals.get("in_view", 0))
    return out


