"""Checkpoints: the project's self-describing format and the reference's bare state_dict.

Project format (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "tssd_ros.detector", "version": 2, "config": DetectorConfig dict, "class_names": [...],
     "preprocess": PreprocessConfig dict, "postprocess": PostprocessConfig dict,
     "state_dict": {...}, "metadata": {"created", "trained_on", "notes", ...}}

Reference format: a bare state_dict with keys ``vgg.N`` (or ``backbone.N``), ``L2Norm.weight``, ``extras.N``,
``rnn.K.Gates``, ``attention.K.attention.N``, ``loc.N``, ``conf.N``, optionally prefixed ``module.``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tssd_ros.errors import CheckpointError
from tssd_ros.model.config import DetectorConfig, PostprocessConfig, PreprocessConfig
from tssd_ros.model.detector import Detector
from tssd_ros.model.presets import CLASS_PRESETS, POSTPROCESS_PRESETS, preset_for_count
from tssd_ros.model.tssd import TSSD

FORMAT = "tssd_ros.detector"
VERSION = 2  # 2: MobileNet keys backbone.features.N (pretrained layout), TF SAME padding

_REF_RULES = (
    (re.compile(r"^(?:vgg|backbone)\.(\d+)\.(weight|bias)$"), r"backbone.vgg.\1.\2"),
    (re.compile(r"^L2Norm\.weight$"), "backbone.l2norm.weight"),
    (re.compile(r"^extras\.(\d+)\.(weight|bias)$"), r"backbone.extras.\1.\2"),
    (re.compile(r"^rnn\.([01])\.Gates\.(weight|bias)$"), r"temporal.units.\1.cell.gates.\2"),
    (re.compile(r"^attention\.([01])\.attention\.([024])\.weight$"), r"temporal.units.\1.attention.net.\2.weight"),
    (re.compile(r"^(loc|conf)\.(\d+)\.(weight|bias)$"), r"heads.\1.\2.\3"),
)


def build_detector(
    config: DetectorConfig,
    class_names: tuple[str, ...] | list[str] | None = None,
    device: str | torch.device = "cpu",
    preprocess: PreprocessConfig | None = None,
    postprocess: PostprocessConfig | None = None,
    seed: int | None = 0,
) -> Detector:
    """A randomly initialised detector of any config (tests, tiny weights, training start)."""
    if seed is not None:
        torch.manual_seed(seed)
    model = TSSD(config)
    names = tuple(class_names) if class_names is not None else _default_names(config.num_classes - 1)
    return Detector(model, names, preprocess or PreprocessConfig(input_size=config.input_size), postprocess,
                    device)


def _default_names(n: int) -> tuple[str, ...]:
    preset = preset_for_count(n)
    return CLASS_PRESETS[preset] if preset else tuple(f"class_{k}" for k in range(n))


def save_checkpoint(
    model: TSSD | Detector,
    path: str | os.PathLike,
    class_names: tuple[str, ...] | list[str] | None = None,
    preprocess: PreprocessConfig | None = None,
    postprocess: PostprocessConfig | None = None,
    trained_on: str = "",
    notes: str = "",
    **extra_metadata: Any,
) -> Path:
    """Write the project format: everything ``load_detector(path)`` needs in one file."""
    if isinstance(model, Detector):
        det = model
        class_names = class_names or det.class_names
        preprocess = preprocess or det.preprocess
        postprocess = postprocess or det.postprocess
        model = det.model
    cfg = model.config
    names = tuple(class_names) if class_names is not None else _default_names(cfg.num_classes - 1)
    if len(names) != cfg.num_classes - 1:
        raise ValueError(f"{len(names)} class names for {cfg.num_classes - 1} foreground classes")
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "config": cfg.to_dict(),
        "class_names": list(names),
        "preprocess": (preprocess or PreprocessConfig(input_size=cfg.input_size)).to_dict(),
        "postprocess": (postprocess or PostprocessConfig()).to_dict(),
        "state_dict": {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().clone()
                       for k, v in model.state_dict().items()},
        "metadata": {
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "trained_on": trained_on,
            "notes": notes,
            **extra_metadata,
        },
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    return path


def convert_reference_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reference key names -> this package's (drops ``module.``; ``backbone.N`` = ``vgg.N``)."""
    out: dict[str, torch.Tensor] = {}
    for key, v in sd.items():
        k = key[len("module."):] if key.startswith("module.") else key
        for pat, rep in _REF_RULES:
            if pat.match(k):
                out[pat.sub(rep, k)] = v
                break
        else:
            raise CheckpointError(f"unknown key {key!r} in reference checkpoint (expected vgg/extras/rnn/attention/"
                                  "loc/conf of TSSD-OTA; ConvGRU and other variants are not supported)")
    return out


