"""ImageNet-pretrained backbone initialisation (``shared/pretrained/mobilenet_v1_*.pth``).

Why strict: the backbone is built in the pretrained files' layout (``features.N``, TF-slim channel rule, TF
SAME padding), so every tensor must load; a file for another width or network is an error, not a partial load
that quietly trains from noise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from tssd_ros.errors import CheckpointError
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
