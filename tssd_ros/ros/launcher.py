"""Start tssd_node and grasp_selector_node as real processes, the way the ROV does.

Through ``launch/tssd.launch.py`` when ``launch_ros`` is importable (a ROS install), else the two executables
with the same parameter files and remaps as the launch file. Why both: ``launch``/``launch_ros`` are not pip
installable, and the demo must run on a laptop with this package's wheels only.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tssd_ros.errors import TssdError
from tssd_ros.paths import share_dir

RUN_LAUNCH_FILE = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
ls = LaunchService()
ls.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=[a.split(":=", 1) for a in sys.argv[2:]]))
sys.exit(ls.run())
"""


def executable(name: str) -> str:
    """A package executable next to this Python (a venv) or on PATH."""
    cand = Path(sys.executable).parent / name
    found = str(cand) if cand.exists() else shutil.which(name)
    if not found:
        raise TssdError(f"executable {name} not found: install the package (`make env` or colcon build)")
    return found


class Nodes:
    """Context manager around the running nodes; on exit they get SIGINT (as ``ros2 launch`` sends) and, after
    ``stop_timeout`` s, SIGKILL."""

    def __init__(self, params_file: Path, grasp_params_file: Path, log_dir: Path, image: str = "/camera/image_raw",
                 compressed: bool = False, use_sim_time: bool = True, stop_timeout: float = 10.0) -> None:
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self.procs: list[subprocess.Popen] = []
        self.via_launch = importlib.util.find_spec("launch_ros") is not None
        flag = "true" if use_sim_time else "false"
        if self.via_launch:
            args = [f"params_file:={params_file}", f"grasp_params_file:={grasp_params_file}", f"image:={image}",
                    f"compressed:={'true' if compressed else 'false'}", f"use_sim_time:={flag}"]
            self.commands = {"launch": [sys.executable, "-c", RUN_LAUNCH_FILE,
                                        str(share_dir() / "launch" / "tssd.launch.py"), *args]}
        else:
            self.commands = {
                "tssd_node": [executable("tssd_node"), "--ros-args", "--params-file", str(params_file),
                              "-p", f"use_sim_time:={flag}", "-p", f"compressed:={'true' if compressed else 'false'}",
                              "-r", f"image:={image}", "-r", f"image/compressed:={image}/compressed"],
                "grasp_selector": [executable("grasp_selector_node"), "--ros-args", "--params-file",
                                   str(grasp_params_file), "-p", f"use_sim_time:={flag}"],
            }

    def __enter__(self) -> Nodes:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, cmd in self.commands.items():
            log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        return self

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def logs(self) -> str:
        return "\n".join(f.read_text()[-2000:] for f in sorted(self.log_dir.glob("*.log")))

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