def config_from_reference(sd: Mapping[str, torch.Tensor]) -> DetectorConfig:
    """Architecture from the keys (attention/rnn present or not) and classes from the head shapes."""
    has_rnn = "temporal.units.0.cell.gates.weight" in sd
    has_att = "temporal.units.0.attention.net.0.weight" in sd
    if has_att and not has_rnn:
        raise CheckpointError("reference checkpoint has attention but no rnn: the attention-only SSD variant is "
                              "not supported; use a TSSD (attention + rnn) or plain SSD checkpoint")
    for k in ("heads.loc.0.weight", "heads.conf.0.weight"):
        if k not in sd:
            raise CheckpointError(f"reference checkpoint lacks {k.replace('heads.', '')}.weight: not an SSD/TSSD "
                                  "state_dict")
    anchors = [int(sd[f"heads.loc.{i}.weight"].shape[0]) // 4 for i in range(6) if f"heads.loc.{i}.weight" in sd]
    if anchors == [4, 6, 6, 6, 4, 4]:
        priors = "v2"
    elif anchors == [5] * 6:
        priors = "v3"
    else:
        raise CheckpointError(f"anchors per location {anchors} fit neither priors v2 [4,6,6,6,4,4] nor v3 [5]*6")
    n_conf = int(sd["heads.conf.0.weight"].shape[0])
    if n_conf % anchors[0]:
        raise CheckpointError(f"conf.0 has {n_conf} outputs, not a multiple of {anchors[0]} anchors")
    temporal = "ac_lstm" if has_att else ("conv_lstm" if has_rnn else "none")
    return DetectorConfig(backbone="vgg16", temporal=temporal, num_classes=n_conf // anchors[0], priors=priors)


def _resolve_classes(
    classes: str | tuple[str, ...] | list[str] | None, n_fg: int, stored: tuple[str, ...] | None, path: Path
) -> tuple[tuple[str, ...], str | None]:
    if classes is None:
        if stored is not None:
            return stored, None
        preset = preset_for_count(n_fg)
        return (CLASS_PRESETS[preset] if preset else tuple(f"class_{k}" for k in range(n_fg))), preset
    if isinstance(classes, str):
        if classes not in CLASS_PRESETS:
            raise CheckpointError(f"unknown class preset {classes!r}; choose one of {sorted(CLASS_PRESETS)}")
        names = CLASS_PRESETS[classes]
        preset: str | None = classes
    else:
        names, preset = tuple(classes), None
    if len(names) != n_fg:
        hint = preset_for_count(n_fg)
        raise CheckpointError(
            f"{path.name} has {n_fg} foreground classes but {'preset ' + repr(preset) if preset else 'the given names'}"
            f" has {len(names)}" + (f"; use --classes {hint}" if hint else "")
        )
    return names, preset


def _check_finite(sd: Mapping[str, torch.Tensor], path: Path) -> None:
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path.name}: entry {k!r} is not a tensor")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path.name}: weight {k!r} has NaN/Inf values (diverged training?)")


