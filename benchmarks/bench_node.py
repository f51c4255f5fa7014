"""tssd_node over real DDS vs pure inference: processed FPS, latency and the node's overhead.

A camera process (this script, :mod:`node_harness`) publishes 640x480 bgr8 frames of a synthetic dive at
30 Hz with sensor-data QoS to a tssd_node process running the shipped detector with its default parameters
(``backend`` auto). Latency = detections receive time - image header stamp (both this machine's clock).
Pure inference = ``Detector.step`` of the same backend on the same frames in this process, before the node
starts. The node's overhead = latency p50 - the node's own inference p50 (from its /diagnostics, same run);
the one over the isolated inference is reported beside it. A second run with ``backend:=torch`` (eager
PyTorch, slower than the camera) shows the node under overload: it drops frames but its latency stays flat.
Results: benchmarks/results/node.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from node_harness import HERE, SHIPPED, Camera, NodeProcess, dive_frames

SECONDS = float(os.environ.get("BENCH_NODE_SECONDS", "20"))
HZ = 30.0


def inference_ms(weights: Path, imgs: list[np.ndarray], backend: str = "auto") -> tuple[np.ndarray, str]:
    """Detector.step times (ms) on ``backend``, after 5 warm-up frames, as the node builds its detector."""
    import time

    import torch

    from tssd_ros.pipeline import Pipeline

    threads = torch.get_num_threads()  # from_params sets them as in the node process; not for the next run
    det = Pipeline.from_params(None, weights=str(weights), backend=backend).detector
    for im in imgs[:5]:
        det.step(im)
    t = []
    for im in imgs:
        t0 = time.perf_counter()
        det.step(im)
        t.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return 1000 * np.array(t), det.backend


def run(weights: Path, imgs: list[np.ndarray], params: dict | None = None) -> dict:
    """One node process for SECONDS at HZ: what it answered, its latency, its own diagnostics."""
    import torch

    inf_ms, backend = inference_ms(weights, imgs, (params or {}).get("backend", "auto"))
    node = NodeProcess("/bench", {"weights": weights, **(params or {})})
    cam = Camera("/bench")
    if not cam.wait_for_node(settle=2.0):
        node.stop()
        raise RuntimeError("tssd_node did not start within 120 s")
    sent, seconds = cam.play(cam.image_msgs(imgs), HZ, int(SECONDS * HZ))
    cam.spin(1.0)
    node.stop()
    cam.close()
    rx = cam.rx
    lat_ms = 1000 * np.array(rx.det_latency[5:]) if len(rx.det_latency) > 5 else np.array([np.nan])
    res = {
        "model": weights.name, "backend": backend, "torch_threads": torch.get_num_threads(), "published_hz": HZ,
        "published": sent, "processed": len(rx.det_recv), "processed_fps": len(rx.det_recv) / seconds,
        "dropped_fraction": 1 - len(rx.det_recv) / max(sent, 1),
        "inference_ms_p50": float(np.percentile(inf_ms, 50)), "inference_ms_p95": float(np.percentile(inf_ms, 95)),
        "latency_ms_p50": float(np.percentile(lat_ms, 50)), "latency_ms_p95": float(np.percentile(lat_ms, 95)),
        "node_diagnostics": rx.diagnostics,
    }
    # the node's own inference p50 (its /diagnostics, same run, same load) is the baseline of the overhead: the
    # isolated figure above is measured on a quiet machine and moves by a millisecond from run to run
    node_inf = float(rx.diagnostics.get("inference_p50_ms", "nan"))
    res["node_inference_ms_p50"] = node_inf
    res["overhead_ms_p50"] = res["latency_ms_p50"] - node_inf
    res["overhead_vs_isolated_ms_p50"] = res["latency_ms_p50"] - res["inference_ms_p50"]
    return res


def main() -> int:
    from tssd_ros.classes import UNDERWATER_CLASSES
    from tssd_ros.model.checkpoint import build_detector, save_checkpoint
    from tssd_ros.model.config import DetectorConfig, PostprocessConfig

    weights = SHIPPED
    if not weights.exists():
        cfg = DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=5, input_size=256,
                             alpha=0.5)
        weights = save_checkpoint(build_detector(cfg, UNDERWATER_CLASSES, postprocess=PostprocessConfig(
            conf_threshold=0.4)), Path(tempfile.mkdtemp()) / "m.pt")
    imgs = dive_frames(60)
    res = run(weights, imgs)  # the node's defaults
    # overload: eager PyTorch is slower than the camera; latency must stay one frame deep, not grow
    res["overload"] = run(weights, imgs, {"backend": "torch"})
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "node.json").write_text(json.dumps(res, indent=1))
    for name, r in (("default", res), ("overload (backend torch)", res["overload"])):
        print(f"--- {name}")
        for k, v in r.items():
            if k not in ("node_diagnostics", "overload"):
                print(f"{k:>20}: {v:.2f}" if isinstance(v, float) else f"{k:>20}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
