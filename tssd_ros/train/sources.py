"""Training data from a run config: still collections and videos, mixed by weight, as torch datasets.

Why index-addressed samples: item ``k`` of a stage is drawn from a generator seeded by ``(seed, stage, k)``, so
the data order does not depend on data-loader workers, the number of GPUs or where a resumed run restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tssd_ros.data.dataset import target_dict, to_tensor
from tssd_ros.data.rss import rss_indices
from tssd_ros.data.sequence import FrameTargets, VideoSequence
from tssd_ros.errors import InputError
from tssd_ros.train.augment import SSDAugment
from tssd_ros.train.config import DataSource, RunConfig, StageConfig

Preprocess = Callable[[np.ndarray], np.ndarray]


def load_source(src: DataSource, cfg: RunConfig, cache_dir: Path | None = None) -> tuple[str, list]:
    """``("stills", [StillImages])`` or ``("video", [VideoSequence, ...])`` for one data source."""
    names = tuple(cfg.classes)
    path = cfg.resolve(src.path) if src.path else None
    if src.kind in ("coco", "yolo"):
        from tssd_ros.data.stills import load_coco, load_yolo

        assert path is not None  # DataSource requires a path for stills
        if src.kind == "coco":
            coll = load_coco(path, cfg.resolve(src.images), names, src.class_map)
        else:
            coll = load_yolo(path, class_names=names, class_map=src.class_map)
        return "stills", [coll if src.limit is None else coll.subset(range(min(src.limit, len(coll))))]
    if src.kind == "mot":
        from tssd_ros.data.mot import find_mot_sequences, load_mot_sequence

        seqs = [load_mot_sequence(r, names) for r in find_mot_sequences(path)][: src.limit]
        return "video", seqs
    if src.kind == "toy":
        from tssd_ros.train.toy import ToyVideo

        try:
            return "video", [ToyVideo(int(seed), **src.options) for seed in src.seeds[: src.limit]]
        except TypeError as e:
            raise InputError(f"toy options: {e}") from None
    return "video", synth_dives(src, cache_dir or cfg.out_dir / "synth", names)


def synth_dives(src: DataSource, cache: Path, names: tuple[str, ...]) -> list[VideoSequence]:
    """Render the source's dives once into ``cache`` (MOT layout) and load them like any footage."""
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.data.synth import SynthConfig

    seqs = []
    for seed in src.seeds[: src.limit]:
        try:
            scfg = SynthConfig(seed=int(seed), **src.options)
        except TypeError as e:
            raise InputError(f"synth options: {e}") from None
        key = "_".join(f"{k}{v}" for k, v in sorted(src.options.items()))
        root = cache / f"dive_{seed}{'_' + key if key else ''}"
        if not (root / "seqinfo.ini").is_file():
            write_dive(root, scfg, force=True, progress=False)
        seqs.append(load_mot_sequence(root, names))
    return seqs


class DataMix:
    """The loaded sources of a run: still collections and videos with their weights."""

    def __init__(self, sources: Sequence[DataSource], cfg: RunConfig) -> None:
        self.stills: list[tuple[object, float]] = []
        self.videos: list[tuple[VideoSequence, float]] = []
        for src in sources:
            kind, items = load_source(src, cfg)
            for it in items:
                if len(it) == 0:
                    continue
                (self.stills if kind == "stills" else self.videos).append((it, src.weight / len(items)))
        if not self.stills and not self.videos:
            raise InputError("the training data holds no images")

    def _pick(self, pool: list, r: np.random.Generator) -> object:
        w = np.array([p[1] for p in pool], np.float64)
        return pool[int(r.choice(len(pool), p=w / w.sum()))][0]

    def still(self, r: np.random.Generator) -> tuple[np.ndarray, FrameTargets]:
        """One random image (a still, or a frame of a video) by source weight."""
        pool = self.stills + self.videos
        coll = self._pick(pool, r)
        i = int(r.integers(len(coll)))  # type: ignore[arg-type]
        return coll.image(i), coll.targets(i)  # type: ignore[attr-defined]

    def clip_source(self, r: np.random.Generator, still_share: float, clip_len: int) -> VideoSequence:
        """A video to sample a clip from: a real video, or (share ``still_share``, or always without videos) a
        moving-camera clip made from a random still."""
        if self.stills and (not self.videos or r.random() < still_share):
            from tssd_ros.data.still_clips import StillClip

            coll = self._pick(self.stills, r)
            i = int(r.integers(len(coll)))  # type: ignore[arg-type]
            return StillClip(coll.image(i), coll.targets(i), clip_len, seed=int(r.integers(1 << 31)))  # type: ignore[attr-defined]
        return self._pick(self.videos, r)  # type: ignore[return-value]


