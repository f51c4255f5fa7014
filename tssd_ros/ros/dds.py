"""The shipped Fast DDS profile (``config/fastdds.xml``) for camera-sized messages.

Why: with Fast DDS defaults a message over the 512 KB shared-memory segment is sent as UDP fragments and
best-effort readers lose most raw frames (measured on loopback: 12 of 20 640x480 bgr8 frames arrived, 0 of
20 at 1920x1080; with the profile 20 of 20 at both). The writer's segment is the one that counts, so the
camera driver needs the profile as much as the node does. Our processes use it unless the user has chosen a
profile of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

from tssd_ros.paths import share_dir

PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"


def shipped_profile() -> Path:
    """config/fastdds.xml of the installed package (or the source tree)."""
    return share_dir() / "config" / "fastdds.xml"


def use_shipped_profile() -> str | None:
    """Point Fast DDS at the shipped profile when no profile is set and Fast DDS is the middleware; call
    before ``rclpy.init``. Returns the profile in use (None: another middleware, or the file is missing)."""
    if os.environ.get(PROFILE_ENV):
        return os.environ[PROFILE_ENV]
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") not in ("rmw_fastrtps_cpp",
                                                                           "rmw_fastrtps_dynamic_cpp"):
        return None
    path = shipped_profile()
    if not path.is_file():
        return None
    os.environ[PROFILE_ENV] = str(path)
    return str(path)
