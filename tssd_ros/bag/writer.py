"""Write camera frames into a real rosbag2 (sqlite3 or mcap) with rosbags, no ROS install needed.

Why: the ROS node and the bag replay are exercised on the same synthetic dives as the offline tools,
and users can ``ros2 bag play`` them. Raw frames go out as sensor_msgs/msg/Image (bgr8) on
/camera/image_raw, JPEG as sensor_msgs/msg/CompressedImage on /camera/image_raw/compressed
(format "bgr8; jpeg compressed bgr8", as compressed_image_transport writes it).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from tssd_ros.errors import InputError

RAW_TOPIC = "/camera/image_raw"
COMPRESSED_TOPIC = "/camera/image_raw/compressed"
FRAME_ID = "camera_optical_frame"
# a fixed, plausible wall-clock origin so that bags are byte-for-byte reproducible for a seed
DEFAULT_START_NS = 1_700_000_000_000_000_000


class ImageBagWriter:
    """Context manager: ``write(stamp_s, bgr_or_jpeg)`` appends one frame.

    stamp_s: capture time in seconds since the start of the dive (header stamp = start + stamp);
    the bag's receive time is the stamp plus a small transport latency, so it always increases.
    """

    def __init__(self, path: str | Path, compressed: bool = False, storage: str = "sqlite3",
                 topic: str | None = None, frame_id: str = FRAME_ID, start_ns: int = DEFAULT_START_NS,
                 jpeg_quality: int = 92) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"{self.path} already exists: rosbag2 needs a new directory")
        plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
        if storage not in plugins:
            raise InputError(f"unknown bag storage '{storage}': use sqlite3 or mcap")
        self.compressed = compressed
        self.topic = topic or (COMPRESSED_TOPIC if compressed else RAW_TOPIC)
        self.frame_id = frame_id
        self.start_ns = int(start_ns)
        self.jpeg_quality = jpeg_quality
        self.ts = get_typestore(Stores.ROS2_JAZZY)
        self.msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._conn = None
        self._last_log = -1
        self.count = 0

    def __enter__(self) -> ImageBagWriter:
        self._writer.open()
        self._conn = self._writer.add_connection(self.topic, self.msgtype, typestore=self.ts)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._writer.close()

    def write(self, stamp_s: float, image: np.ndarray | bytes, latency_ns: int = 4_000_000) -> None:
        """Append one frame: a BGR uint8 image, or (compressed only) already encoded JPEG bytes."""
        t = self.ts.types
        ns = self.start_ns + int(round(stamp_s * 1e9))
        header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000,
                                                                                  nanosec=ns % 1_000_000_000),
                                          frame_id=self.frame_id)
        if self.compressed:
            if isinstance(image, (bytes, bytearray, memoryview)):
                data = np.frombuffer(bytes(image), np.uint8)
            else:
                ok, enc = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:
                    raise InputError("JPEG encoding failed")
                data = enc.reshape(-1)
            msg = t["sensor_msgs/msg/CompressedImage"](header=header, format="bgr8; jpeg compressed bgr8",
                                                        data=data)
        else:
            img = np.ascontiguousarray(image, dtype=np.uint8)
            if img.ndim != 3 or img.shape[2] != 3:
                raise InputError(f"expected an HxWx3 BGR image, got shape {img.shape}")
            h, w = img.shape[:2]
            msg = t["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="bgr8", is_bigendian=0,
                                             step=w * 3, data=img.reshape(-1))
        log = max(ns + latency_ns, self._last_log + 1)
        self._last_log = log
        self._writer.write(self._conn, log, self.ts.serialize_cdr(msg, self.msgtype))
        self.count += 1
