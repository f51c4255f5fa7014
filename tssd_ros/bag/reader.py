"""Reading camera frames from rosbag2 (sqlite3 or mcap) and ROS 1 bags with ``rosbags``, no ROS install.

Yields decoded BGR frames with their header stamps, so that a bag replays through the same
:class:`~tssd_ros.pipeline.Pipeline` (and the same decoding, ``tssd_ros.imageio``) as the live node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from tssd_ros import imageio
from tssd_ros.errors import InputError
from tssd_ros.types import stamp_to_sec

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class BagFrame:
    """One image of a bag: decoded pixels (None if the frame is bad), its header and the reason if bad; the
    bag's receive time, the exact header stamp and the message as ROS 2 CDR (for ``replay --out``)."""

    index: int
    stamp: float
    frame_id: str
    image: np.ndarray | None
    error: str = ""
    log_ns: int = 0
    stamp_ns: int = 0
    raw: bytes = b""


def image_topics(path: str | Path) -> dict[str, str]:
    """topic -> message type of every image topic in the bag."""

    with _open(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def _open(path: str | Path):
    from rosbags.highlevel import AnyReader

    p = Path(path)
    if not p.exists():
        raise InputError(f"bag {str(p)!r} not found")
    try:
        return AnyReader([p])
    except Exception as e:  # noqa: BLE001 - rosbags raises several types for unreadable bags
        raise InputError(f"cannot open bag {str(p)!r}: {e}") from None


def ros2_type(msgtype: str) -> str:
    """The ROS 2 name of a ROS 1 bag's type (rosbags-convert's renames, e.g. tf/tfMessage)."""
    from rosbags.convert.converter import STATIC_MSGTYPE_RENAMES

    return STATIC_MSGTYPE_RENAMES.get(msgtype, msgtype)


def ros1_to_cdr(reader, msgtypes: Iterable[str]) -> dict[str, Callable[[bytes], bytes]]:
    """ROS 1 msgtype -> (raw ROS 1 bytes -> ROS 2 CDR bytes), with rosbags' converter: a plain re-encoding when
    the wire formats agree, else a field-by-field migration (e.g. Header loses ``seq``)."""
    from rosbags.convert.converter import is_same_wireformat, migrate_bytes
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    dst = get_typestore(Stores.ROS2_JAZZY)
    cache: dict[str, object] = {}
    out: dict[str, Callable[[bytes], bytes]] = {}
    for src_type in msgtypes:
        dst_type = ros2_type(src_type)
        if dst_type not in dst.fielddefs:  # a custom type: its definition as recorded (as rosbags-convert does)
            typs = get_types_from_msg(reader.typestore.generate_msgdef(src_type, ros_version=2)[0], dst_type)
            typs.pop("std_msgs/msg/Header", None)
            dst.register(typs)
        if is_same_wireformat(reader.typestore, dst, src_type, dst_type):
            conv = partial(dst.ros1_to_cdr, typename=dst_type)
        else:
            conv = partial(migrate_bytes, reader.typestore, dst, src_type, dst_type, cache, src_is2=False,
                           dst_is2=True)
        out[src_type] = lambda raw, conv=conv: bytes(conv(raw))
    return out


def read_frames(path: str | Path, topic: str | None = None) -> tuple[int, Iterator[BagFrame]]:
    """(message count, iterator of frames) of one image topic (the only one if ``topic`` is None)."""
    reader = _open(path)
    try:
        reader.open()
    except Exception as e:  # noqa: BLE001
        raise InputError(f"cannot read bag {str(path)!r}: {e}") from None
    topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
    if topic is None:
        if len(topics) != 1:
            reader.close()
            raise InputError(f"bag has image topics {sorted(topics)}: choose one with --topic")
        topic = next(iter(topics))
    if topic not in topics:
        reader.close()
        raise InputError(f"no image topic {topic!r} in the bag (image topics: {sorted(topics)})")
    conns = [c for c in reader.connections if c.topic == topic]
    count = sum(c.msgcount for c in conns)

    to_cdr = None if reader.is2 else ros1_to_cdr(reader, {c.msgtype for c in conns})

    def frames() -> Iterator[BagFrame]:
        try:
            for i, (conn, log_ns, raw) in enumerate(reader.messages(connections=conns)):
                try:
                    msg = reader.deserialize(raw, conn.msgtype)
                except Exception as e:  # noqa: BLE001 - a corrupt message: reported, the stream goes on
                    yield BagFrame(i, log_ns * 1e-9, "", None, f"undecodable {conn.msgtype} ({type(e).__name__})",
                                   log_ns, log_ns, bytes(raw))
                    continue
                stamp = stamp_to_sec(msg.header.stamp)
                stamp_ns = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
                cdr = bytes(raw) if to_cdr is None else to_cdr[conn.msgtype](raw)
                meta = {"log_ns": log_ns, "stamp_ns": stamp_ns, "raw": cdr}
                try:
                    if conn.msgtype.endswith("CompressedImage"):
                        img = imageio.compressed_to_bgr(msg.data, msg.format)
                    else:
                        img = imageio.raw_to_bgr(msg.height, msg.width, msg.step, msg.encoding, msg.data,
                                                 bool(msg.is_bigendian))
                    yield BagFrame(i, stamp, msg.header.frame_id, img, **meta)
                except InputError as e:
                    yield BagFrame(i, stamp, msg.header.frame_id, None, str(e), **meta)
        finally:
            reader.close()

    return count, frames()
