"""`make soak`: a night at sea, compressed. tssd_node as its own process over real DDS, three phases:

1. **endurance**: ``SOAK_FRAMES`` (10,000) 640x480 bgr8 frames at 30 Hz of a flying synthetic dive (animals
   enter and leave the view all the time; the dive loops with continuous stamps). Node RSS sampled from /proc;
   latency of every answered frame. Checks: RSS growth after the first 1,000 frames <= 10 MB; latency p95 of
   the last 1,000 answers within 1.25x that of the first 1,000; no identity reused (an id never changes class
   and never comes back after more than ``REUSE_GAP_S`` away, longer than any tubelet or re-identification
   lives).
2. **kill -9**: a node with ``counts_file`` (saved every ``SAVE_S``) is killed with SIGKILL mid-dive and started
   again on the same file. Checks: its first counts are at least the counts the old node published
   ``SAVE_S`` (+ 0.5 s) before the kill; every identity after the restart is new (above the old maximum).
3. **bad input**: one running node gets 640x480 bgr8, 1920x1080 bgr8, 640x480 again, mono16 and bgr16 frames,
   and garbage (truncated data, a wrong step, an unknown encoding, a zero-sized image) between them. Checks:
   the node stays up, answers every good frame after the garbage, and ``/diagnostics`` counts each garbage
   frame in ``frames_bad`` with the last reason.

Writes benchmarks/results/soak.json and soak_targets.{json,md}; exit 1 on a miss. Under 10 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from node_harness import HERE, SHIPPED, Camera, NodeProcess, dive_frames

FRAMES = int(os.environ.get("SOAK_FRAMES", "10000"))
HZ = 30.0
SAVE_S = 2.0
REUSE_GAP_S = 8.0
RESULTS = HERE / "results"


def _started(cam: Camera, what: str) -> None:
    if not cam.wait_for_node():
        raise RuntimeError(f"{what} within 120 s (see the node logs in the printed folder)")


def endurance(weights: Path, msgs: list[Any], cam: Camera, log: Path) -> dict[str, Any]:
    node = NodeProcess("/soak", {"weights": weights}, log)
    _started(cam, "tssd_node did not start")
    rss: list[tuple[int, float]] = []

    def sample(i: int) -> None:
        if i % 100 == 0:
            rss.append((i, node.rss_mb()))

    sent, seconds = cam.play(msgs, HZ, FRAMES, on_frame=sample, progress=True)
    cam.spin(1.0)
    alive = node.alive
    node.stop()
    rx = cam.rx
    lat = 1000 * np.array(rx.det_latency)
    k = min(1000, len(lat) // 4)
    first, last = lat[5:k + 5], lat[-k:]
    after_warm = [m for i, m in rss if i >= 1000] or [m for _, m in rss]
    # identities: one class each, never back after a long absence
    last_seen: dict[str, float] = {}
    reused = []
    for stamp, ids in zip(rx.det_stamp, rx.det_ids, strict=True):
        for tid in ids:
            if tid in last_seen and stamp - last_seen[tid] > REUSE_GAP_S:
                reused.append(tid)
            last_seen[tid] = stamp
    return {
        "frames_sent": sent, "seconds": seconds, "frames_answered": len(lat), "node_alive": alive,
        "answered_fraction": len(lat) / max(sent, 1),
        "rss_mb_start": after_warm[0], "rss_mb_end": after_warm[-1], "rss_mb_max": max(after_warm),
        "rss_growth_mb": after_warm[-1] - after_warm[0], "rss_samples": rss,
        "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p95_first": float(np.percentile(first, 95)),
        "latency_ms_p95_last": float(np.percentile(last, 95)),
        "latency_p95_last_over_first": float(np.percentile(last, 95) / np.percentile(first, 95)),
        "identities": len(last_seen), "identities_reused": sorted(set(reused), key=int),
        "diagnostics": rx.diagnostics,
    }


def _total(counts: dict[str, tuple[int, int]]) -> int:
    return sum(u for u, _ in counts.values())


def kill9(weights: Path, msgs: list[Any], cam: Camera, tmp: Path) -> dict[str, Any]:
    counts_file = tmp / "counts.json"
    params = {"weights": weights, "counts_file": counts_file, "counts_save_period_s": SAVE_S}
    node = NodeProcess("/soak", params, tmp / "node_kill1.log")
    cam.clear()
    _started(cam, "tssd_node did not start")
    cam.play(msgs, HZ, int(20 * HZ))
    cam.spin(0.3)
    t_kill = time.time()
    node.kill9()
    before = list(cam.rx.counts)
    max_id_before = max((int(t) for ids in cam.rx.det_ids for t in ids), default=0)
    # the counts published SAVE_S (+ scheduling slack) before the kill must survive
    floor = max((_total(c) for t, c in before if t <= t_kill - SAVE_S - 0.5), default=0)
    at_kill = _total(before[-1][1]) if before else 0

    cam.clear()
    node = NodeProcess("/soak", params, tmp / "node_kill2.log")
    _started(cam, "tssd_node did not restart")
    cam.play(msgs[len(msgs) // 2:], HZ, int(10 * HZ))
    cam.spin(0.5)
    node.stop()
    after = cam.rx.counts
    restored = _total(after[0][1]) if after else -1
    ids_after = {int(t) for ids in cam.rx.det_ids for t in ids}
    return {
        "save_period_s": SAVE_S, "counts_at_kill": at_kill, "counts_required": floor, "counts_restored": restored,
        "counts_end": _total(after[-1][1]) if after else -1, "max_id_before_kill": max_id_before,
        "min_id_after_restart": min(ids_after, default=None), "ids_after_restart": len(ids_after),
        "ids_continue": all(i > max_id_before for i in ids_after),
    }


def bad_input(weights: Path, cam: Camera, tmp: Path) -> dict[str, Any]:
    from sensor_msgs.msg import Image

    vga = dive_frames(10, seed=11)
    full_hd = dive_frames(10, seed=12, width=1920, height=1080)
    garbage = []
    for i in range(4):
        m = cam.image_msgs(vga[:1])[0]
        if i == 0:
            m.data = bytes(m.data)[:1000]  # truncated
        elif i == 1:
            m.step = 100  # step shorter than a row
        elif i == 2:
            m.encoding = "32FC1"
        else:
            m = Image(encoding="bgr8")  # 0x0
        garbage.append(m)
    good = [("bgr8 640x480", cam.image_msgs(vga)), ("bgr8 1920x1080", cam.image_msgs(full_hd)),
            ("bgr8 640x480", cam.image_msgs(vga)), ("mono16 640x480", cam.image_msgs(vga, "mono16")),
            ("bgr16 640x480", cam.image_msgs(vga, "bgr16")), ("bgr8 640x480", cam.image_msgs(vga))]
    node = NodeProcess("/soak", {"weights": weights}, tmp / "node_bad.log")
    cam.clear()
    _started(cam, "tssd_node did not start")
    answered: dict[str, int] = defaultdict(int)
    per_group = []
    sent_bad = 0
    for i, (name, msgs) in enumerate(good):
        n0 = len(cam.rx.det_recv)
        cam.play(msgs, 5.0, len(msgs))  # 5 Hz: the node answers every frame, none is replaced in its slot
        cam.spin(0.5)
        answered[name] += len(cam.rx.det_recv) - n0
        per_group.append((name, len(msgs), len(cam.rx.det_recv) - n0))
        if i < len(garbage):
            cam.play(garbage[i:i + 1], 5.0, 1)
            sent_bad += 1
            cam.spin(0.3)
    cam.spin(2.5)  # a /diagnostics period after the last frame
    alive = node.alive
    diag = dict(cam.rx.diagnostics)
    node.stop()
    return {"node_alive": alive, "good_sent": {n: sum(len(m) for k, m in good if k == n) for n, _ in good},
            "good_answered": dict(answered), "groups": per_group, "bad_sent": sent_bad,
            "frames_bad": int(diag.get("frames_bad", -1)),
            "last_error": diag.get("last_error", ""), "diagnostics": diag}


def main() -> int:
    import targets  # beside this file

    if not SHIPPED.exists():
        print(f"{SHIPPED} missing", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="tssd_soak_"))
    print(f"soak: {FRAMES} frames at {HZ:g} Hz, logs in {tmp}", flush=True)
    t0 = time.time()
    cam = Camera("/soak")
    msgs = cam.image_msgs(dive_frames(300, seed=4243))
    res: dict[str, Any] = {"frames": FRAMES, "hz": HZ}
    res["endurance"] = endurance(SHIPPED, msgs, cam, tmp / "node_endurance.log")
    print(json.dumps({k: v for k, v in res["endurance"].items() if k != "rss_samples"}, indent=1), flush=True)
    res["kill9"] = kill9(SHIPPED, msgs, cam, tmp)
    print(json.dumps(res["kill9"], indent=1), flush=True)
    res["bad_input"] = bad_input(SHIPPED, cam, tmp)
    print(json.dumps(res["bad_input"], indent=1), flush=True)
    cam.close()
    res["wall_s"] = time.time() - t0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(res, indent=1))
    print(f"soak: {res['wall_s']:.0f} s", flush=True)
    return targets.main(["--soak"])


if __name__ == "__main__":
    sys.exit(main())
