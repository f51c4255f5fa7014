"""What OTA hands out: a :class:`Track` per detection (``update``) or per living tubelet (``active_tracks``).

Why apart from the tracker: these records are read from the tubelet store in bulk (columns gathered once, a
good part of a frame's cost), and the counter, the grasp selector and the ROS conversion only ever see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tssd_ros.classes import class_name
from tssd_ros.tracking.store import TubeletStore
from tssd_ros.types import Detections

if TYPE_CHECKING:
    from tssd_ros.tracking.ota import OTAConfig


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


def detection_tracks(st: TubeletStore, cfg: OTAConfig, detections: Detections, det_slot: np.ndarray,
                     has: np.ndarray, frame_no: int) -> list[Track]:
    """One Track per detection, in input order; ``det_slot`` is each detection's tubelet (-1: none), ``has``
    the detections that have one. A tubelet's class is its vote, not this frame's label."""
    n = len(detections)
    vel = np.zeros((n, 2))
    if len(has) and cfg.mode == "motion":  # the Kalman filter's centre velocity: already estimated
        vel[has] = st.kx[det_slot[has], 4:6]
    elif len(has):
        v = st.velocity(det_slot[has], cfg.motion_window)
        vel[has] = (v[:, :2] + v[:, 2:]) / 2
    table = detections.class_names
    s = np.maximum(det_slot, 0)
    known = det_slot >= 0
    labels = np.where(known, st.labels[s], detections.labels).tolist()
    names = [class_name(k, table) for k in labels]
    ids = np.where(known, st.ids[s], -1).tolist()
    hits = np.where(known, st.hits[s], 0).tolist()
    age = np.where(known, frame_no - st.birth_frame[s], 0).tolist()
    return [Track(ids[i], labels[i], names[i], box, score, age[i], hits[i], 0, 0.0, hits[i] >= cfg.min_hits,
                  (v[0], v[1]), i)
            for i, (box, score, v) in enumerate(zip(detections.boxes.copy(), detections.scores.tolist(),
                                                    vel.tolist(), strict=True))]


def living_tracks(st: TubeletStore, cfg: OTAConfig, frame: int, now: float, names: tuple[str, ...]
                  ) -> list[Track]:
    """All living tubelets (matched this frame or not), ordered by identity; box = newest stored box."""
    slots = st.alive.nonzero()[0]
    slots = slots[np.argsort(st.ids[slots], kind="stable")]
    vel = st.velocity(slots, cfg.motion_window) if len(slots) else np.zeros((0, 4))
    out = []
    for j, s in enumerate(slots):
        lab, hits = int(st.labels[s]), int(st.hits[s])
        fsu = frame - int(st.last_frame[s])
        v = vel[j]
        out.append(Track(int(st.ids[s]), lab, class_name(lab, names), st.newest(np.array([s]))[0].astype(np.float32),
                         float(st.score[s]), frame - int(st.birth_frame[s]), hits, fsu, float(now - st.last_time[s]),
                         hits >= cfg.min_hits, (float(v[0] + v[2]) / 2, float(v[1] + v[3]) / 2),
                         int(st.det_index[s]) if fsu == 0 else -1))
    return out
