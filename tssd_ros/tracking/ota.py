"""Online Tubelet Analysis (OTA, TSSD-OTA paper Algorithm 1, eqs. 6-7): identities from per-class tubelets.

Why: an ROV counts individuals and locks grasp targets, so every detection needs a stable identity. OTA
links a detection to the tubelet of its class whose newest box overlaps it and whose stored attention
vectors look like it: ``S = exp(IoU) * mean_k cos(v_det, v_k)`` (eq. 7, the mean cosine being eq. 6).

Pure numpy, no I/O, no rclpy; a tracker is an object with ``update(detections) -> tracks`` and ``reset()``
(the Roboflow ``trackers`` style) so the ROS node, the bag replay and ``tssd track`` share it.

Modes (``OTAConfig.mode``):

* ``attention`` (the paper): ``S = exp(IoU(det, newest box)) * mean cos``; default ``T = 1.0``, which needs
  some overlap *and* similar appearance (``exp(IoU) >= 1`` and ``mean cos <= 1``).
* ``iou`` (the paper's ablation, Table IV): box term alone. ``iou_term="linear"`` (default): ``S = IoU``,
  default ``T = 0.3``; ``iou_term="exp"``: ``S = exp(IoU)``, default ``T = exp(0.3)`` (the same gate;
  note that ``T = 1.0`` would accept *any* overlap).
* ``motion`` (default): the paper's S with the box term against each tubelet's predicted box, because the
  ROV moves and the scene scrolls: a constant-velocity Kalman filter per tubelet (dt from time stamps, so
  dropped frames only lengthen dt) plus camera-motion compensation (the frame passed to ``update``, else
  the matched boxes), ByteTrack's two stages by score, appearance as a gate and tie-breaker
  (``motion_appearance``), and re-identification of tubelets lost for up to ``reid_max_age_s``
  (tssd_ros.tracking.motion). ``T`` is the IoU gate (default 0.3).

Scores: ``G`` and ``low_score`` apply to normalised scores, ``score / scale``, so detectors scoring outside
[0, 1] (MOT public detections reach 133) work: ``score_scale > 0`` fixes the scale; 0 (default) reads it from
the stream (tssd_ros.tracking.scale).

Lifetime (the reference's countdown: reset to 11 on a match, decremented every frame, deleted at 0): a
tubelet can be matched at frame ``k`` iff ``k - last_match_frame <= max_age_frames`` and
``t_k - last_match_time <= max_age_s``; i.e. with ``max_age_frames = 10`` (the paper's modes; 30 in the motion
mode) it survives up to 9 missed
frames, may be matched again on the 10th, and is deleted at the end of the 10th unmatched frame. The time
rule is checked before matching, so a long gap (dropped frames on a robot) kills it even after one frame.
In the motion mode "deleted" means moved to the lost pool, from which only re-identification brings it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tssd_ros.boxes import box_iou
from tssd_ros.errors import InputError, TssdError
from tssd_ros.tracking.association import assign_greedy, assign_hungarian, associate_paper, unit_rows
from tssd_ros.tracking.motion import MotionAssociation
from tssd_ros.tracking.scale import ScoreScale
from tssd_ros.tracking.store import TubeletStore
from tssd_ros.tracking.track import Track, detection_tracks, living_tracks
from tssd_ros.types import Detections

__all__ = ["ASSIGNMENTS", "OTA_MODES", "OTAConfig", "OTATracker", "Track", "assign_greedy", "assign_hungarian",
           "box_iou", "unit_rows"]

Mode = Literal["attention", "iou", "motion"]
Assignment = Literal["greedy", "hungarian"]
OTA_MODES: tuple[str, ...] = ("attention", "iou", "motion")
ASSIGNMENTS: tuple[str, ...] = ("greedy", "hungarian")
IoUTerm = Literal["exp", "linear"]

#: IoU gate used by the box-only modes (SORT's usual value).
DEFAULT_IOU_GATE = 0.3
#: frames a motion-mode tubelet lives unmatched (its filter still predicts it; then the lost pool, reid_max_age_s).
#: Training-range synthetic dives (run-5 detector): 10 -> 30 frames, ID switches 41 -> 36, ids per identity 1.25 ->
#: 1.22, count error 17 % -> 14 %, HOTA 0.533 -> 0.536; a simulated 30 fps pedestrian crowd: IDF1 +0.03.
MOTION_MAX_AGE = 30


@dataclass
class OTAConfig:
    """OTA settings: the paper's MOT15 setting (T = 1.0, tub_len = 10) with the ``motion`` mode (the paper's S
    against a constant-velocity prediction: +12 HOTA over ``attention`` on scrolling scenes,
    benchmarks/bench_tracker.py); these defaults are the node's and config/tssd.yaml's (tssd_ros.params).
    G = 0.45 (paper 0.3), min_hits = 3 (5) and reid_max_age_s = 1.5 (3) were tuned with the shipped detector on
    training-range synthetic dives (seeds 501-503) and URPC2020 valid clips (benchmarks/tune_tracker.py): with the
    run-3 detector ID switches 120 -> 79, HOTA 0.440 -> 0.456 (G 0.5); with run 4, G 0.5 -> 0.55: predicted ids per
    true identity 1.61 -> 1.51, count error 0.238 -> 0.217. With run 6, which scores the weak classes lower, G
    0.55 -> 0.45: URPC clips count error 39 % -> 20 %, HOTA 0.459 -> 0.468, IDF1 0.568 -> 0.592; dives HOTA 0.560
    -> 0.562, ID switches 29 -> 28, count error 16 % -> 17 %.

    T: match when S > T; None = per-mode default (see module doc).
    G: an unmatched detection with normalised score > G starts a tubelet; others get no identity (-1).
        In the motion mode G is also ByteTrack's high/low split: above G first stage, else second.
    tub_len: rows (box, time, attention vector) kept per tubelet, newest first.
    max_age_frames / max_age_s: lifetime without a match, in frames and seconds (max_age_s None = off);
        max_age_frames None = the mode's: 10 (the reference's countdown) in ``attention`` and ``iou``,
        ``MOTION_MAX_AGE`` (30) in ``motion``, where an unmatched tubelet is still predicted by its filter.
    min_hits: a tubelet is ``confirmed`` (and counted by DiveCounter) once matched this many times
        including its birth.
    assignment: ``greedy`` = the paper (each detection takes its best tubelet; duplicate claims go to
        the highest S, the losers are unmatched); ``hungarian`` = maximum of sum(S - T) over gated pairs.
    missing_attention: what ``attention`` (and ``motion`` with appearance) do when detections carry no
        attention vectors: ``raise`` an InputError, or ``iou``: use the box term alone for that frame.
    fps: frame rate assumed when ``update`` gets no timestamp (drives velocity in px/s and max_age_s).
    motion_window: rows of the least-squares velocity reported in ``Track.velocity`` (attention and iou modes;
        the motion mode reports its Kalman filter's, already estimated).
    Motion mode only (tssd_ros.tracking.motion):
    low_score: normalised score above which a detection may extend a track in the second stage.
    score_scale: scores are divided by it before G and low_score apply; 0 = from the scores seen (module doc).
    app_gate: attention cosine below which a pair never matches (motion_appearance).
    reid_max_age_s: seconds a lost tubelet can take its identity back (0 = no re-identification).
    reid_cos: attention cosine needed to re-identify (without vectors: IoU with the prediction > T).
    birth_cover: a high-score detection lying inside a box of its class that took an identity this frame by
        more than this fraction of its own area starts no tubelet (1.0 = off): it is a second box on that
        individual (a part, or NMS's leftover), and a tubelet born from it takes the individual's identity over
        a few frames later. On training-range synthetic dives (run-4 detector, 0.5): ID switches 67 -> 46,
        ids per true identity 1.40 -> 1.30, HOTA unchanged. A tentative tubelet matched to such a box gets no
        hit (it confirms only once on its own). In crowds of one class (pedestrians) it delays
        the birth of a half-hidden individual until it emerges.
    cross_class_cover: the same rule for a box inside a box of *another* class (one animal boxed as two classes:
        a scallop box on a sea cucumber, an urchin and a scallop box on one urchin). Real animals of different
        classes rarely lie that far inside each other: of the 31,939 URPC2020 train boxes, 0.38 % lie more than
        0.6 of their area inside one box of another class (0.12 % > 0.8, 0.64 % > 0.5); a starfish over a
        tracked scallop is still born (its own area is mostly outside the scallop's box). 1.0 = off. With
        cross_class_match on, 0.8 -> 0.6 on training-range synthetic dives (run-6 detector): ID switches
        29 -> 17, ids per true identity 1.13 -> 1.11, IDF1 0.706 -> 0.714; URPC valid clips unchanged. With run 8
        ("cross_class_cover 0.8" in tracker_tuning.md): count error 11 % -> 10 %, ID switches 21 -> 20.
    cross_class_match: IoU with a tubelet's prediction above which a detection of another class may continue it
        (the detector flips between look-alike classes on one animal); a detection of the tubelet's own class
        always takes it first, and the tubelet's class is the score-weighted vote of its detections. 1.0 = off
        (per-class tubelets, as the paper). Training-range synthetic dives (run-6 detector), 1.0 -> 0.3: count
        error 17 % -> 15 %, ids per true identity 1.14 -> 1.13, HOTA 0.562 -> 0.563, ID switches 28 -> 29; URPC
        valid clips: count error 20 % -> 19 %, HOTA and ids per identity unchanged (one class per
        animal there, mostly). With run 8 (benchmarks/results/tracker_tuning.md, "cross_class_match 1.0"): dives
        count error 14 % -> 10 %, ID switches 23 -> 20, HOTA 0.575 -> 0.579; clips unchanged.
    cmc: compensate camera motion (from frames given to ``update``, else from the matched boxes). Off by
        default: on training-range synthetic dives with the shipped detector it cost 1.1 HOTA, 2.5 IDF1 and 33
        more ID switches (0.413 / 0.504 / 148 with it, 0.424 / 0.529 / 115 without).
    """

    mode: Mode = "motion"
    T: float | None = None
    G: float = 0.45
    tub_len: int = 10
    max_age_frames: int | None = None
    max_age_s: float | None = 2.0
    min_hits: int = 3
    assignment: Assignment = "greedy"
    iou_term: IoUTerm | None = None
    motion_appearance: bool = True
    motion_window: int = 5
    missing_attention: Literal["raise", "iou"] = "raise"
    fps: float = 30.0
    low_score: float = 0.1
    score_scale: float = 0.0
    app_gate: float = 0.2
    reid_max_age_s: float = 1.5
    reid_cos: float = 0.6
    cmc: bool = False
    birth_cover: float = 0.5
    cross_class_cover: float = 0.6
    cross_class_match: float = 0.3

    def __post_init__(self) -> None:
        checks = [
            (self.mode in OTA_MODES, f"unknown mode {self.mode!r}"),
            (self.assignment in ASSIGNMENTS, f"unknown assignment {self.assignment!r}"),
            (self.iou_term in (None, "exp", "linear"), f"iou_term must be exp|linear: {self.iou_term!r}"),
            (self.missing_attention in ("raise", "iou"), "missing_attention must be raise|iou"),
            (self.tub_len >= 1, f"tub_len must be >= 1: {self.tub_len}"),
            (self.max_age_frames is None or self.max_age_frames >= 1,
             f"max_age_frames must be >= 1 or None: {self.max_age_frames}"),
            (self.max_age_s is None or self.max_age_s > 0, f"max_age_s must be >0|None: {self.max_age_s}"),
            (self.min_hits >= 1, f"min_hits must be >= 1: {self.min_hits}"),
            (self.motion_window >= 2, f"motion_window must be >= 2: {self.motion_window}"),
            (self.fps > 0, f"fps must be > 0: {self.fps}"),
            (0 <= self.low_score <= self.G, f"low_score must be in [0, G]: {self.low_score}"),
            (self.score_scale >= 0, f"score_scale must be >= 0: {self.score_scale}"),
            (self.reid_max_age_s >= 0, f"reid_max_age_s must be >= 0: {self.reid_max_age_s}"),
            (0 <= self.birth_cover <= 1, f"birth_cover must be in [0, 1]: {self.birth_cover}"),
            (0 <= self.cross_class_cover <= 1, f"cross_class_cover must be in [0, 1]: {self.cross_class_cover}"),
            (0 <= self.cross_class_match <= 1, f"cross_class_match must be in [0, 1]: {self.cross_class_match}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise TssdError(f"OTAConfig: {msg}")

    def age_limit(self) -> int:
        """max_age_frames in effect: the reference's 10 in the paper's modes, MOTION_MAX_AGE in the motion mode."""
        if self.max_age_frames is not None:
            return int(self.max_age_frames)
        return MOTION_MAX_AGE if self.mode == "motion" else 10

    def covers(self) -> bool:
        """Whether the second-box rules (birth_cover, cross_class_cover) are on."""
        return self.birth_cover < 1.0 or self.cross_class_cover < 1.0

    def uses_appearance(self) -> bool:
        """Whether the mode multiplies the box term by the attention-vector similarity."""
        return self.mode == "attention" or (self.mode == "motion" and self.motion_appearance)

    def resolve(self, appearance: bool) -> tuple[IoUTerm, float]:
        """(iou_term, T) in effect for a frame with/without the appearance factor (module doc)."""
        if self.mode == "motion":  # IoU gate; appearance enters as a gate and tie-breaker
            return "linear", DEFAULT_IOU_GATE if self.T is None else float(self.T)
        term: IoUTerm = self.iou_term or ("exp" if appearance else "linear")
        if self.T is not None:
            return term, float(self.T)
        if term == "exp":
            return term, 1.0 if appearance else math.exp(DEFAULT_IOU_GATE)
        return term, DEFAULT_IOU_GATE


class OTATracker:
    """OTA identity tracker (see module doc). ``update`` returns one Track per detection, in input order."""

    def __init__(self, config: OTAConfig | None = None) -> None:
        self.config = config or OTAConfig()
        self._next_id = 0
        self._motion = MotionAssociation()
        self.reset()

    # -- identities -------------------------------------------------------------------------------
    @property
    def next_id(self) -> int:
        """The identity the next new tubelet gets (global across classes, never reused in a run)."""
        return self._next_id

    @next_id.setter
    def next_id(self, value: int) -> None:
        value = int(value)
        if value < self._issued_floor:
            raise TssdError(f"next_id {value} would reuse identities already issued (< {self._issued_floor})")
        self._next_id = value

    def reset(self) -> None:
        """Forget all tubelets, the clock, the camera motion and the score scale (new video); next_id keeps
        growing so ids are never reused."""
        self._store = TubeletStore(self.config.tub_len)
        self._motion.reset()
        self._frame = 0
        self._now: float | None = None
        self._issued_floor = self._next_id
        self._class_names: tuple[str, ...] = ()
        self._scale = ScoreScale()

    @property
    def frame_count(self) -> int:
        """Number of update() calls since construction or reset()."""
        return self._frame

    # -- main step --------------------------------------------------------------------------------
    def update(self, detections: Detections, timestamp: float | None = None,
               frame: np.ndarray | None = None) -> list[Track]:
        """Associate one frame's detections to tubelets; returns one Track per detection, in input order.

        timestamp: seconds (e.g. the image header stamp); None = previous + 1/fps. Must not decrease.
        frame: the image the detections come from (BGR or grey), used by the motion mode to measure the
        camera's motion; None = estimate it from the matched boxes.
        """
        cfg, st = self.config, self._store
        if not isinstance(detections, Detections):
            kind = type(detections).__name__
            raise InputError(f"OTATracker.update needs tssd_ros.types.Detections, not {kind}")
        n = len(detections)
        appearance = cfg.uses_appearance()
        units = None
        if appearance:
            if detections.attention is None and n:
                if cfg.missing_attention == "raise":
                    raise InputError(
                        f"OTA mode {cfg.mode!r} needs attention vectors but the detections carry none; use "
                        "mode='iou' (or motion_appearance=False), or missing_attention='iou' to fall back"
                    )
                appearance = False
            elif n and detections.attention is not None:
                st.set_dim(detections.attention.shape[1])
                units = unit_rows(detections.attention)  # float32: Detections stores it so
        term, T = cfg.resolve(appearance)
        now = self._advance_clock(timestamp)  # after validation: a rejected frame changes nothing
        frame_no = self._frame
        norm = detections.scores / cfg.score_scale if cfg.score_scale > 0 else self._scale(detections.scores)
        motion = cfg.mode == "motion"

        # time rule before matching: a long gap kills a tubelet even after a single frame
        if cfg.max_age_s is not None:
            self._retire(now - st.last_time > cfg.max_age_s)
        if np.count_nonzero(st.lost):
            st.lost &= now - st.last_time <= cfg.reid_max_age_s

        boxes = detections.boxes.astype(np.float64)
        labels = detections.labels
        if motion:
            det_slot, reid = self._motion.associate(cfg, st, boxes, labels, units, norm, now, frame, T)
            if np.count_nonzero(reid):
                st.alive[det_slot[reid]] = True
                st.lost[det_slot[reid]] = False
        else:
            det_slot = associate_paper(st, cfg.assignment, boxes, labels, units, term, T, appearance)

        matched = (det_slot >= 0).nonzero()[0]
        if len(matched):
            s = det_slot[matched]
            if motion:
                self._motion.correct(st, s, boxes[matched], now)
            shadow = self._shadowed(s, boxes[matched], labels[matched], norm[matched]) if motion else None
            self._record(s, boxes[matched], units, matched, detections.scores, labels, now, frame_no, shadow)

        born = ((det_slot < 0) & (norm > cfg.G)).nonzero()[0]
        if motion and len(born) and len(matched) and cfg.covers():  # a second box on a tracked animal
            born = born[~_covered(boxes[born], labels[born], boxes[matched], labels[matched], cfg.birth_cover,
                                  cfg.cross_class_cover)]
        if len(born):
            s = st.new_slots(len(born))
            st.ids[s] = np.arange(self._next_id, self._next_id + len(born))
            self._next_id += len(born)
            st.hits[s] = 0
            st.birth_frame[s] = frame_no
            if motion:
                st.kf_init(self._motion.kf, s, boxes[born], now, self._motion.cam)
            self._record(s, boxes[born], units, born, detections.scores, labels, now, frame_no)
            det_slot[born] = s

        st.det_index[st.alive] = -1
        has = (det_slot >= 0).nonzero()[0]
        st.det_index[det_slot[has]] = has
        tracks = detection_tracks(st, cfg, detections, det_slot, has, frame_no)

        # frame rule after matching: the reference's countdown (deleted after max_age_frames misses)
        self._retire(frame_no - st.last_frame >= cfg.age_limit())
        self._class_names = detections.class_names or self._class_names
        return tracks

    def active_tracks(self) -> list[Track]:
        """All living tubelets (matched this frame or not), ordered by identity; box = newest stored box."""
        return living_tracks(self._store, self.config, self._frame, self._now or 0.0, self._class_names)

    # -- internals --------------------------------------------------------------------------------
    def _advance_clock(self, timestamp: float | None) -> float:
        if timestamp is None:
            now = 0.0 if self._now is None else self._now + 1.0 / self.config.fps
        else:
            now = float(timestamp)
            if not math.isfinite(now):
                raise InputError(f"timestamp must be finite, got {timestamp}")
            if self._now is not None and now < self._now:
                raise InputError(f"timestamp went backwards ({now} < {self._now}); call reset() first")
        self._frame += 1
        self._now = now
        return now

    def _retire(self, mask: np.ndarray) -> None:
        """End active tubelets: to the lost pool in the motion mode with re-identification, else deleted."""
        st, cfg = self._store, self.config
        mask = mask & st.alive
        if not np.count_nonzero(mask):
            return
        if cfg.mode == "motion" and cfg.reid_max_age_s > 0:
            st.lost |= mask
        st.alive &= ~mask

    def _record(self, slots: np.ndarray, boxes: np.ndarray, units: np.ndarray | None, rows: np.ndarray,
                scores: np.ndarray, labels: np.ndarray, now: float, frame_no: int,
                shadow: np.ndarray | None = None) -> None:
        """A match (or birth): one more ring row, class vote, hit (not where ``shadow``) and time stamp for each
        slot."""
        st = self._store
        st.push(slots, boxes, now, None if units is None else units[rows])
        st.vote(slots, labels[rows], np.maximum(scores[rows], 1e-6))
        st.hits[slots] += 1 if shadow is None else ~shadow
        st.last_frame[slots] = frame_no
        st.last_time[slots] = now
        st.score[slots] = scores[rows]

    def _shadowed(self, slots: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                  scores: np.ndarray) -> np.ndarray | None:
        """Which matched tentative tubelets lie inside the box another matched tubelet took this frame
        (``birth_cover``; another class's box: ``cross_class_cover``), that tubelet being senior (more hits, or
        as many and a higher score; a confirmed one always is). Such a match is no hit: a second box on a
        tracked individual, even one born in the same frame, never confirms (is never published nor counted)
        while it stays on it; once on its own it confirms as usual (its birth was a hit)."""
        cfg, st = self.config, self._store
        hits = st.hits[slots]
        tent = hits < cfg.min_hits
        if not cfg.covers() or len(slots) < 2 or not np.count_nonzero(tent):
            return None
        h, sc = hits[tent][:, None], scores[tent][:, None]
        senior = (hits[None, :] > h) | ((hits[None, :] == h) & (scores[None, :] > sc))
        shadow = np.zeros(len(slots), bool)
        shadow[tent] = (_inside(boxes[tent], labels[tent], boxes, labels, cfg.birth_cover, cfg.cross_class_cover)
                        & senior).any(1)
        return shadow


def _inside(boxes: np.ndarray, labels: np.ndarray, taken: np.ndarray, taken_labels: np.ndarray,
            cover: float, cross_cover: float) -> np.ndarray:
    """(n, m): box i lies inside taken box j by more than ``cover`` of its own area (same class), or more than
    ``cross_cover`` (another class)."""
    lt = np.maximum(boxes[:, None, :2], taken[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], taken[None, :, 2:])
    frac = np.clip(rb - lt, 0, None).prod(-1) / np.maximum(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(-1),
                                                           1e-9)[:, None]
    return np.where(labels[:, None] == taken_labels[None, :], frac > cover, frac > cross_cover)


def _covered(boxes: np.ndarray, labels: np.ndarray, taken: np.ndarray, taken_labels: np.ndarray,
             cover: float, cross_cover: float) -> np.ndarray:
    """Whether each box lies inside a taken box (``_inside``)."""
    return _inside(boxes, labels, taken, taken_labels, cover, cross_cover).any(1)
