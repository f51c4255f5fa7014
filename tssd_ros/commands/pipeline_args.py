"""The pipeline options the offline commands share: ``--params`` and overrides named like the node's parameters.

Why: ``tssd detect``, ``tssd replay``, ``tssd demo`` and ``tssd eval`` must give the node's answers, so they take
the node's parameter file (default: the installed ``config/tssd.yaml``) and build the pipeline with
:meth:`Pipeline.from_params`; an option given on the command line overrides one parameter and is checked by
the same table (:mod:`tssd_ros.params`) as the node's parameter of that name.
"""

from __future__ import annotations

import argparse
from typing import Any

from tssd_ros.params import BY_NAME

DEFAULT_PARAMS = "config/tssd.yaml"
# parameter -> command-line flag
OPTIONS = {"weights": "--weights", "device": "--device", "threads": "--threads", "backend": "--backend",
           "classes_preset": "--classes",
           "conf_threshold": "--conf-threshold", "nms_iou": "--nms-iou", "top_k": "--top-k",
           "cross_class_iou": "--cross-class-iou",
           "ota_mode": "--ota-mode", "min_hits": "--min-hits", "count_min_hits": "--count-min-hits",
           "max_gap_s": "--max-gap-s"}


def add_pipeline_args(p: argparse.ArgumentParser, weights_required: bool = False) -> None:
    """``--params`` and one flag per pipeline parameter (default: the params file's value)."""
    p.add_argument("--params", default=DEFAULT_PARAMS,
                   help=f"tssd_node parameter file (default: the installed {DEFAULT_PARAMS})")
    for name, flag in OPTIONS.items():
        prm = BY_NAME[name]
        kind: Any = int if prm.integer else (float if prm.lo is not None else str)
        p.add_argument(flag, dest=name, type=kind, default=None, choices=prm.choices or None,
                       required=weights_required and name == "weights",
                       help=f"{prm.doc} (default: the params file's)")


def pipeline_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """The node's pipeline for ``--params`` with the command line's overrides (``extra`` on top)."""
    from tssd_ros.paths import resolve_data_path
    from tssd_ros.pipeline import Pipeline

    overrides = {name: getattr(args, name, None) for name in OPTIONS}
    return Pipeline.from_params(resolve_data_path(args.params), **{**overrides, **extra})
