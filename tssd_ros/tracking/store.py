"""Tubelet storage for OTA: rings of (box, time, attention vector) per tubelet plus its Kalman state.

Why struct-of-arrays: association is a handful of vectorised operations over all tubelets of a class, which
keeps the tracker well under a millisecond per frame at tens of detections (benchmarks/bench_tracker.py).
"""

from __future__ import annotations

import numpy as np

from tssd_ros.errors import InputError
from tssd_ros.tracking.kalman import BoxKalman


class TubeletStore:
    """Struct-of-arrays tubelet storage (one slot per tubelet), so association is vectorised.

    Each slot holds a ring of ``L`` rows (box, time, unit attention vector); ``head`` is the newest row.
    ``alive``: active tubelets (matched by the per-frame association); ``lost``: the motion mode's
    re-identification pool (no longer active, identity kept for ``reid_max_age_s``). The Kalman state
    (motion mode) is kept as of the last match: ``kx, kp`` at time ``kt`` and camera offset ``kcam``.
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
        self.votes = np.zeros((cap, 0))  # score sum per class, widened by vote() (and kept by _grow)
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
        self.lost = np.zeros(cap, bool)
        self.kx = np.zeros((cap, 8))
        self.kp = np.zeros((cap, 4, 3))
        self.kt = np.zeros(cap)
        self.kcam = np.zeros((cap, 2))

    def _grow(self) -> None:
        old = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        self._alloc(self.cap * 2)
        for k, v in old.items():
            if k in ("vecs", "vsum", "votes"):
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
        free = (~(self.alive | self.lost)).nonzero()[0]
        while len(free) < n:
            self._grow()
            free = (~(self.alive | self.lost)).nonzero()[0]
        slots = free[:n]
        self.alive[slots] = True
        self.nrows[slots] = 0
        self.head[slots] = self.L - 1
        self.hits[slots] = 0
        self.votes[slots] = 0.0
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
            if np.count_nonzero(was):
                s = slots[was]
                self.vsum[s] -= self.vecs[s, h[was]]
                self.vcount[s] -= 1
            if units is not None:
                self.vecs[slots, h] = units
                self.vsum[slots] += units.astype(self.vecs.dtype, copy=False)  # as stored: the sum stays exact
                self.vcount[slots] += 1
            self.vvalid[slots, h] = units is not None

    def vote(self, slots: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> None:
        """Add each detection's score to its class's tally in its tubelet (slots distinct); a tubelet's label is
        the class with the largest tally (a tie keeps it), so a few detections of a look-alike class do not
        relabel it."""
        k = int(labels.max(initial=-1)) + 1
        if k > self.votes.shape[1]:
            self.votes = np.pad(self.votes, ((0, 0), (0, k - self.votes.shape[1])))
        self.votes[slots, labels] += weights
        cur = self.labels[slots]  # -1 or a freed slot's old label (tally 0) at birth
        other = (labels != cur).nonzero()[0]  # a vote for the tubelet's own class changes nothing
        if len(other):
            s, cur = slots[other], cur[other]
            v, rows = self.votes[s], np.arange(len(s))
            best = v.argmax(1)
            cur_v = np.where(cur >= 0, v[rows, np.maximum(cur, 0)], -1.0)
            self.labels[s] = np.where(cur_v >= v[rows, best], cur, best)  # a tie keeps the class

    def newest(self, slots: np.ndarray) -> np.ndarray:
        return self.boxes[slots, self.head[slots]]

    def velocity(self, slots: np.ndarray, window: int) -> np.ndarray:
        """Least-squares box velocity (n, 4) in px/s over the newest ``window`` rows (0 with < 2 rows)."""
        w = min(window, self.L)
        k = np.arange(w)
        sl = slots[:, None]
        idx = (self.head[sl] - k) % self.L
        valid = k < self.nrows[sl]
        tt = np.where(valid, self.times[sl, idx], 0.0)
        n = np.maximum(valid.sum(1, keepdims=True), 1)
        dt = np.where(valid, tt - tt.sum(1, keepdims=True) / n, 0.0)
        # sum(dt * (box - mean box)) = sum(dt * box) because the valid dt sum to 0
        num = np.einsum("nk,nkc->nc", dt, self.boxes[sl, idx])
        den = np.einsum("nk,nk->n", dt, dt)[:, None]
        return np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)

    def mean_units(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean stored unit vector (n, D) float32, number of stored vectors (n,)) per slot: eq. 6's mean
        cosine is the dot product with this mean."""
        cnt = self.vcount[slots]
        vsum = self.vsum if self.vsum is not None else np.zeros((self.cap, 0))
        return (vsum[slots] / np.maximum(cnt, 1)[:, None]).astype(np.float32), cnt

    # -- Kalman state (motion mode) -------------------------------------------------------------
    def kf_predict(self, kf: BoxKalman, slots: np.ndarray, now: float, cam: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (x, P) at ``now`` in the current image: own motion plus the camera shift since the match."""
        x, P = kf.predict(self.kx[slots], self.kp[slots], now - self.kt[slots])
        x[:, :2] += cam - self.kcam[slots]
        return x, P

    def kf_init(self, kf: BoxKalman, slots: np.ndarray, boxes: np.ndarray, now: float, cam: np.ndarray) -> None:
        self.kx[slots], self.kp[slots] = kf.init(boxes)
        self.kt[slots] = now
        self.kcam[slots] = cam
