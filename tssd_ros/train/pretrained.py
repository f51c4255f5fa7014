"""ImageNet-pretrained backbone initialisation (``shared/pretrained/mobilenet_v1_*.pth``).

Why strict: the backbone is built in the pretrained files' layout (``features.N``, TF-slim channel rule, TF
SAME padding), so every tensor must load; a file for another width or network is an error, not a partial load
that quietly trains from noise.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch

from tssd_ros.errors import CheckpointError
from tssd_ros.model.config import PreprocessConfig
from tssd_ros.model.tssd import TSSD

# The TF MobileNets' input: RGB scaled to [-1, 1] (x / 127.5 - 1).
PRETRAINED_PREPROCESS: dict[str, Any] = {"mean_bgr": (127.5, 127.5, 127.5), "std": 127.5, "channel_order": "rgb"}


def load_pretrained_backbone(model: TSSD, path: str | Path) -> dict[str, Any]:
    """Load ``path`` (a state_dict with ``features.*`` and an ImageNet ``fc.*``) into ``model.backbone``
    strictly; returns the provenance recorded in the checkpoint's metadata (file, sha256, source)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"pretrained backbone {path} not found (see shared/pretrained/README.md)")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling failure: unusable file
        raise CheckpointError(f"{path.name} is not a readable torch state_dict ({type(e).__name__})") from None
    backbone = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    try:
        model.backbone.load_state_dict(backbone, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(f"{path.name} does not fit the {model.config.backbone} backbone at alpha "
                              f"{model.config.alpha}: {first[:200]}") from None
    info: dict[str, Any] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    side = path.with_suffix(".json")
    if side.is_file():
        import json

        doc = json.loads(side.read_text())
        info["source"] = doc.get("source")
        info["source_sha256"] = doc.get("source_sha256")
    return info


def load_init_detector(model: TSSD, path: str | Path) -> tuple[PreprocessConfig, dict[str, Any]]:
    """Start ``model`` from a trained tssd_ros detector (``init:`` in a training config): fine-tuning the shipped
    weights on one's own footage, or a longer / larger-input run from a finished one.

    Every tensor whose name and shape match is copied; the input size may differ (the heads are per-location
    convolutions) and tensors that differ in shape (class heads for another class list) keep their fresh
    initialisation. The backbone and temporal unit must be the same kind, else it is an error, not a partial
    load. Returns the checkpoint's preprocessing (at the config's input size) and the metadata (provenance).
    """
    from tssd_ros.model.checkpoint import load_detector

    path = Path(path)
    det = load_detector(path)  # validates the file with the loader's own one-line errors
    src, dst = det.model.config, model.config
    for key in ("backbone", "temporal", "alpha", "placement"):
        if getattr(src, key, None) != getattr(dst, key, None):
            raise CheckpointError(f"init {path.name}: its {key} is {getattr(src, key, None)!r}, the config's "
                                  f"{getattr(dst, key, None)!r}; init needs the same network")
    own = model.state_dict()
    loaded = {k: v for k, v in det.model.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(loaded, strict=False)
    info = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "tensors": len(loaded), "fresh": sorted(set(own) - set(loaded))[:8]}
    pretrained = dict(det.metadata.get("pretrained") or {})
    pre = dataclasses.replace(det.preprocess, input_size=dst.input_size)
    return pre, {"init": info, "pretrained": pretrained or None}
