"""Decoding camera images (raw sensor_msgs/Image fields or compressed bytes) into BGR numpy arrays.

Pure numpy/cv2, no ROS imports: tssd_node (rclpy messages) and the bag replay (rosbags messages) decode
the same bytes the same way. The common 8- and 16-bit encodings are viewed with numpy (bgr8 without a copy);
every malformed image raises ``InputError`` with the reason.
"""

from __future__ import annotations

import cv2
import numpy as np

from tssd_ros.errors import InputError

# encoding -> (channels, cv2 conversion to BGR or None for a plain view, bytes per channel)
ENCODINGS: dict[str, tuple[int, int | None, int]] = {
    "bgr8": (3, None, 1),
    "rgb8": (3, cv2.COLOR_RGB2BGR, 1),
    "mono8": (1, cv2.COLOR_GRAY2BGR, 1),
    "bgra8": (4, cv2.COLOR_BGRA2BGR, 1),
    "rgba8": (4, cv2.COLOR_RGBA2BGR, 1),
    # 16-bit cameras: the high byte of each channel (as cv_bridge's 16->8 bit conversion scales)
    "bgr16": (3, None, 2),
    "rgb16": (3, cv2.COLOR_RGB2BGR, 2),
    "mono16": (1, cv2.COLOR_GRAY2BGR, 2),
    "bgra16": (4, cv2.COLOR_BGRA2BGR, 2),
    "rgba16": (4, cv2.COLOR_RGBA2BGR, 2),
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)


def raw_to_bgr(height: int, width: int, step: int, encoding: str, data, bigendian: bool = False) -> np.ndarray:
    """The fields of a sensor_msgs/Image -> HxWx3 uint8 BGR (bgr8 with step == 3*width: a view)."""
    h, w, step = int(height), int(width), int(step)
    if h <= 0 or w <= 0:
        raise InputError(f"empty image ({w}x{h})")
    if encoding not in ENCODINGS:
        raise InputError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    ch, code, depth = ENCODINGS[encoding]
    row = w * ch * depth
    if step < row:
        raise InputError(f"step {step} < width {w} x {ch} channels x {depth} bytes for {encoding}")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size < step * (h - 1) + row:
        raise InputError(f"truncated {encoding} image: {buf.size} bytes for {w}x{h} with step {step}")
    if buf.size >= step * h:
        rows = buf[: step * h].reshape(h, step)
    else:  # the last row may come without its padding
        rows = np.lib.stride_tricks.as_strided(buf, shape=(h, step), strides=(step, 1), writeable=False)
    rows = rows[:, :row]
    if depth == 2:  # keep the high byte of each (little- or big-endian) 16-bit value
        rows = rows[:, 0::2] if bigendian else rows[:, 1::2]
    img = rows.reshape(h, w, ch) if ch > 1 else rows
    if code is None:
        return img if img.flags.c_contiguous else np.ascontiguousarray(img)
    return cv2.cvtColor(np.ascontiguousarray(img), code)


# layout -> cv2 conversion from BGR (None: already BGR); the inverse of ENCODINGS' conversions
_FROM_BGR: dict[str, int | None] = {"bgr": None, "rgb": cv2.COLOR_BGR2RGB, "mono": cv2.COLOR_BGR2GRAY,
                                    "bgra": cv2.COLOR_BGR2BGRA, "rgba": cv2.COLOR_BGR2RGBA}


def bgr_to_raw(bgr: np.ndarray, encoding: str = "bgr8", bigendian: bool = False) -> tuple[int, bytes]:
    """HxWx3 uint8 BGR -> (step, data) of a sensor_msgs/Image in ``encoding``: the inverse of
    :func:`raw_to_bgr` (16-bit: each value times 257, so its high byte is the 8-bit value)."""
    if encoding not in ENCODINGS:
        raise InputError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    code = _FROM_BGR[encoding.removesuffix("16").removesuffix("8")]
    img = np.ascontiguousarray(bgr if code is None else cv2.cvtColor(bgr, code), dtype=np.uint8)
    if ENCODINGS[encoding][2] == 2:
        img = (img.astype(np.uint16) * 257).astype(">u2" if bigendian else "<u2")
    return img.shape[1] * ENCODINGS[encoding][0] * img.itemsize, img.tobytes()


def compressed_to_bgr(data, fmt: str = "") -> np.ndarray:
    """JPEG/PNG bytes (sensor_msgs/CompressedImage.data) -> HxWx3 uint8 BGR."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise InputError("empty compressed image")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise InputError(f"undecodable compressed image (format {fmt!r}, {buf.size} bytes)")
    return img
