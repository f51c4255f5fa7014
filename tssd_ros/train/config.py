"""``tssd train CONFIG.yaml``: the whole recipe of a training run as plain dataclasses read from YAML.

Why one file per run: the shipped weights, the test toy model and a user's retraining on their own footage are
the same trainer with different configs, so a run is reproducible from the repo (config + seed) and a long run
stopped halfway resumes from its run folder with the same recipe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.errors import InputError
from tssd_ros.model.config import DetectorConfig
from tssd_ros.paths import read_yaml

SOURCE_KINDS = ("coco", "yolo", "mot", "synth", "toy")
STAGE_KINDS = ("ssd", "tssd", "assoc")


@dataclass
class DataSource:
    """One data set. kind: ``coco`` (path = json, ``images`` = image root), ``yolo`` (path = image folder),
    ``mot`` (path = a sequence or a folder of them), ``synth`` (dives rendered once from ``seeds``) or ``toy``
    (the toy videos of the test detector, from ``seeds``).

    weight: share of the samples drawn from this source (relative to the others). class_map: source class
    name -> ours (or null to drop it). limit: first N images/sequences only. options: SynthConfig (synth) or
    ToyVideo (toy) keyword arguments (e.g. frames, preset / length, p_cut)."""

    kind: str
    path: str = ""
    images: str | None = None
    weight: float = 1.0
    class_map: dict[str, str | None] | None = None
    limit: int | None = None
    seeds: list[int] | str = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.seeds, str):  # "A..B": seeds A to B inclusive
            try:
                a, b = (int(v) for v in self.seeds.split(".."))
            except ValueError:
                raise InputError(f"seeds {self.seeds!r}: a list or a range 'A..B'") from None
            self.seeds = list(range(a, b + 1))
        if self.kind not in SOURCE_KINDS:
            raise InputError(f"data source kind must be one of {SOURCE_KINDS}, got {self.kind!r}")
        generated = self.kind in ("synth", "toy")
        if not generated and not self.path:
            raise InputError(f"data source {self.kind!r} needs a path")
        if generated and not self.seeds:
            raise InputError(f"a {self.kind} data source needs seeds: [..]")
        if not self.weight > 0:
            raise InputError(f"data source weight must be > 0, got {self.weight}")


@dataclass
class StageConfig:
    """One stage of the multi-step recipe.

    kind: ``ssd`` (stills, recurrent state zero every image; photometric distortion, expand, random crop,
    mirror), ``tssd`` (clips by random skip sampling; backbone frozen; RMSprop for the recurrent cells, SGD for
    the rest; attention loss where the unit has attention) or ``assoc`` (clips, adds the association loss of
    eq. 4). backbone_lr_mult: the backbone's share of ``lr`` (0.1 fine-tunes a pretrained backbone without
    wrecking its features). freeze_backbone_iters: the backbone stays frozen for the first N iterations, then
    trains (ignored when ``freeze_backbone``). clip_len: frames of a clip made from a still; seq_len: frames
    the network sees per clip (random skip sampling picks them from the clip). stream_episode: N > 0
    makes each batch slot follow one video for N iterations, ``seq_len`` consecutive frames each, with the
    recurrent state carried (detached) between iterations: the layers after the recurrent unit then learn the
    state statistics of a long stream, as the node runs it (truncated back-propagation through time).
    ema_decay: 0 (off) or the decay of an exponential moving average of the weights
    (:class:`~tssd_ros.train.ema.WeightEMA`, about the last ``1 / (1 - ema_decay)`` iterations); the stage's
    output and the next stage's start are the average.
    """

    name: str
    kind: str = "ssd"
    iters: int = 1000
    batch: int = 16
    seq_len: int = 6
    clip_len: int = 16
    lr: float = 1e-3
    lr_rnn: float | None = None
    backbone_lr_mult: float = 1.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: int = 100
    min_lr_ratio: float = 0.02
    freeze_backbone: bool = False
    freeze_backbone_iters: int = 0
    match_iou: float = 0.5
    ignore_iou: float | None = None
    neg_pos_ratio: float = 3.0
    min_neg: int = 0
    per_gt: int = 1
    loss_loc: float = 1.0
    loss_conf: float = 1.0
    loss_attention: float = 0.5
    loss_association: float = 2.0
    rnn_clip: float = 5.0
    grad_clip: float = 20.0
    augment: bool = True
    expand_max: float = 2.0
    still_clips_share: float = 0.5
    stream_episode: int = 0
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise InputError(f"stage {self.name!r}: kind must be one of {STAGE_KINDS}, got {self.kind!r}")
        for k in ("iters", "batch", "seq_len", "clip_len"):
            if int(getattr(self, k)) < 1:
                raise InputError(f"stage {self.name!r}: {k} must be >= 1")
        if not self.lr > 0:
            raise InputError(f"stage {self.name!r}: lr must be > 0")
        if self.stream_episode < 0:
            raise InputError(f"stage {self.name!r}: stream_episode must be >= 0")
        if self.stream_episode and self.kind == "ssd":
            raise InputError(f"stage {self.name!r}: stream_episode needs a temporal stage (tssd or assoc)")
        if not 0 <= self.ema_decay < 1:
            raise InputError(f"stage {self.name!r}: ema_decay must be in [0, 1) (0: off), got {self.ema_decay}")
        if not 0 <= self.still_clips_share <= 1:
            raise InputError(f"stage {self.name!r}: still_clips_share must be in [0, 1]")

    @property
    def temporal(self) -> bool:
        return self.kind != "ssd"


@dataclass
class RunConfig:
    """A training run: model, data, stages and where it writes (``out``: the run folder).

    val: still datasets (``coco`` / ``yolo``) scored after every stage on their first ``val_limit`` images
    (mAP@0.5 and @0.5:0.95 with the COCO evaluator, as ``tssd eval``), logged and kept in ``val.csv``.
    amp: bfloat16 autocast on CUDA. cpu_bf16: the same on a CPU that runs bfloat16 natively (AVX512-BF16 or
    AMX; elsewhere a logged fallback to float32): on the project's 2-core AMD EPYC a training step of the 576 px
    mobile SSD took 2.4x less time (benchmarks/bench_train.py) and a run's iteration, data loading included,
    2x less. Off by default, so a config trains the same way on every CPU unless it asks.
    """

    out: str
    model: dict[str, Any]
    data: list[DataSource]
    stages: list[StageConfig]
    classes: list[str] = field(default_factory=lambda: list(UNDERWATER_CLASSES))
    pretrained: str | None = None
    init: str | None = None  # a trained tssd_ros detector to start from (fine-tuning); replaces ``pretrained``
    val: list[DataSource] = field(default_factory=list)
    val_limit: int = 200
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    cpu_bf16: bool = False
    workers: int = 0
    threads: int | None = None
    checkpoint_minutes: float = 5.0
    postprocess: dict[str, Any] = field(
        default_factory=lambda: {"conf_threshold": 0.4, "nms_iou": 0.45, "top_k": 100})
    base_dir: str = "."

    def detector_config(self) -> DetectorConfig:
        try:
            return DetectorConfig.from_dict({**self.model, "num_classes": len(self.classes) + 1})
        except (TypeError, ValueError) as e:
            raise InputError(f"model: {e}") from None

    def resolve(self, p: str | None) -> Path | None:
        """A path in the config, relative to the config file's folder."""
        if p is None:
            return None
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(self.base_dir) / q

    @property
    def out_dir(self) -> Path:
        out = self.resolve(self.out)
        assert out is not None
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise InputError(f"{where}: expected a mapping, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    try:
        return cls(**d)
    except TypeError as e:
        raise InputError(f"{where}: {e}") from None


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Parse a training YAML (paths in it are relative to its folder); ``overrides`` replace top-level keys."""
    path = Path(path)
    return run_config_from_dict(read_yaml(path, "training config"), path.parent, overrides)


def run_config_from_dict(doc: Any, base_dir: str | Path = ".", overrides: dict[str, Any] | None = None
                         ) -> RunConfig:
    if not isinstance(doc, dict):
        raise InputError("a training config is a YAML mapping (out, model, data, stages, ...)")
    doc = {**doc, **(overrides or {})}
    for key in ("out", "model", "data", "stages"):
        if key not in doc:
            raise InputError(f"training config needs '{key}'")
    doc["data"] = [_build(DataSource, d, f"data[{i}]") for i, d in enumerate(doc["data"] or [])]
    doc["val"] = [_build(DataSource, d, f"val[{i}]") for i, d in enumerate(doc.get("val") or [])]
    doc["stages"] = [_build(StageConfig, d, f"stages[{i}]") for i, d in enumerate(doc["stages"] or [])]
    bad = [v.kind for v in doc["val"] if v.kind not in ("coco", "yolo")]
    if bad:
        raise InputError(f"val sources are still datasets (coco or yolo), got {bad}; score videos with `tssd eval`")
    limit = doc.get("val_limit", 200)
    if not isinstance(limit, int) or limit < 1:
        raise InputError(f"val_limit must be an integer >= 1, got {limit!r}")
    if not doc["data"] or not doc["stages"]:
        raise InputError("training config needs at least one data source and one stage")
    names = [s.name for s in doc["stages"]]
    if len(set(names)) != len(names):
        raise InputError(f"stage names must be unique, got {names}")
    doc.setdefault("base_dir", str(base_dir))
    cfg = _build(RunConfig, doc, "config")
    cfg.detector_config()  # fail now, not after an hour of training
    return cfg
