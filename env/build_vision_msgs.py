"""Build vision_msgs 4.1.1 into the venv with the real rosidl toolchain (ament_cmake + rosidl wheels).

Why: vision_msgs is not published as a wheel. We generate it from its interface definitions
(env/vision_msgs/msg) exactly as a ROS 2 install would, and install it into the venv prefix, where the
ROS wheels already lay out a ROS prefix (include/, lib/, share/) and the wheels' bootstrapper puts
`$VENV/lib` on LD_LIBRARY_PATH. Idempotent: skipped when vision_msgs is importable and, if it is ours,
built from the same definitions.

Run with the venv's interpreter: `.venv/bin/python env/build_vision_msgs.py`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "vision_msgs"
PREFIX = Path(sys.prefix)
STAMP = PREFIX / "share" / "vision_msgs" / "tssd_ros_build.sha256"
# Hard-coded by the machine that built the ROS wheels; CMake refuses non-existent include dirs.
WHEEL_PY_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
WHEEL_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def sources_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(SRC.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(SRC).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def importable() -> bool:
    r = subprocess.run(
        [sys.executable, "-c", "import vision_msgs.msg; vision_msgs.msg.Detection2DArray()"],
        capture_output=True,
    )
    return r.returncode == 0


def patch_cmake_files() -> int:
    import numpy

    py_inc = sysconfig.get_paths()["include"]
    np_inc = numpy.get_include()
    n = 0
    for f in (PREFIX / "share").glob("*/cmake/*.cmake"):
        text = f.read_text()
        new = text.replace(WHEEL_NUMPY_INCLUDE, np_inc).replace(WHEEL_PY_INCLUDE, py_inc)
        if new != text:
            f.write_text(new)
            n += 1
    return n


def main() -> int:
    digest = sources_digest()
    if importable():
        if not STAMP.exists():
            print("vision_msgs: already importable (a ROS install is sourced); nothing to build")
            return 0
        if STAMP.read_text().strip() == digest:
            print("vision_msgs: up to date")
            return 0
        print("vision_msgs: definitions changed, rebuilding")
    if shutil.which("cmake") is None:
        print("error: cmake not found; install it (apt install cmake) and run `make env` again", file=sys.stderr)
        return 1
    t0 = time.time()
    patched = patch_cmake_files()
    build = PREFIX / ".build" / "vision_msgs"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = str(PREFIX)
    env["CMAKE_PREFIX_PATH"] = str(PREFIX)
    env["PATH"] = f"{PREFIX / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    cfg = [
        "cmake",
        str(SRC),
        f"-DCMAKE_INSTALL_PREFIX={PREFIX}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
        # The generated libraries carry no RPATH by default; the Python extension must find them.
        f"-DCMAKE_INSTALL_RPATH={PREFIX / 'lib'}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    jobs = str(os.cpu_count() or 2)
    for cmd in (cfg, ["make", f"-j{jobs}"], ["make", "install"]):
        r = subprocess.run(cmd, cwd=build, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
            print(f"error: vision_msgs build failed at `{' '.join(cmd[:2])}` (log above)", file=sys.stderr)
            return 1
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(digest + "\n")
    if not importable():
        print("error: vision_msgs built but does not import", file=sys.stderr)
        return 1
    shutil.rmtree(build, ignore_errors=True)
    print(f"vision_msgs: built 16 messages in {time.time() - t0:.0f} s (patched {patched} cmake files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
