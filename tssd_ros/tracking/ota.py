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
* ``motion``: the box term is taken against a constant-velocity prediction of the tubelet's box
  (least-squares velocity over its last ``motion_window`` boxes and their time stamps, so dropped frames
  only lengthen ``dt``), because the ROV moves and the scene scrolls. With ``motion_appearance=True``
  (default) the appearance factor is kept (``exp`` term, ``T = 1.0``); with False it is ``IoU`` alone
  (``T = 0.3``).

Lifetime (the reference's countdown: reset to 11 on a match, decremented every frame, deleted at 0): a
tubelet can be matched at frame ``k`` iff ``k - last_match_frame <= max_age_frames`` and
``t_k - last_match_time <= max_age_s``; i.e. with ``max_age_frames = 10`` it survives up to 9 missed
frames, may be matched again on the 10th, and is deleted at the end of the 10th unmatched frame. The time
rule is checked before matching, so a long gap (dropped frames on a robot) kills it even after one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tssd_ros.boxes import box_iou
from tssd_ros.errors import InputError, TssdError
from tssd_ros.types import Detections

Mode = Literal["attention", "iou", "motion"]
Assignment = Literal["greedy", "hungarian"]
OTA_MODES: tuple[str, ...] = ("attention", "iou", "motion")
ASSIGNMENTS: tuple[str, ...] = ("greedy", "hungarian")
IoUTerm = Literal["exp", "linear"]

#: IoU gate used by the box-only modes (SORT's usual value).
DEFAULT_IOU_GATE = 0.3


@dataclass
class OTAConfig:
    """OTA settings: the paper's MOT15 setting (T = 1.0, G = 0.3, tub_len = 10) with the ``motion`` mode (the
    paper's S against a constant-velocity prediction: +12 HOTA over ``attention`` on scrolling scenes,
    benchmarks/bench_tracker.py); these defaults are the node's and config/tssd.yaml's (tssd_ros.params).

    T: match when S > T; None = per-mode default (see module doc).
    G: an unmatched detection with score > G starts a tubelet; others get no identity (-1).
    tub_len: rows (box, time, attention vector) kept per tubelet, newest first.
    max_age_frames / max_age_s: lifetime without a match, in frames and seconds (None = off).
    min_hits: a tubelet is ``confirmed`` (and counted by DiveCounter) once matched this many times
        including its birth.
    assignment: ``greedy`` = the paper (each detection takes its best tubelet; duplicate claims go to
        the highest S, the losers are unmatched); ``hungarian`` = maximum of sum(S - T) over gated pairs.
    missing_attention: what ``attention`` (and ``motion`` with appearance) do when detections carry no
        attention vectors: ``raise`` an InputError, or ``iou``: use the box term alone for that frame.
    fps: frame rate assumed when ``update`` gets no timestamp (drives velocity in px/s and max_age_s).
    """

    mode: Mode = "motion"
    T: float | None = None
    G: float = 0.3
    tub_len: int = 10
    max_age_frames: int = 10
    max_age_s: float | None = 2.0
    min_hits: int = 5
    assignment: Assignment = "greedy"
    iou_term: IoUTerm | None = None
    motion_appearance: bool = True
    motion_window: int = 5
    missing_attention: Literal["raise", "iou"] = "raise"
    fps: float = 30.0

    def __post_init__(self) -> None:
        checks = [
            (self.mode in OTA_MODES, f"unknown mode {self.mode!r}"),
            (self.assignment in ASSIGNMENTS, f"unknown assignment {self.assignment!r}"),
            (self.iou_term in (None, "exp", "linear"), f"iou_term must be exp|linear: {self.iou_term!r}"),
            (self.missing_attention in ("raise", "iou"), "missing_attention must be raise|iou"),
            (self.tub_len >= 1, f"tub_len must be >= 1: {self.tub_len}"),
            (self.max_age_frames >= 1, f"max_age_frames must be >= 1: {self.max_age_frames}"),
            (self.max_age_s is None or self.max_age_s > 0, f"max_age_s must be >0|None: {self.max_age_s}"),
            (self.min_hits >= 1, f"min_hits must be >= 1: {self.min_hits}"),
            (self.motion_window >= 2, f"motion_window must be >= 2: {self.motion_window}"),
            (self.fps > 0, f"fps must be > 0: {self.fps}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise TssdError(f"OTAConfig: {msg}")

    def uses_appearance(self) -> bool:
        """Whether the mode multiplies the box term by the attention-vector similarity."""
        return self.mode == "attention" or (self.mode == "motion" and self.motion_appearance)

    def resolve(self, appearance: bool) -> tuple[IoUTerm, float]:
        """(iou_term, T) in effect for a frame with/without the appearance factor (module doc)."""
        term: IoUTerm = self.iou_term or ("exp" if appearance else "linear")
        if self.T is not None:
            return term, float(self.T)
        if term == "exp":
            return term, 1.0 if appearance else math.exp(DEFAULT_IOU_GATE)
        return term, DEFAULT_IOU_GATE


@dataclass(slots=True)
class Track:
    """Identity of one detection (or one living tubelet, from ``active_tracks``).

    track_id -1 means no identity (unmatched and score <= G). age: frames since birth (0 at birth);
    hits: matches including birth; velocity: box centre in px/s (0 until two rows exist);
    det_index: index in this frame's Detections, -1 for a tubelet not matched this frame.
    """

    track_id: int
    label: int
    class_name: str
    box: np.ndarray
    score: float
    age: int
    hits: int
    frames_since_update: int
    seconds_since_update: float
    confirmed: bool
    velocity: tuple[float, float]
    det_index: int


def unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero: their cosine with anything is 0)."""
    v = np.asarray(v, np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def assign_greedy(S: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """The paper's association: each detection (row) takes its best tubelet (column, ties: lowest index);
    when several take the same one only the highest S keeps it (ties: lowest row); matched iff S > T.

    Returns (rows, cols) of the matches.
    """
    if S.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    best = np.argmax(S, axis=1)
    best_s = S[np.arange(len(S)), best]
    rows = np.nonzero(best_s > T)[0]
    if len(rows) == 0:
        return rows, rows.copy()
    order = rows[np.lexsort((rows, -best_s[rows]))]  # S descending, then row ascending
    _, first = np.unique(best[order], return_index=True)
    winners = np.sort(order[first])
    return winners, best[winners]


def assign_hungarian(S: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """Globally optimal one-to-one assignment: maximises sum(S - T) over pairs with S > T."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize takes ~0.5 s to import

    if S.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gate = S > T
    w = np.where(gate, S - T, 0.0)
    r, c = linear_sum_assignment(w, maximize=True)
    keep = gate[r, c]
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


class _Store:
    """Struct-of-arrays tubelet storage (one slot per tubelet), so association is vectorised.

    Each slot holds a ring of ``L`` rows (box, time, unit attention vector); ``head`` is the newest row.
    """

    def __init__(self, tub_len: int, cap: int = 64) -> None:
        self.L = tub_len
        self.dim: int | None = None
        self._alloc(cap)

    def _alloc(self, cap: int) -> None:
        self.cap = cap
        self.alive = np.zeros(cap, bool)
        self.ids = np.full(cap, -1, np.int64)
        self.labels = np.full(cap, -1, np.int64)
        self.boxes = np.zeros((cap, self.L, 4))
        self.times = np.zeros((cap, self.L))
        self.nrows = np.zeros(cap, np.int64)
        self.head = np.zeros(cap, np.int64)
        self.hits = np.zeros(cap, np.int64)
        self.birth_frame = np.zeros(cap, np.int64)
        self.last_frame = np.zeros(cap, np.int64)
        self.last_time = np.zeros(cap)
        self.score = np.zeros(cap)
        self.det_index = np.full(cap, -1, np.int64)
        self.vecs: np.ndarray | None = None  # (cap, L, D) unit vectors
        self.vvalid = np.zeros((cap, self.L), bool)
        self.vsum: np.ndarray | None = None  # (cap, D) sum of the valid unit vectors
        self.vcount = np.zeros(cap, np.int64)

    def _grow(self) -> None:
        old = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        self._alloc(self.cap * 2)
        for k, v in old.items():
            if k in ("vecs", "vsum"):
                new = np.zeros((self.cap, *v.shape[1:]), v.dtype)
                setattr(self, k, new)
            getattr(self, k)[: len(v)] = v

    def set_dim(self, dim: int) -> None:
        if self.dim is None:
            self.dim = dim
            self.vecs = np.zeros((self.cap, self.L, dim), np.float32)
            self.vsum = np.zeros((self.cap, dim))
        elif dim != self.dim:
            raise InputError(f"attention vectors changed size from {self.dim} to {dim}; call reset() first")

    def new_slots(self, n: int) -> np.ndarray:
        free = np.nonzero(~self.alive)[0]
        while len(free) < n:
            self._grow()
            free = np.nonzero(~self.alive)[0]
        slots = free[:n]
        self.alive[slots] = True
        self.nrows[slots] = 0
        self.head[slots] = self.L - 1
        self.hits[slots] = 0
        self.vvalid[slots] = False
        self.vcount[slots] = 0
        if self.vsum is not None:
            self.vsum[slots] = 0.0
        return slots

    def push(self, slots: np.ndarray, boxes: np.ndarray, t: float, units: np.ndarray | None) -> None:
        """Prepend one row to each slot (dropping the oldest beyond L), keeping the vector sum exact."""
        h = (self.head[slots] + 1) % self.L
        self.head[slots] = h
        self.boxes[slots, h] = boxes
        self.times[slots, h] = t
        self.nrows[slots] = np.minimum(self.nrows[slots] + 1, self.L)
        if self.vecs is not None and self.vsum is not None:
            was = self.vvalid[slots, h]
            if was.any():
                s = slots[was]
                self.vsum[s] -= self.vecs[s, h[was]]
                self.vcount[s] -= 1
            if units is not None:
                self.vecs[slots, h] = units
                self.vsum[slots] += self.vecs[slots, h]
                self.vcount[slots] += 1
            self.vvalid[slots, h] = units is not None

    def newest(self, slots: np.ndarray) -> np.ndarray:
        return self.boxes[slots, self.head[slots]]

    def velocity(self, slots: np.ndarray, window: int) -> np.ndarray:
        """Least-squares box velocity (n, 4) in px/s over the newest ``window`` rows (0 with < 2 rows)."""
        w = min(window, self.L)
        k = np.arange(w)
        idx = (self.head[slots][:, None] - k[None, :]) % self.L
        valid = k[None, :] < self.nrows[slots][:, None]
        tt = self.times[slots[:, None], idx]
        bb = self.boxes[slots[:, None], idx]
        n = valid.sum(1, keepdims=True)
        tm = np.where(valid, tt, 0).sum(1, keepdims=True) / np.maximum(n, 1)
        dt = np.where(valid, tt - tm, 0.0)
        bm = (bb * valid[..., None]).sum(1) / np.maximum(n, 1)
        num = (dt[..., None] * (bb - bm[:, None, :])).sum(1)
        den = (dt**2).sum(1)[:, None]
        return np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)


class OTATracker:
    """OTA identity tracker (see module doc). ``update`` returns one Track per detection, in input order."""

    def __init__(self, config: OTAConfig | None = None) -> None:
        self.config = config or OTAConfig()
        self._next_id = 0
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
        """Forget all tubelets and the clock (new video); next_id keeps growing so ids are never reused."""
        self._store = _Store(self.config.tub_len)
        self._frame = 0
        self._now: float | None = None
        self._issued_floor = self._next_id
        self._class_names: tuple[str, ...] = ()

    @property
    def frame_count(self) -> int:
        """Number of update() calls since construction or reset()."""
        return self._frame

    # -- main step --------------------------------------------------------------------------------
    def update(self, detections: Detections, timestamp: float | None = None) -> list[Track]:
        """Associate one frame's detections to tubelets; returns one Track per detection, in input order.

        timestamp: seconds (e.g. the image header stamp); None = previous + 1/fps. Must not decrease.
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
                units = unit_rows(detections.attention).astype(np.float32)
        term, T = cfg.resolve(appearance)
        now = self._advance_clock(timestamp)  # after validation: a rejected frame changes nothing
        frame = self._frame

        # time rule before matching: a long gap kills a tubelet even after a single frame
        if cfg.max_age_s is not None:
            st.alive &= ~(now - st.last_time > cfg.max_age_s)

        det_slot = np.full(n, -1, np.int64)
        boxes = detections.boxes.astype(np.float64)
        labels = detections.labels
        if n and st.alive.any():
            for c in np.unique(labels):
                d_idx = np.nonzero(labels == c)[0]
                t_idx = np.nonzero(st.alive & (st.labels == c))[0]
                if len(t_idx) == 0:
                    continue
                S = self._similarity(boxes[d_idx], None if units is None else units[d_idx], t_idx, now, term,
                                     appearance)
                assign = assign_greedy if cfg.assignment == "greedy" else assign_hungarian
                r, k = assign(S, T)
                det_slot[d_idx[r]] = t_idx[k]

        matched = np.nonzero(det_slot >= 0)[0]
        if len(matched):
            s = det_slot[matched]
            st.push(s, boxes[matched], now, None if units is None else units[matched])
            st.hits[s] += 1
            st.last_frame[s] = frame
            st.last_time[s] = now
            st.score[s] = detections.scores[matched]

        born = np.nonzero((det_slot < 0) & (detections.scores > cfg.G))[0]
        if len(born):
            s = st.new_slots(len(born))
            st.ids[s] = np.arange(self._next_id, self._next_id + len(born))
            self._next_id += len(born)
            st.labels[s] = labels[born]
            st.push(s, boxes[born], now, None if units is None else units[born])
            st.hits[s] = 1
            st.birth_frame[s] = frame
            st.last_frame[s] = frame
            st.last_time[s] = now
            st.score[s] = detections.scores[born]
            det_slot[born] = s

        st.det_index[st.alive] = -1
        has = np.nonzero(det_slot >= 0)[0]
        st.det_index[det_slot[has]] = has
        vel = np.zeros((n, 4))
        if len(has):
            vel[has] = st.velocity(det_slot[has], cfg.motion_window)

        tracks = []
        for i in range(n):
            s = int(det_slot[i])
            if s < 0:
                tracks.append(Track(-1, int(labels[i]), detections.class_name(i), detections.boxes[i].copy(),
                                    float(detections.scores[i]), 0, 0, 0, 0.0, False, (0.0, 0.0), i))
                continue
            hits = int(st.hits[s])
            v = vel[i]
            tracks.append(Track(int(st.ids[s]), int(labels[i]), detections.class_name(i),
                                detections.boxes[i].copy(), float(detections.scores[i]),
                                frame - int(st.birth_frame[s]), hits, 0, 0.0, hits >= cfg.min_hits,
                                (float(v[0] + v[2]) / 2, float(v[1] + v[3]) / 2), i))

        # frame rule after matching: the reference's countdown (deleted after max_age_frames misses)
        st.alive &= ~(frame - st.last_frame >= cfg.max_age_frames)
        self._class_names = detections.class_names or self._class_names
        return tracks

    def active_tracks(self) -> list[Track]:
        """All living tubelets (matched this frame or not), ordered by identity; box = newest stored box."""
        st, cfg = self._store, self.config
        slots = np.nonzero(st.alive)[0]
        slots = slots[np.argsort(st.ids[slots], kind="stable")]
        vel = st.velocity(slots, cfg.motion_window) if len(slots) else np.zeros((0, 4))
        names = self._class_names
        now = self._now if self._now is not None else 0.0
        out = []
        for j, s in enumerate(slots):
            lab, hits = int(st.labels[s]), int(st.hits[s])
            fsu = self._frame - int(st.last_frame[s])
            v = vel[j]
            out.append(Track(int(st.ids[s]), lab, names[lab] if 0 <= lab < len(names) else str(lab),
                             st.newest(np.array([s]))[0].astype(np.float32), float(st.score[s]),
                             self._frame - int(st.birth_frame[s]), hits, fsu, float(now - st.last_time[s]),
                             hits >= cfg.min_hits, (float(v[0] + v[2]) / 2, float(v[1] + v[3]) / 2),
                             int(st.det_index[s]) if fsu == 0 else -1))
        return out

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

    def _similarity(self, boxes: np.ndarray, units: np.ndarray | None, slots: np.ndarray, now: float,
                    term: IoUTerm, appearance: bool) -> np.ndarray:
        """S (n_det, n_tubelet) for one class, vectorised over all pairs."""
        st, cfg = self._store, self.config
        ref = st.newest(slots)
        if cfg.mode == "motion":
            v = st.velocity(slots, cfg.motion_window)
            ref = ref + v * (now - st.last_time[slots])[:, None]
        iou = box_iou(boxes, ref)
        S = np.exp(iou) if term == "exp" else iou
        if appearance and units is not None and st.vsum is not None:
            cnt = st.vcount[slots]
            mean = (st.vsum[slots] / np.maximum(cnt, 1)[:, None]).astype(np.float32)
            # einsum, not BLAS: multi-threaded OpenBLAS GEMM of this size spins for ~20 ms on a busy CPU
            # (the ROS node shares it with the detector); einsum costs ~0.5 ms at 100 x 100 and is exact
            # to float32 whatever the thread count
            app = np.einsum("dk,tk->dt", units, mean).astype(np.float64)
            app[:, cnt == 0] = 1.0  # a tubelet born without vectors has no appearance evidence
            S = S * app
        return S
