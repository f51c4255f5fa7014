"""A rosbag2 of any ROS 2 messages (mcap by default, sqlite3 on request), their definitions embedded.

Why: ``tssd replay --out`` and the demo's recorder write the node's outputs (vision_msgs included) so that
any reader opens them: Foxglove, ``ros2 bag``, rosbags, mcap tools, with no tssd_ros or vision_msgs install.
Messages come in already CDR-serialised (by rclpy, exactly as published); the typestore only supplies the
definitions and type hashes embedded per topic. vision_msgs' definitions are read from its installed
``share/vision_msgs/msg`` (built by ``make env`` or a ROS install).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from tssd_ros.errors import InputError

STORAGES = ("mcap", "sqlite3")


def _msg_dirs(package: str) -> list[Path]:
    roots = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    roots.append(Path(sys.prefix))
    return [r / "share" / package / "msg" for r in roots if (r / "share" / package / "msg").is_dir()]


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The Jazzy typestore plus vision_msgs (from its .msg files)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    dirs = _msg_dirs("vision_msgs")
    if dirs:
        types: dict[str, Any] = {}
        for f in sorted(dirs[0].glob("*.msg")):
            types.update(get_types_from_msg(f.read_text(), f"vision_msgs/msg/{f.stem}"))
        ts.register(types)
    return ts


class MessageBagWriter:
    """Context manager: ``write(topic, msgtype, cdr_bytes, time_ns)``; a topic's connection (with its embedded
    definition) is added on its first message."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if storage not in STORAGES:
            raise InputError(f"unknown bag storage {storage!r}: use mcap or sqlite3")
        if self.path.exists():
            raise InputError(f"{self.path} already exists: choose a new folder for the output bag")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._conns: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> MessageBagWriter:
        try:
            self._writer.open()
        except Exception as e:  # noqa: BLE001 - rosbags raises several types (folder, permissions)
            raise InputError(f"cannot write bag {self.path}: {e}") from None
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._writer.close()

    def write(self, topic: str, msgtype: str, data: bytes, time_ns: int) -> None:
        conn = self._conns.get(topic)
        if conn is None:
            ts = typestore()
            if msgtype not in ts.types:
                raise InputError(f"no definition of {msgtype} for the bag (is its package built? `make env`)")
            conn = self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=ts)
        self._writer.write(conn, int(time_ns), bytes(data))
        self.counts[topic] = self.counts.get(topic, 0) + 1
