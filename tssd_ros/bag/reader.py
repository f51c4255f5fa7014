"""Reading camera frames from rosbag2 (sqlite3 or mcap) and ROS 1 bags with ``rosbags``, no ROS install.

Yields decoded BGR frames with their header stamps, so that a bag replays through the same
:class:`~tssd_ros.pipeline.Pipeline` (and the same decoding, ``tssd_ros.imageio``) as the live node.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tssd_ros import imageio
from tssd_ros.errors import InputError
from tssd_ros.types import stamp_to_sec

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class BagFrame:
    """One image of a bag: decoded pixels (None if the frame is bad), its header and the reason if bad."""

    index: int
    stamp: float
    frame_id: str
    image: np.ndarray | None
    error: str = ""


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

    def frames() -> Iterator[BagFrame]:
        try:
            for i, (conn, _t, raw) in enumerate(reader.messages(connections=conns)):
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = stamp_to_sec(msg.header.stamp)
                try:
                    if conn.msgtype.endswith("CompressedImage"):
                        img = imageio.compressed_to_bgr(msg.data, msg.format)
                    else:
                        img = imageio.raw_to_bgr(msg.height, msg.width, msg.step, msg.encoding, msg.data)
                    yield BagFrame(i, stamp, msg.header.frame_id, img)
                except InputError as e:
                    yield BagFrame(i, stamp, msg.header.frame_id, None, str(e))
        finally:
            reader.close()

    return count, frames()