def _clean(t: FrameTargets, min_size: float = 2.0) -> FrameTargets:
    wh = t.boxes[:, 2:] - t.boxes[:, :2]
    return t.select(~t.ignore & (wh.min(1) >= min_size)) if len(t) else t


def stream_episode(stage: StageConfig, it: int, slot: int, world: int = 1) -> tuple[int, int]:
    """(episode, position in it) of a batch slot at an iteration; slots start their episodes staggered so that
    a batch always mixes fresh and long-running states."""
    e = stage.stream_episode
    t = it + (slot * e) // (stage.batch * world)
    return t // e, t % e


class StageDataset(Dataset):
    """Item ``k`` of a stage: a still (``ssd``) or a clip of ``seq_len`` frames (temporal stages)."""

    def __init__(self, mix: DataMix, stage: StageConfig, stage_index: int, preprocess: Preprocess, seed: int,
                 length: int, world: int = 1) -> None:
        self.mix, self.stage, self.pre, self.world = mix, stage, preprocess, world
        self.seed = [int(seed), int(stage_index)]
        self.length = length
        self.augment = SSDAugment(seed, stage.expand_max) if stage.augment else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[torch.Tensor, object]:
        r = np.random.default_rng([*self.seed, int(k)])
        if not self.stage.temporal:
            img, t = self.mix.still(r)
            t = _clean(t)
            labels = t.labels
            boxes = t.boxes
            if self.augment is not None:
                img, boxes, labels = self.augment(img, boxes, labels, key=int(r.integers(1 << 62)))
            n = len(boxes)
            t = FrameTargets(np.asarray(boxes, np.float32).reshape(n, 4), np.asarray(labels, np.int64),
                             np.arange(n, dtype=np.int64), np.ones(n, np.float32), np.zeros(n, bool))
            h, w = img.shape[:2]
            return to_tensor(img, self.pre), target_dict(t, w, h, min_visibility=0.0, min_size=2.0)
        if self.stage.stream_episode:
            seq, idx = self._stream_frames(k)
        else:
            seq = self.mix.clip_source(r, self.stage.still_clips_share, self.stage.clip_len)
            idx = rss_indices(len(seq), self.stage.seq_len, r)
        frames, targets = [], []
        for i in idx.tolist():
            img = seq.image(i)
            h, w = img.shape[:2]
            frames.append(to_tensor(img, self.pre))
            targets.append(target_dict(seq.targets(i), w, h, min_visibility=0.25, min_size=2.0))
        return torch.stack(frames), targets

    def _stream_frames(self, k: int) -> tuple[VideoSequence, np.ndarray]:
        """The next ``seq_len`` frames of the video this slot follows in this episode."""
        j, rank = divmod(int(k), self.world)
        it, b = divmod(j, self.stage.batch)
        slot = b * self.world + rank
        episode, pos = stream_episode(self.stage, it, slot, self.world)
        r = np.random.default_rng([*self.seed, 1 << 20, slot, episode])
        n = self.stage.stream_episode * self.stage.seq_len
        seq = self.mix.clip_source(r, self.stage.still_clips_share, n)
        skip = int(r.integers(1, max(1, len(seq) // n) + 1))
        start = int(r.integers(0, len(seq)))
        return seq, (start + skip * (pos * self.stage.seq_len + np.arange(self.stage.seq_len))) % len(seq)
