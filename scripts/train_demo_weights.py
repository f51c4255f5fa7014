"""Train the bundled demo weights: a mobile TSSD (MobileNet alpha 0.5 + Bottleneck-LSTM, 256 px, 3 classes)
on synthetic dives from ``tssd synth`` (training seeds, never the benchmark's), on the CPU.

    python scripts/train_demo_weights.py --data /tmp/train_dives/dive* --out weights/tssd_mobile_underwater.pt \
        --minutes 35

Clips of ``seq_len`` frames drawn by random skip sampling (paper eq. 5), MultiBox loss, the recurrent state
carried through each clip; the recipe that trains the toy model (tssd_ros/train/toy.py): SGD 0.1 with warm-up
and cosine decay, match IoU 0.3, priors overlapping an object by >= 0.15 never mined as negatives, heads
initialised small with a background bias, one torch thread (faster than two on a shared 2-core machine).
It exists so the weights in weights/ are reproducible from this repository; ``tssd train`` is the general tool.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from tssd_ros.data.dataset import ClipDataset, collate_clips
from tssd_ros.data.mot import load_mot_sequence
from tssd_ros.model.checkpoint import build_detector, save_checkpoint
from tssd_ros.model.config import DetectorConfig, PostprocessConfig
from tssd_ros.train.init import init_heads
from tssd_ros.train.losses import multibox_loss, pad_targets

CLASSES = ("seaurchin", "scallop", "seacucumber")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=35.0)
    ap.add_argument("--seq-len", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = DetectorConfig(backbone="mobilenet_v1", temporal="bottleneck_lstm", num_classes=4, input_size=256,
                         alpha=0.5)
    det = build_detector(cfg, CLASSES, postprocess=PostprocessConfig(conf_threshold=0.4, nms_iou=0.3, top_k=100),
                         seed=a.seed)
    init_heads(det.model)
    model = det.model.train()
    seqs = [load_mot_sequence(p, CLASSES) for p in a.data]
    ds = ClipDataset(seqs, seq_len=a.seq_len, preprocess=lambda img: det.preprocess_image(img)[0],
                     clips_per_sequence=64, seed=a.seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, collate_fn=collate_clips,
                                         num_workers=1, persistent_workers=True)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    budget = a.minutes * 60
    t0 = time.time()
    it, epoch, hist = 0, 0, []
    while time.time() - t0 < budget:
        ds.set_epoch(epoch)
        for clip, targets in loader:
            frac = min((time.time() - t0) / budget, 1.0)
            for g in opt.param_groups:
                g["lr"] = a.lr * min(1.0, (it + 1) / 30) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
            out = model(clip)
            b, t = clip.shape[:2]
            flat = [targets[i][k] for i in range(b) for k in range(t)]
            gb, gl = pad_targets([f["boxes"] for f in flat], [f["labels"] for f in flat])
            mb = multibox_loss(out["loc"].flatten(0, 1), out["conf"].flatten(0, 1), gb, gl, model.priors,
                               threshold=0.3, min_neg=8, ignore_iou=0.15)
            loss = mb.loc + mb.conf
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            hist.append(float(loss.detach()))
            it += 1
            if it % 20 == 0:
                print(f"it {it} t {time.time() - t0:.0f}s loss {np.mean(hist[-20:]):.3f} lr {g['lr']:.2e}", flush=True)
                model.eval()
                save_checkpoint(det, a.out, trained_on=f"synthetic dives {[Path(p).name for p in a.data]}",
                                notes="scripts/train_demo_weights.py", iterations=it,
                                final_loss=float(np.mean(hist[-20:])))
                model.train()
            if time.time() - t0 >= budget:
                break
        epoch += 1
    model.eval()
    save_checkpoint(det, a.out, trained_on=f"synthetic dives {[Path(p).name for p in a.data]}",
                    notes="scripts/train_demo_weights.py", iterations=it, final_loss=float(np.mean(hist[-20:])))
    print(f"done: {it} iterations in {time.time() - t0:.0f}s -> {a.out}")


if __name__ == "__main__":
    main()
