"""One pipeline object (detector + OTA tracker + dive counter) shared by tssd_node and the offline tools.

Why one object: the live node, ``tssd detect`` and the bag replay must give the same answers for the same
frames, so the rules that are easy to get subtly different live here and only here:

* the temporal state (the detector's recurrent state and OTA's tubelets) persists from frame to frame while
  the stream is continuous, and is reset when time goes backwards (a bag loops), when the gap since the
  last frame exceeds ``max_gap_s``, or when the image size changes; identities keep growing across resets;
* counts survive those resets; only :meth:`reset_counts` clears them;
* an identity is published only once confirmed (``min_hits`` matches), so a flicker never reaches a
  consumer;
* boxes scoring between ``track_threshold`` and the detector's ``conf_threshold`` are tracking evidence only
  (ByteTrack's low-score boxes): OTA may extend a track with them (never start one, ``ota_G``), and they are
  published only when they carry a confirmed identity. A blurred or half-hidden frame then keeps the
  individual's identity instead of splitting it, without showing operators every faint box.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tssd_ros.errors import InputError
from tssd_ros.params import class_filter_indices, load_params, ota_changes_from_params
from tssd_ros.tracking.counting import DiveCounter
from tssd_ros.tracking.ota import OTAConfig, OTATracker, Track
from tssd_ros.types import Detections


class StreamingDetector(Protocol):
    """What the pipeline needs from a detector (``tssd_ros.model.load_detector`` returns one)."""

    class_names: tuple[str, ...]

    def step(self, bgr: np.ndarray) -> Detections: ...

    def reset(self) -> None: ...


@dataclass
class PipelineConfig:
    """Stream-continuity rules. max_gap_s: a larger gap between frame stamps starts a new stream.
    count_min_hits: matches before an identity is counted (0 or below the tracker's min_hits: min_hits);
    identities are published at min_hits, counted on more evidence, since a split identity is a double count.
    track_threshold: the detector runs down to this score and boxes below its ``conf_threshold`` only extend
    confirmed identities (module doc); None, or not below ``conf_threshold``: off."""

    max_gap_s: float = 1.0
    track: bool = True
    count_min_hits: int = 0
    track_threshold: float | None = None


@dataclass
class FrameResult:
    """Everything published for one frame."""

    detections: Detections
    track_ids: np.ndarray  # (N,) int64, -1 = no identity
    confirmed: np.ndarray  # (N,) bool
    tracks: list[Track]
    counts: dict[str, tuple[int, int]]  # class -> (cumulative unique, confirmed in view now)
    reset_reason: str | None = None
    inference_s: float = 0.0
    tracking_s: float = 0.0

    def published_ids(self) -> list[int | None]:
        """Identity per detection as consumers see it: confirmed ids only, else None."""
        pairs = zip(self.track_ids, self.confirmed, strict=True)
        return [int(t) if (t >= 0 and c) else None for t, c in pairs]


@dataclass
class _StreamState:
    last_stamp: float | None = None
    last_shape: tuple[int, int] | None = None
    resets: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """detector.step -> OTA update -> counter update, with the stream-continuity rules above."""

    def __init__(
        self,
        detector: StreamingDetector,
        ota: OTAConfig | None = None,
        counter: DiveCounter | None = None,
        config: PipelineConfig | None = None,
    ) -> None:
        self.detector = detector
        self.config = config or PipelineConfig()
        self.ota_config = ota or OTAConfig()
        self.tracker = OTATracker(self.ota_config)
        names = tuple(detector.class_names)
        self.counter = counter or DiveCounter(names, min_hits=self.ota_config.min_hits)
        for n in names:  # a restored counter from another model still shows every class
            self.counter.counted_ids.setdefault(n, set())
        self.counter.min_hits = self.count_min_hits
        self.tracker.next_id = max(self.tracker.next_id, self.counter.next_id)
        self._stream = _StreamState()
        self._report_threshold: float | None = None
        post = getattr(detector, "postprocess", None)
        if post is not None:
            self.set_thresholds(conf_threshold=float(post.conf_threshold))
        self.params: dict[str, Any] = {}  # the parameters it was built from (from_params)

    @classmethod
    def from_params(cls, params: str | Path | dict[str, Any] | None = None, **overrides: Any) -> Pipeline:
        """The pipeline ``tssd_node`` runs for these parameters: a ROS params YAML (``config/tssd.yaml``) or a
        dict, with ``overrides`` (e.g. ``weights=``, ``conf_threshold=``; None = keep) on top; the dive
        counter restored from ``counts_file`` when set. The offline tools build theirs here, so their answers
        are the node's for the same parameters."""
        import torch

        from tssd_ros.model import load_detector
        from tssd_ros.paths import resolve_data_path

        p = load_params(params, **overrides)
        if str(p["device"]).startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {p['device']}: CUDA is not available here; use cpu")
        if p["threads"] > 0:
            torch.set_num_threads(int(p["threads"]))
        det = load_detector(resolve_data_path(p["weights"]), device=p["device"],
                            classes=p["classes_preset"] or None, fp16=p["fp16"], backend=p["backend"],
                            conf_threshold=p["conf_threshold"], nms_iou=p["nms_iou"], top_k=p["top_k"])
        if det.backend == "onnxruntime":
            # ONNX Runtime has its threads (torch's count at its creation); torch is left with post-processing
            # on small tensors, where its idle OpenMP workers would spin on the cores ONNX Runtime needs
            # (measured on 2 cores: Detector.step 11.2 -> 9.9 ms with torch on one thread)
            torch.set_num_threads(1)
        det.set_postprocess(class_filter=class_filter_indices(p["class_filter"], det.class_names),
                            cross_class_iou=float(p["cross_class_iou"]))
        ota = OTAConfig(**ota_changes_from_params(p))
        counter = DiveCounter.load_or_new(p["counts_file"], det.class_names, ota.min_hits) if p["counts_file"] \
            else None
        pipe = cls(det, ota, counter, PipelineConfig(max_gap_s=p["max_gap_s"], count_min_hits=p["count_min_hits"],
                                                     track_threshold=p["track_threshold"]))
        pipe.params = p
        return pipe

    @property
    def count_min_hits(self) -> int:
        """Matches before an identity is counted: ``config.count_min_hits``, never below the tracker's min_hits."""
        return max(int(self.config.count_min_hits), int(self.ota_config.min_hits))

    def warm_up(self, shape: tuple[int, int] = (480, 640)) -> None:
        """One detector step on a blank frame, then a clean state: the first inference pays for lazy
        initialisation (allocations, kernel selection), which would otherwise make the first camera frame late
        and drop the next one. Tubelets and counts are not touched."""
        self.detector.step(np.zeros((*shape, 3), np.uint8))
        self.detector.reset()

    @property
    def conf_threshold(self) -> float | None:
        """The score above which every box is published (the detector's ``conf_threshold`` parameter; the
        detector itself may run lower, down to ``track_threshold``); None for a detector without one."""
        return self._report_threshold

    def set_thresholds(self, conf_threshold: float | None = None, track_threshold: float | None = None) -> None:
        """Change the published threshold and/or the tracking-evidence threshold (None = keep); the detector
        runs at the lower of the two."""
        if track_threshold is not None:
            self.config.track_threshold = float(track_threshold)
        if conf_threshold is not None:
            self._report_threshold = float(conf_threshold)
        if self._report_threshold is None:
            return
        low = self._low_threshold()
        self.detector.set_postprocess(conf_threshold=self._report_threshold if low is None else low)  # type: ignore[attr-defined]

    def _low_threshold(self) -> float | None:
        """The detector's threshold when low-score boxes are tracking evidence, else None."""
        t, c = self.config.track_threshold, self._report_threshold
        return None if t is None or c is None or t >= c else float(t)

    def set_count_min_hits(self, value: int) -> None:
        self.config.count_min_hits = int(value)
        self.counter.min_hits = self.count_min_hits

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.detector.class_names)

    @property
    def resets(self) -> dict[str, int]:
        """How often each reset reason fired (for diagnostics)."""
        return dict(self._stream.resets)

    # -- state -----------------------------------------------------------------------------------
    def reset(self, reason: str = "manual") -> None:
        """Start a new stream: zero recurrent state, drop tubelets; counts and the id counter persist."""
        self.detector.reset()
        next_id = self.tracker.next_id
        self.tracker.reset()
        self.tracker.next_id = max(next_id, self.counter.next_id)
        self._stream.last_stamp = None
        self._stream.last_shape = None
        self._stream.resets[reason] = self._stream.resets.get(reason, 0) + 1

    def reset_counts(self) -> None:
        """Start a new count (new dive or transect); identities stay unique."""
        self.counter.reset_counts()

    def set_ota(self, **changes: Any) -> None:
        """Change OTA parameters at runtime without losing tubelets (validated by OTAConfig)."""
        cfg = OTAConfig(**{**self.ota_config.__dict__, **changes})
        relayout = cfg.tub_len != self.ota_config.tub_len
        self.ota_config = cfg
        self.tracker.config = cfg
        self.counter.min_hits = self.count_min_hits
        if relayout:  # tubelet storage is sized by tub_len: start the tubelets afresh
            self.reset("ota_tub_len")

    def save_counts(self, path: str | Path) -> None:
        self.counter.next_id = max(self.counter.next_id, self.tracker.next_id)
        self.counter.save(path)

    @property
    def ids_unsaved(self) -> bool:
        """The tracker has issued an identity the counts file does not yet cover (``DiveCounter.id_limit``):
        save before publishing it, so that a restart after a crash never issues it again."""
        return self.tracker.next_id > self.counter.id_limit

    # -- frames ----------------------------------------------------------------------------------
    def _continuity(self, shape: tuple[int, int], stamp: float) -> str | None:
        st = self._stream
        if st.last_stamp is None:
            return None
        if stamp < st.last_stamp:
            return "time_backwards"
        if stamp - st.last_stamp > self.config.max_gap_s:
            return "gap"
        if shape != st.last_shape:
            return "image_size"
        return None

    def process(self, bgr: np.ndarray, stamp: float) -> FrameResult:
        """One frame with its capture time (header stamp, seconds)."""
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[0] == 0 or bgr.shape[1] == 0:
            raise InputError(f"expected an HxWx3 BGR image, got shape {bgr.shape}")
        if bgr.dtype != np.uint8:
            raise InputError(f"expected uint8 pixels, got {bgr.dtype}")
        shape = (int(bgr.shape[0]), int(bgr.shape[1]))
        reason = self._continuity(shape, stamp)
        if reason:
            self.reset(reason)
        t0 = time.perf_counter()
        dets = self.detector.step(bgr)
        t1 = time.perf_counter()
        n = len(dets)
        track_ids = np.full(n, -1, np.int64)
        confirmed = np.zeros(n, bool)
        tracks: list[Track] = []
        if self.config.track:
            tracks = self.tracker.update(dets, stamp, frame=bgr)
            labels = dets.labels
            for t in tracks:
                if t.det_index >= 0:
                    track_ids[t.det_index] = t.track_id
                    confirmed[t.det_index] = t.confirmed
                    if t.label != labels[t.det_index]:  # an identity keeps its class (OTAConfig.cross_class_match)
                        labels = labels.copy() if labels is dets.labels else labels
                        labels[t.det_index] = t.label
            if labels is not dets.labels:
                dets = replace(dets, labels=labels)
            self.counter.update(tracks, next_id=self.tracker.next_id, stamp=stamp)
        if self._low_threshold() is not None:  # faint boxes: published only with a confirmed identity (none
            # when tracking is off)
            keep = (dets.scores > self._report_threshold) | confirmed
            if not keep.all():
                dets, track_ids, confirmed, tracks = _select(keep, dets, track_ids, confirmed, tracks)
        t2 = time.perf_counter()
        self._stream.last_stamp = stamp
        self._stream.last_shape = shape
        return FrameResult(dets, track_ids, confirmed, tracks, self.counts(), reason, t1 - t0, t2 - t1)

    def process_stream(self, frames: Iterable[Any]) -> Iterator[tuple[Any, FrameResult | None]]:
        """Frames with ``.image`` (BGR, or None when it did not decode) and ``.stamp`` -> ``(frame, result)``;
        a bad frame gives ``(frame, None)`` and the stream goes on, as the node drops a bad frame. The one
        loop behind ``tssd replay`` and ``tssd demo``."""
        for fr in frames:
            if fr.image is None:
                yield fr, None
                continue
            try:
                yield fr, self.process(fr.image, fr.stamp)
            except InputError as e:
                fr.error = fr.error or str(e)
                yield fr, None

    def counts(self) -> dict[str, tuple[int, int]]:
        """class -> (cumulative unique individuals, confirmed individuals in view now)."""
        snap = self.counter.snapshot()
        return {c: (v["total"], v["in_view"]) for c, v in snap.items()}


def _select(keep: np.ndarray, dets: Detections, track_ids: np.ndarray, confirmed: np.ndarray,
            tracks: list[Track]) -> tuple[Detections, np.ndarray, np.ndarray, list[Track]]:
    """The kept detections, their ids and tracks (``det_index`` renumbered)."""
    new_index = np.cumsum(keep) - 1
    kept = []
    for t in tracks:
        if t.det_index >= 0 and keep[t.det_index]:
            t.det_index = int(new_index[t.det_index])
            kept.append(t)
    return dets.select(keep), track_ids[keep], confirmed[keep], kept
