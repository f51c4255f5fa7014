"""The ``motion`` mode's association: Kalman predictions moved by the camera, two stages, re-identification.

Why each part (issue 10, identities and counts that beat SORT and ByteTrack on a moving ROV):

* Prediction: each tubelet's box comes from its constant-velocity Kalman filter (tssd_ros.tracking.kalman),
  plus the camera shift since its last match (tssd_ros.tracking.cmc), so the filters model only the
  objects' own slow motion and a tubelet hidden while the ROV speeds up still moves with the scene.
  Without frames the shift is estimated from the boxes themselves: the camera is assumed to keep its
  speed for the first stage, then the median residual of the first stage's matches corrects it.
* Similarity (eq. 7 with the box term against the prediction): ``S = IoU + APP_WEIGHT * cos``, where cos is
  eq. 6's mean cosine with the tubelet's stored attention vectors; pairs with ``IoU <= T`` or
  ``cos < app_gate`` never match. Appearance is a gate (two overlapping individuals stay apart) and a
  tie-breaker (between similar overlaps the one that looks alike wins); the box decides otherwise, because
  a detector's attention vectors of one individual vary far more than its boxes.
* Classes: a detector flips between look-alike classes on one animal (a sea cucumber boxed as a starfish for a
  few frames); a tubelet of one class would then end and another begin, and the animal be counted twice. A
  detection of another class may continue a tubelet where it overlaps its prediction by more than
  ``cross_class_match`` and no detection of the tubelet's class does; the tubelet's class is the
  score-weighted vote of its detections (TubeletStore.vote), and DiveCounter counts it once, under that class.
* Two stages (ByteTrack): detections scoring above G first; then those between ``low_score`` and G, by
  box alone (a faint detection's appearance is unreliable), against the tubelets still unmatched. They
  keep an individual's track through a blurred or half-hidden frame but never start one.
* Re-identification: a tubelet unmatched for longer than the lifetime is ``lost``, not deleted, for
  ``reid_max_age_s``; a new high-score detection of its class that is where its filter says it can be
  (Mahalanobis gate) and looks like it (cos >= reid_cos; without vectors: IoU with the prediction > T)
  takes the old identity back, so DiveCounter does not count the individual twice.

Scores are compared after normalisation (OTATracker): G and low_score are fractions of the score scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from tssd_ros.boxes import box_iou
from tssd_ros.tracking.association import assign_greedy, assign_hungarian
from tssd_ros.tracking.cmc import CameraMotion, median_shift
from tssd_ros.tracking.kalman import CHI2_4DOF_99, BoxKalman, cxcywh_to_xyxy
from tssd_ros.tracking.store import TubeletStore

if TYPE_CHECKING:
    from tssd_ros.tracking.ota import OTAConfig

#: weight of the appearance cosine next to the IoU in S (a tie-breaker: < the IoU's range).
APP_WEIGHT = 0.5
#: IoU gate of the second (low-score, box-only) stage: stricter than T, as ByteTrack's 0.5.
LOW_IOU_GATE = 0.5
#: added to S for a pair of one class, so another class's detection continues a tubelet only where none of its
#: own class does (cross_class_match).
SAME_CLASS_BONUS = 2.0


class MotionAssociation:
    """Per-video state of the motion mode (camera offset and speed) and its staged association."""

    def __init__(self, kf: BoxKalman | None = None) -> None:
        self.kf = kf or BoxKalman()
        self.cmc = CameraMotion()
        self.reset()

    def reset(self) -> None:
        self.cmc.reset()
        self.cam = np.zeros(2)  # accumulated image shift since reset (px)
        self.cam_vel = np.zeros(2)  # px/s, the frame-less prior
        self._t: float | None = None
        self._pred: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # this frame's (slots, x, P)

    def associate(self, cfg: OTAConfig, st: TubeletStore, boxes: np.ndarray, labels: np.ndarray,
                  units: np.ndarray | None, norm_scores: np.ndarray, now: float, frame: np.ndarray | None,
                  T: float) -> tuple[np.ndarray, np.ndarray]:
        """(slot per detection or -1, whether it took a lost tubelet back) for one frame; updates the camera."""
        n = len(boxes)
        det_slot = np.full(n, -1, np.int64)
        reid = np.zeros(n, bool)
        dt = 0.0 if self._t is None else now - self._t
        self._t = now
        measured = self.cmc.estimate(frame) if cfg.cmc and frame is not None else None
        if measured is not None:
            shift = measured
        else:
            shift = self.cam_vel * dt if cfg.cmc else np.zeros(2)
        cam = self.cam + shift
        high = norm_scores > cfg.G
        low = (norm_scores > cfg.low_score) & ~high
        act = st.alive.nonzero()[0]
        x, P = st.kf_predict(self.kf, act, now, cam)
        self._pred = (act, x, P)
        pred = cxcywh_to_xyxy(x)
        assign = assign_greedy if cfg.assignment == "greedy" else assign_hungarian
        app = units is not None and st.vsum is not None and cfg.motion_appearance

        # stage 1: high-score detections, box + appearance; all classes in one matrix, without a Python loop per
        # class: a pair of two classes is valid only with IoU > cross_class_match and ranks below every pair of one
        # class (SAME_CLASS_BONUS). One IoU matrix serves both stages unless the frame-less camera estimate moves
        # the predictions between them.
        t_used = np.zeros(len(act), bool)
        moved = None  # stage-1 residuals (detected centre - predicted centre): the frame-less camera shift
        cand = (high | low).nonzero()[0]
        iou = box_iou(boxes[cand], pred) if len(cand) and len(act) else None
        t_lab = st.labels[act]
        # more than one class among this frame's candidates and the tubelets (else every pair is of one class)
        mixed = iou is not None and bool((labels[cand] != t_lab[0]).any() or (t_lab != t_lab[0]).any())
        is_high = high[cand]
        d = cand[is_high]
        if iou is not None and len(d):
            S = iou[is_high]
            valid = S > T
            if mixed:
                same = labels[d, None] == t_lab[None, :]
                valid &= same | (S > cfg.cross_class_match)
            if app:
                mean, cnt = st.mean_units(act)
                cos = np.einsum("dk,tk->dt", units[d], mean).astype(np.float64)  # einsum: see associate_paper
                if not cnt.all():
                    cos[:, cnt == 0] = 1.0  # a tubelet born without vectors has no appearance evidence
                valid &= cos >= cfg.app_gate
                S += APP_WEIGHT * cos
            if mixed:
                S += SAME_CLASS_BONUS * same
            r, k = _confirmed_first(assign, np.where(valid, S, 0.0), st.hits[act] >= cfg.min_hits)
            dr = d[r]
            det_slot[dr] = act[k]
            t_used[k] = True
            moved = (boxes[dr, :2] + boxes[dr, 2:]) / 2 - x[k, :2]

        shifted = False
        if cfg.cmc and measured is None and moved is not None:
            res = median_shift(moved)
            if res is not None:
                cam = cam + res
                pred += np.tile(res, 2)
                x[:, :2] += res
                shifted = True
        if dt > 0:
            self.cam_vel = (cam - self.cam) / dt
        self.cam = cam

        # stage 2: low-score detections against the tubelets still unmatched, box only (one matrix, as stage 1)
        d = cand[~is_high]
        t = (~t_used).nonzero()[0] if len(d) else d
        if iou is not None and len(d) and len(t):
            iou2 = box_iou(boxes[d], pred[t]) if shifted else iou[~is_high][:, t]
            if mixed:
                same = labels[d, None] == t_lab[t][None, :]
                ok = (iou2 > max(T, LOW_IOU_GATE)) & (same | (iou2 > cfg.cross_class_match))
                r, k = assign(np.where(ok, iou2 + SAME_CLASS_BONUS * same, 0.0), 0.0)
            else:
                r, k = assign(iou2, max(T, LOW_IOU_GATE))
            det_slot[d[r]] = act[t[k]]

        # stage 3: re-identification of lost tubelets by unmatched high-score detections
        if cfg.reid_max_age_s > 0 and np.count_nonzero(st.lost):
            self._reidentify(cfg, st, boxes, labels, units, high & (det_slot < 0), now, T, det_slot, reid)
        return det_slot, reid

    def correct(self, st: TubeletStore, slots: np.ndarray, boxes: np.ndarray, now: float) -> None:
        """Kalman update of the matched tubelets, reusing this frame's predictions (re-identified ones are
        predicted here: they were not active)."""
        act, x, P = self._pred if self._pred is not None else (np.zeros(0, np.int64), None, None)
        pos = np.searchsorted(act, slots)
        hit = pos < len(act)
        hit[hit] = act[pos[hit]] == slots[hit]
        if hit.all() and x is not None and P is not None:
            xs, Ps = x[pos], P[pos]
        else:
            xs, Ps = st.kf_predict(self.kf, slots, now, self.cam)
        st.kx[slots], st.kp[slots] = self.kf.update(xs, Ps, boxes)
        st.kt[slots] = now
        st.kcam[slots] = self.cam

    def _reidentify(self, cfg: OTAConfig, st: TubeletStore, boxes: np.ndarray, labels: np.ndarray,
                    units: np.ndarray | None, cand: np.ndarray, now: float, T: float, det_slot: np.ndarray,
                    reid: np.ndarray) -> None:
        lost = st.lost.nonzero()[0]
        for c in _classes(labels[cand]):
            d = (cand & (labels == c)).nonzero()[0]
            t = lost[st.labels[lost] == c]
            if len(t) == 0:
                continue
            x, P = st.kf_predict(self.kf, t, now, self.cam)
            valid = self.kf.distance(x, P, boxes[d]) < CHI2_4DOF_99
            if units is not None and st.vsum is not None:
                mean, cnt = st.mean_units(t)
                S = np.einsum("dk,tk->dt", units[d], mean).astype(np.float64)
                S[:, cnt == 0] = -1.0  # no stored vectors: no evidence to re-identify on
                valid &= S >= cfg.reid_cos
            else:
                S = box_iou(boxes[d], cxcywh_to_xyxy(x))
                valid &= S > T
            r, k = assign_greedy(np.where(valid, 2.0 + S, 0.0), 0.0)
            det_slot[d[r]] = t[k]
            reid[d[r]] = True


def _confirmed_first(assign: Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]], S: np.ndarray,
                     confirmed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign detections to confirmed tubelets first, then the rest to tentative ones (ByteTrack's order for
    unconfirmed tracks): a tubelet born from a duplicate box must not take an established individual's next
    detection, which would hand the individual a new identity. Returns (rows, cols) with S > 0."""
    if confirmed.all() or not np.count_nonzero(confirmed):
        return assign(S, 0.0)
    c, t = confirmed.nonzero()[0], (~confirmed).nonzero()[0]
    r1, k1 = assign(S[:, c], 0.0)
    rest = np.ones(len(S), bool)
    rest[r1] = False
    rr = rest.nonzero()[0]
    r2, k2 = assign(S[rr][:, t], 0.0)
    return np.concatenate([r1, rr[r2]]), np.concatenate([c[k1], t[k2]])


def _classes(labels: np.ndarray) -> np.ndarray:
    """The labels present (np.unique, skipped in the common one-class frame)."""
    if len(labels) == 0 or (labels == labels[0]).all():
        return labels[:1]
    return np.unique(labels)
