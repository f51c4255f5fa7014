"""Fail `make env` early, with one line, if the environment cannot do what the tests need."""

import shutil
import sys
from pathlib import Path

try:
    import cv2  # noqa: F401
    import onnxruntime  # noqa: F401
    import rclpy  # noqa: F401
    import rosbags  # noqa: F401
    import sensor_msgs.msg  # noqa: F401
    import torch  # noqa: F401
    import vision_msgs.msg  # noqa: F401
except Exception as e:  # noqa: BLE001
    sys.exit(f"error: environment incomplete ({e}); run `make clean-env env`")

bindir = Path(sys.executable).parent
missing = [n for n in ("tssd", "tssd_node", "grasp_selector_node") if not (bindir / n).exists()]
if missing and not all(shutil.which(n) for n in missing):
    sys.exit(f"error: executables {missing} not on PATH; run `make clean-env env`")
print("env: ok")
