"""Training curves PNG from a run's ``log.csv`` (loss per stage, moving average; learning rate)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def save_curves(log_csv: str | Path, png: str | Path) -> Path | None:
    """Plot total/loc/conf/attention/association loss over the run's iterations, one colour band per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(log_csv))) if Path(log_csv).is_file() else []
    if not rows:
        return None
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    step = np.arange(1, len(rows) + 1)
    k = max(1, len(rows) // 100)
    for name in ("loss", "loc", "conf", "attention", "association"):
        y = np.array([float(r[name]) for r in rows])
        if not np.any(y):
            continue
        sm = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(step[k - 1:], sm, label=name, lw=1.6 if name == "loss" else 1)
    stages = [r["stage"] for r in rows]
    for s in dict.fromkeys(stages):
        idx = [i for i, v in enumerate(stages) if v == s]
        ax.axvspan(idx[0] + 1, idx[-1] + 1, alpha=0.06, color=f"C{list(dict.fromkeys(stages)).index(s) + 3}")
        ax.text(idx[0] + 1, ax.get_ylim()[1] if ax.get_yscale() == "linear" else 1, s, fontsize=8, va="top")
    ax.set_yscale("log")
    ax.set_ylabel("loss (moving average)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax2.plot(step, [float(r["lr"]) for r in rows], color="k", lw=1)
    ax2.set_ylabel("lr")
    ax2.set_xlabel("iteration (all stages)")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png
