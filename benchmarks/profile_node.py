"""`make profile`: where a frame's time goes, as summaries a person reads (benchmarks/results/profile.md).

1. The torch profiler over ``Detector.step`` of the shipped model on each backend: operators by self CPU time
   (what the eager network spends, and what is left around the network).
2. py-spy sampling the running tssd_node process (its own executable, 640x480 bgr8 at 30 Hz over DDS from
   :mod:`node_harness`): functions by share of the samples, inclusive, and the node's threads.
Not part of `make bench`: profilers slow what they watch; the timings are in bench_model / bench_node.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from node_harness import HERE, SHIPPED, Camera, NodeProcess, dive_frames

SECONDS = float(os.environ.get("PROFILE_SECONDS", "12"))


def torch_profile(backend: str, frames: list, top: int = 12) -> str:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from tssd_ros.model import load_detector

    det = load_detector(SHIPPED, backend=backend)
    for im in frames[:5]:
        det.step(im)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for im in frames:
            det.step(im)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40)
    return f"### torch profiler, Detector.step, backend {backend} ({len(frames)} frames, " \
           f"{torch.get_num_threads()} threads)\n\n```\n{table}\n```\n"


def _frame(f: str) -> str:
    """py-spy's ``name (path/file.py:line)`` -> ``name (file.py:line)``."""
    name, _, loc = f.partition(" (")
    return f"{name} ({loc.rstrip(')').rsplit('/', 1)[-1]})" if loc else name


def collapse(raw: Path, top: int = 25) -> str:
    """py-spy's raw (collapsed) stacks -> the functions with the largest inclusive share, and the threads."""
    total = 0
    incl: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, n_s = line.rsplit(" ", 1)
        n = int(n_s)
        frames = stack.split(";")
        total += n
        threads[frames[0].split(" (")[0] + " " + frames[0].rsplit(":", 1)[-1].strip()] += n
        for f in {_frame(f) for f in frames[1:]}:
            incl[f] += n
    rows = [f"| {100 * n / total:5.1f}% | `{f}` |" for f, n in incl.most_common(top)]
    trows = [f"| {100 * n / total:5.1f}% | {t} |" for t, n in threads.most_common()]
    return (f"{total} samples of the node's running (on-CPU) threads.\n\n| share | thread |\n|---|---|\n"
            + "\n".join(trows) + "\n\n| share (inclusive) | function |\n|---|---|\n" + "\n".join(rows) + "\n")


def node_profile(frames: list) -> str:
    raw = Path(tempfile.mkdtemp()) / "node_raw.txt"
    node = NodeProcess("/profile", {"weights": SHIPPED})
    cam = Camera("/profile")
    if not cam.wait_for_node(settle=2.0):
        node.stop()
        return "tssd_node did not start\n"
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(node.proc.pid),
                            "--duration", str(int(SECONDS)), "--rate", "200", "--threads", "--nonblocking",
                            "--format", "raw", "-o", str(raw)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cam.play(cam.image_msgs(frames), 30.0, int((SECONDS + 2) * 30))
    _, err = spy.communicate(timeout=60)
    node.stop()
    cam.close()
    d = cam.rx.diagnostics
    head = (f"### py-spy, tssd_node at 30 Hz ({d.get('backend')}): processed {d.get('processed_fps')} fps, "
            f"latency p50 {d.get('latency_p50_ms')} ms, inference p50 {d.get('inference_p50_ms')} ms\n\n")
    if spy.returncode or not raw.exists():
        return head + f"py-spy failed: {err.strip()[-300:]}\n"
    return head + collapse(raw)


def main() -> int:
    frames = dive_frames(30)
    parts = ["# Profiles\n", f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores; "
             "`make profile` (benchmarks/profile_node.py).\n"]
    for backend in ("torch", "onnxruntime"):
        parts.append(torch_profile(backend, frames))
    parts.append(node_profile(frames))
    text = "\n".join(parts)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "profile.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
