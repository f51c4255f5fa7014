"""Grasp-target selection: pick one confirmed OTA identity and hold it (pure Python, no rclpy).

Why a lock: the manipulator controller servos towards one object. Re-choosing on every frame would make
it jump whenever another object scores a little higher, so once an identity is chosen it is kept until it
has been unseen for ``lost_timeout_s`` (message stamps, so bag replay and sim time behave) or the operator
releases it / asks for the next one.

Semantics (documented here once; the ROS node and the YAML refer to this):

* Only confirmed identities (non-empty decimal ``target_id``) are candidates.
* ``target_classes`` filters and orders: a candidate of an earlier class beats any of a later class;
  empty = all classes, equal priority.
* ``min_track_age`` counts the frames (update calls) in which the selector itself has seen an identity;
  an identity unseen for longer than ``lost_timeout_s`` is forgotten and its age restarts. Counting frames
  the selector saw (not seconds) keeps a brand-new identity from being picked on its first, noisiest frame,
  whatever the frame rate.
* Policy ranks candidates within a class: ``nearest_center`` (box centre to the image centre / principal
  point; falls back to ``largest`` while that centre is unknown), ``largest`` (box area),
  ``highest_score``. Ties break on the smaller numeric id, so the choice is deterministic.
* States: ``searching`` (nothing locked, or a manual id not seen yet), ``locked`` (the locked identity is in
  this frame), ``lost`` (locked, but not in this frame; kept for up to ``lost_timeout_s``). After the
  timeout the lock is dropped and, in automatic mode, the best candidate is locked in the same update.
* ``release()`` drops the lock and goes automatic; the released identity is not re-picked automatically
  until it has been forgotten (unseen for ``lost_timeout_s``): it was probably just grasped or rejected.
* ``next()`` locks the best eligible candidate of the latest frame other than the current one.
* ``lock(id)`` is the manual choice: the id is locked as soon as it is seen (class filter and minimum age
  do not apply, the operator chose it) and no automatic choice is made meanwhile. ``lock(None)`` or
  ``lock(-1)`` returns to automatic mode and keeps the current lock.
* ``stable`` is true once the locked box centre has stayed within ``stable_px`` of its mean over the last
  ``stable_frames`` consecutive frames in which it was seen; a missed frame restarts the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

POLICIES = ("nearest_center", "largest", "highest_score")
STATES = ("searching", "locked", "lost")


@dataclass(frozen=True)
class Candidate:
    """One detection of one frame, as the selector sees it (box centre/size in input-image pixels)."""

    target_id: str
    class_name: str
    score: float
    cx: float
    cy: float
    width: float
    height: float
    index: int = -1  # position in the source message, so an adapter can republish the original detection

    @property
    def confirmed(self) -> bool:
        return self.target_id != ""

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class SelectorConfig:
    """Selection parameters; see the module docstring for their meaning."""

    policy: str = "nearest_center"
    target_classes: tuple[str, ...] = ()
    min_track_age: int = 3
    lost_timeout_s: float = 1.0
    stable_px: float = 5.0
    stable_frames: int = 5
    image_center: tuple[float, float] | None = None

    def problem(self) -> str | None:
        """Why this configuration is invalid, or None; the ROS node returns it as the rejection reason."""
        if self.policy not in POLICIES:
            return f"unknown policy {self.policy!r}: use one of {', '.join(POLICIES)}"
        if self.min_track_age < 1:
            return f"min_track_age must be >= 1 frame, got {self.min_track_age}"
        if not math.isfinite(self.lost_timeout_s) or self.lost_timeout_s < 0.0:
            return f"lost_timeout_s must be a finite number >= 0, got {self.lost_timeout_s}"
        if not math.isfinite(self.stable_px) or self.stable_px < 0.0:
            return f"stable_px must be a finite number >= 0, got {self.stable_px}"
        if self.stable_frames < 1:
            return f"stable_frames must be >= 1, got {self.stable_frames}"
        if len(set(self.target_classes)) != len(self.target_classes):
            return f"target_classes has duplicates: {list(self.target_classes)}"
        if any(not c for c in self.target_classes):
            return "target_classes contains an empty class name"
        return None


@dataclass(frozen=True)
class SelectorOutput:
    """Result of one update: what to publish for this frame."""

    state: str
    target_id: str  # locked id, or the requested manual id while searching for it; "" otherwise
    class_name: str
    target: Candidate | None  # the locked identity's detection in this frame, if present
    stable: bool
    frames_locked: int
    unseen_s: float
    manual: bool
    rejected: tuple[tuple[Candidate, str], ...] = field(default=())

    def status(self) -> dict[str, object]:
        """Compact machine-readable status (the node publishes it as JSON)."""
        return {
            "state": self.state,
            "target_id": self.target_id,
            "class": self.class_name,
            "stable": self.stable,
            "frames_locked": self.frames_locked,
            "unseen_s": round(self.unseen_s, 3),
            "mode": "manual" if self.manual else "auto",
        }


def candidate_problem(c: Candidate) -> str | None:
    """Why a detection cannot be used (bad input from upstream), or None."""
    if c.target_id and not c.target_id.isdecimal():
        return f"non-numeric id {c.target_id!r}"
    values = (c.score, c.cx, c.cy, c.width, c.height)
    if not all(math.isfinite(v) for v in values):
        return f"non-finite box or score (id {c.target_id!r})"
    if c.width < 0.0 or c.height < 0.0:
        return f"negative box size (id {c.target_id!r})"
    return None


def normalise_id(target_id: int | str | None) -> str | None:
    """Canonical decimal string of an id (so '017' and 17 match), None for automatic (None, -1, '')."""
    if target_id is None:
        return None
    if isinstance(target_id, str):
        target_id = target_id.strip()
        if target_id in ("", "-1"):
            return None
        if not target_id.isdecimal():
            raise ValueError(f"target id must be a non-negative integer, got {target_id!r}")
        return str(int(target_id))
    if target_id == -1:
        return None
    if target_id < 0:
        raise ValueError(f"target id must be >= 0 (or -1 for automatic), got {target_id}")
    return str(int(target_id))


class GraspSelector:
    """Stateful selector; feed it every detections message in stamp order via update()."""

    def __init__(self, config: SelectorConfig | None = None) -> None:
        self.config = config or SelectorConfig()
        reason = self.config.problem()
        if reason:
            raise ValueError(reason)
        self._seen: dict[str, tuple[int, float]] = {}  # id -> (frames seen, last stamp)
        self._excluded: set[str] = set()  # released ids, not re-picked until forgotten
        self._latest: list[Candidate] = []  # valid confirmed candidates of the latest frame
        self._last_stamp: float | None = None
        self._manual: str | None = None
        self._locked: str | None = None
        self._locked_class = ""
        self._last_seen = 0.0
        self._frames_locked = 0
        self._centres: deque[tuple[float, float]] = deque(maxlen=self.config.stable_frames)

    # ------------------------------------------------------------------ configuration / commands
    def configure(self, config: SelectorConfig) -> None:
        """Change parameters at run time; the current lock is kept."""
        reason = config.problem()
        if reason:
            raise ValueError(reason)
        if config.stable_frames != self.config.stable_frames:
            self._centres = deque(self._centres, maxlen=config.stable_frames)
        self.config = config

    def set_image_center(self, center: tuple[float, float] | None) -> None:
        """Image centre for nearest_center (the node takes it from CameraInfo or parameters)."""
        self.config = replace(self.config, image_center=center)

    @property
    def locked_id(self) -> str | None:
        return self._locked

    @property
    def manual_id(self) -> str | None:
        return self._manual

    def release(self) -> tuple[bool, str]:
        """Drop the lock (and any manual request) and go automatic; returns (success, message)."""
        if self._locked is None and self._manual is None:
            return False, "nothing locked"
        what = self._locked if self._locked is not None else self._manual
        if self._locked is not None:
            self._excluded.add(self._locked)
        self._manual = None
        self._unlock()
        return True, f"released {what}; automatic selection resumes without it until it is lost"

    def next(self) -> tuple[bool, str]:
        """Lock the best eligible candidate of the latest frame other than the current target."""
        current = self._locked if self._locked is not None else self._manual
        exclude = set(self._excluded)
        if current is not None:
            exclude.add(current)
        best = self._best(self._latest, exclude)
        if best is None:
            return False, f"no other eligible candidate in the latest frame (current: {current or 'none'})"
        self._manual = None
        self._lock(best, self._last_stamp or 0.0, count_frame=False)
        return True, f"locked {best.target_id} ({best.class_name})"

    def lock(self, target_id: int | str | None) -> str:
        """Manual choice: lock this identity now if in the latest frame, else once seen; -1/None = auto."""
        tid = normalise_id(target_id)
        if tid is None:
            self._manual = None
            return "automatic selection" + (f", keeping {self._locked}" if self._locked else "")
        self._manual = tid
        self._excluded.discard(tid)
        if self._locked == tid:
            return f"{tid} already locked"
        self._unlock()
        for c in self._latest:
            if c.target_id == tid:
                self._lock(c, self._last_stamp or 0.0, count_frame=False)
                return f"locked {tid} ({c.class_name})"
        return f"waiting for {tid}"

    def reset(self) -> None:
        """Forget everything except the manual request (e.g. when time jumps back in a bag loop)."""
        self._seen.clear()
        self._excluded.clear()
        self._latest = []
        self._last_stamp = None
        self._unlock()

    # ------------------------------------------------------------------ per frame
    def update(self, stamp_s: float, detections: list[Candidate]) -> SelectorOutput:
        """Process one frame (all detections of one message, stamp in seconds); returns what to publish."""
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            self.reset()
        self._last_stamp = stamp_s

        rejected: list[tuple[Candidate, str]] = []
        current: dict[str, Candidate] = {}
        for c in detections:
            reason = candidate_problem(c)
            if reason is None and c.confirmed:
                c = replace(c, target_id=str(int(c.target_id)))
                if c.target_id in current:
                    reason = f"duplicate id {c.target_id!r} in one frame"
            if reason is not None:
                rejected.append((c, reason))
            elif c.confirmed:
                current[c.target_id] = c

        timeout = self.config.lost_timeout_s
        for tid in current:
            frames, _ = self._seen.get(tid, (0, stamp_s))
            self._seen[tid] = (frames + 1, stamp_s)
        stale = [t for t, (_, last) in self._seen.items() if t not in current and stamp_s - last > timeout]
        for tid in stale:
            del self._seen[tid]
            self._excluded.discard(tid)
        self._latest = list(current.values())

        target: Candidate | None = None
        if self._locked is not None:
            if self._locked in current:
                target = current[self._locked]
                self._observe(target, stamp_s)
            elif stamp_s - self._last_seen > timeout:
                self._unlock()
            else:
                self._centres.clear()
        if self._locked is None:
            if self._manual is not None:
                choice = current.get(self._manual)
            else:
                choice = self._best(self._latest, self._excluded)
            if choice is not None:
                self._lock(choice, stamp_s, count_frame=True)
                target = choice

        if self._locked is None:
            state, tid, cls, unseen = "searching", self._manual or "", "", 0.0
        else:
            state = "locked" if target is not None else "lost"
            tid, cls, unseen = self._locked, self._locked_class, max(0.0, stamp_s - self._last_seen)
        return SelectorOutput(
            state=state,
            target_id=tid,
            class_name=cls,
            target=target,
            stable=self._stable() if target is not None else False,
            frames_locked=self._frames_locked if self._locked is not None else 0,
            unseen_s=unseen,
            manual=self._manual is not None,
            rejected=tuple(rejected),
        )

    # ------------------------------------------------------------------ internals
    def _eligible(self, c: Candidate) -> bool:
        classes = self.config.target_classes
        if classes and c.class_name not in classes:
            return False
        return self._seen.get(c.target_id, (0, 0.0))[0] >= self.config.min_track_age

    def _rank(self, c: Candidate) -> tuple[float, ...]:
        classes = self.config.target_classes
        prio = classes.index(c.class_name) if classes else 0
        policy, centre = self.config.policy, self.config.image_center
        if policy == "nearest_center" and centre is not None:
            key = math.hypot(c.cx - centre[0], c.cy - centre[1])
        elif policy == "highest_score":
            key = -c.score
        else:  # largest, and nearest_center while the image centre is unknown
            key = -c.area
        return (prio, key, int(c.target_id))

    def _best(self, candidates: list[Candidate], exclude: set[str]) -> Candidate | None:
        pool = [c for c in candidates if c.target_id not in exclude and self._eligible(c)]
        return min(pool, key=self._rank) if pool else None

    def _lock(self, c: Candidate, stamp_s: float, count_frame: bool) -> None:
        """Lock c; count_frame=False when locking between frames (service/parameter): the frame that
        contained c was already processed, so the lock starts counting at the next frame that has it."""
        self._unlock()
        self._locked = c.target_id
        self._locked_class = c.class_name
        self._last_seen = stamp_s
        if count_frame:
            self._observe(c, stamp_s)

    def _observe(self, c: Candidate, stamp_s: float) -> None:
        self._last_seen = stamp_s
        self._locked_class = c.class_name
        self._frames_locked += 1
        self._centres.append((c.cx, c.cy))

    def _unlock(self) -> None:
        self._locked = None
        self._locked_class = ""
        self._frames_locked = 0
        self._centres.clear()

    def _stable(self) -> bool:
        n = self.config.stable_frames
        if len(self._centres) < n:
            return False
        mx = sum(x for x, _ in self._centres) / n
        my = sum(y for _, y in self._centres) / n
        dev = max(math.hypot(x - mx, y - my) for x, y in self._centres)
        return dev <= self.config.stable_px