def _load_into(model: TSSD, sd: Mapping[str, torch.Tensor], path: Path, ref: bool) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unknown = [k for k in sd if k not in own]
    if unknown:
        raise CheckpointError(f"{path.name}: unknown keys for a {model.config.backbone}/{model.config.temporal} model,"
                              f" e.g. {unknown[0]!r} ({len(unknown)} in all)")
    if missing:
        raise CheckpointError(f"{path.name}: missing keys, e.g. {missing[0]!r} ({len(missing)} in all)"
                              + (" (truncated reference checkpoint?)" if ref else ""))
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path.name}: {k!r} has shape {tuple(v.shape)}, the model expects "
                                  f"{tuple(own[k].shape)}")
    model.load_state_dict(sd, strict=True)


def load_detector(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    classes: str | tuple[str, ...] | list[str] | None = None,
    conf_threshold: float | None = None,
    nms_iou: float | None = None,
    top_k: int | None = None,
    class_filter: tuple[int, ...] | None = None,
    clip_boxes: bool | None = None,
    fp16: bool = False,
    backend: str = "torch",
) -> Detector:
    """Load a project-format or reference-format checkpoint into a ready-to-step :class:`Detector`.

    classes: a preset name (``vid``, ``mot``, ``underwater``) or explicit names; must match the head size.
    The thresholds override the stored ones (project format) or the preset's reference settings.
    backend: the engine that runs the network (``torch``, ``onnxruntime``, ``auto``; tssd_ros.model.engine).
    Raises CheckpointError with one actionable line on any problem.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} not found; pass --weights PATH to a .pt/.pth checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure means the file is unusable
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path.name} is not a readable torch checkpoint ({msg})") from None
    if not isinstance(blob, Mapping):
        raise CheckpointError(f"{path.name}: expected a dict (project format or state_dict), got {type(blob).__name__}")
    if blob.get("format") == FORMAT:
        if int(blob.get("version", 0)) > VERSION:
            raise CheckpointError(f"{path.name} has format version {blob.get('version')}; update tssd_ros")
        try:
            cfg_dict = dict(blob["config"])
            sd = dict(blob["state_dict"])
            if int(blob.get("version", 0)) < 2 and cfg_dict.get("backbone") == "mobilenet_v1":
                cfg_dict["tf_padding"] = False  # version 1 MobileNets: symmetric padding, backbone.layers.N
                sd = {k.replace("backbone.layers.", "backbone.features.", 1): v for k, v in sd.items()}
            cfg = DetectorConfig.from_dict(cfg_dict)
            pre = PreprocessConfig.from_dict(dict(blob["preprocess"]))
            post = PostprocessConfig.from_dict(dict(blob["postprocess"]))
            stored = tuple(blob["class_names"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path.name}: malformed project checkpoint ({e})") from None
        ref = False
        meta = dict(blob.get("metadata", {}))
        names, _ = _resolve_classes(classes, cfg.num_classes - 1, stored, path)
    else:
        if not blob or not all(isinstance(v, torch.Tensor) for v in blob.values()):
            raise CheckpointError(f"{path.name}: neither a tssd_ros checkpoint nor a bare state_dict of tensors")
        sd = convert_reference_state_dict(blob)
        cfg = config_from_reference(sd)
        ref = True
        names, preset = _resolve_classes(classes, cfg.num_classes - 1, None, path)
        pre = PreprocessConfig()
        post = POSTPROCESS_PRESETS.get(preset or "vid", POSTPROCESS_PRESETS["vid"])
        meta = {"source": "reference state_dict", "file": path.name}
    _check_finite(sd, path)
    model = TSSD.empty(cfg)
    _load_into(model, sd, path, ref)
    changes = {k: v for k, v in dict(conf_threshold=conf_threshold, nms_iou=nms_iou, top_k=top_k,
                                     clip_boxes=clip_boxes).items() if v is not None}
    if class_filter is not None:
        changes["class_filter"] = tuple(int(c) for c in class_filter)
    import dataclasses

    post = dataclasses.replace(post, **changes)
    return Detector(model, names, pre, post, device, fp16=fp16, metadata=meta, backend=backend)
