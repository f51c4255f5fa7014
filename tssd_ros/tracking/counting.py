"""Per-class counting of individuals over a dive, surviving node restarts.

Why: an ROV survey reports how many scallops / sea urchins / sea cucumbers it saw. An identity counts once
it has been matched ``min_hits`` times (OTA's ``confirmed``; a flickering false positive seen for two frames
never counts) and counts once however often it leaves and comes back under the same identity. The state is
saved atomically to JSON so that a restarted node continues the dive's count and hands ``next_id`` back to
the tracker: identities are never reissued. A save reserves ``ID_RESERVE`` identities ahead (the file's
``next_id`` is the live one plus the reserve, ``id_limit``), and the node saves again before it publishes an
identity at or past ``id_limit`` (:attr:`tssd_ros.pipeline.Pipeline.ids_unsaved`): after a ``kill -9`` the
restarted tracker starts above every identity the dead one ever published, not at the last periodic save.

The reference (the authors' later ROV software) counted identities "matched more than 5 times"; here the
rule is ``hits >= min_hits`` with hits including the birth, shared with ``OTAConfig.min_hits``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tssd_ros.errors import TssdError
from tssd_ros.tracking.track import Track

FORMAT = "tssd_ros.dive_counter"
VERSION = 1
ID_RESERVE = 1000  # identities reserved by each save (a restart skips at most this many)


class DiveCounter:
    """Cumulative unique individuals per class (``counts``) plus confirmed individuals in view now."""

    def __init__(self, class_names: Sequence[str] = (), min_hits: int = 5, next_id: int = 0) -> None:
        if min_hits < 1:
            raise TssdError(f"min_hits must be >= 1, got {min_hits}")
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.min_hits = int(min_hits)
        self.next_id = int(next_id)
        self.id_limit = int(next_id)  # identities below this are covered by the saved file's next_id
        self.counted_ids: dict[str, set[int]] = {c: set() for c in self.class_names}
        self.in_view: dict[str, int] = {c: 0 for c in self.class_names}
        self.updated: float | None = None

    def update(self, tracks: Iterable[Track], next_id: int | None = None, stamp: float | None = None) -> dict[str, int]:
        """Count one frame's tracks (``OTATracker.update`` output); returns cumulative counts per class.

        next_id: pass ``tracker.next_id`` so a saved state never lets a restarted tracker reissue an id
        (the counter also keeps ``max(id) + 1`` of what it saw). stamp: time of the frame (default: now).
        """
        in_view: dict[str, int] = {c: 0 for c in self.counted_ids}
        for t in tracks:
            if t.track_id < 0:
                continue
            self.next_id = max(self.next_id, t.track_id + 1)
            if t.hits < self.min_hits or t.frames_since_update != 0:
                continue
            self._count(int(t.track_id), t.class_name)
            in_view[t.class_name] = in_view.get(t.class_name, 0) + 1
        self.in_view = in_view
        if next_id is not None:
            self.next_id = max(self.next_id, int(next_id))
        self.updated = time.time() if stamp is None else float(stamp)
        return self.counts

    def _count(self, track_id: int, class_name: str) -> None:
        """Count an individual once, under its current class: a tubelet whose class vote changed (the
        detector took it for a look-alike first) moves from the old class's count to the new one's."""
        ids = self.counted_ids.setdefault(class_name, set())
        if track_id in ids:
            return
        for other in self.counted_ids.values():
            other.discard(track_id)
        ids.add(track_id)

    @property
    def counts(self) -> dict[str, int]:
        """Cumulative unique individuals per class."""
        return {c: len(ids) for c, ids in self.counted_ids.items()}

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{class: {"total": cumulative, "in_view": confirmed in view now}} for status messages."""
        return {c: {"total": len(ids), "in_view": self.in_view.get(c, 0)} for c, ids in self.counted_ids.items()}

    def reset_counts(self) -> None:
        """Start a new count (e.g. a new transect); next_id is kept so identities stay unique."""
        self.counted_ids = {c: set() for c in self.counted_ids}
        self.in_view = {c: 0 for c in self.counted_ids}

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self, reserve: int = 0) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "min_hits": self.min_hits,
            "next_id": self.next_id + int(reserve),
            "class_names": list(self.class_names),
            "counts": self.counts,
            "counted_ids": {c: sorted(ids) for c, ids in self.counted_ids.items()},
            "updated": self.updated,
            "saved_at": time.time(),
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "counts") -> DiveCounter:
        """Validate and rebuild; anything inconsistent is a TssdError (never a silent zero count)."""

        def bad(why: str) -> TssdError:
            return TssdError(f"corrupt counts file {source}: {why}; fix or move it away to start a new count")

        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise bad(f"not a {FORMAT} file")
        if d.get("version") != VERSION:
            raise bad(f"unsupported version {d.get('version')!r}")
        try:
            names = [str(c) for c in d["class_names"]]
            ids = {str(c): {int(i) for i in v} for c, v in d["counted_ids"].items()}
            counts = {str(c): int(n) for c, n in d["counts"].items()}
            next_id = int(d["next_id"])
            min_hits = int(d["min_hits"])
            updated = None if d.get("updated") is None else float(d["updated"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise bad(f"missing or wrong field ({e})") from None
        if counts != {c: len(v) for c, v in ids.items()}:
            raise bad("counts do not match counted_ids")
        if sum(len(v) for v in ids.values()) != len(set().union(*ids.values())):
            raise bad("an identity is counted under two classes")
        top = max((max(v) for v in ids.values() if v), default=-1)
        if next_id <= top:
            raise bad(f"next_id {next_id} <= counted id {top}")
        out = cls(names, min_hits=max(min_hits, 1), next_id=next_id)
        for c, v in ids.items():
            out.counted_ids[c] = v
            out.in_view.setdefault(c, 0)
        out.updated = updated
        return out

    def save(self, path: str | os.PathLike[str], reserve: int = ID_RESERVE) -> None:
        """Atomic write: temp file in the same folder, flush + fsync, os.replace, fsync the folder.

        A crash at any point leaves either the previous file or the new one, never a torn one. The file's
        ``next_id`` is ``reserve`` above the live one; ``id_limit`` becomes that value once it is on disk.
        """
        path = Path(path)
        limit = self.next_id + int(reserve)
        text = json.dumps(self.to_dict(reserve), indent=1, sort_keys=True)
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as e:
            raise TssdError(f"cannot write counts to {path}: {e.strerror or e}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(e, OSError):
                raise TssdError(f"cannot write counts to {path}: {e.strerror or e}") from None
            raise
        _fsync_dir(folder)
        self.id_limit = limit

    @classmethod
    def load(cls, path: str | os.PathLike[str], min_hits: int | None = None) -> DiveCounter:
        """Restore a saved state; min_hits overrides the stored rule when given."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TssdError(f"counts file {path} does not exist") from None
        except OSError as e:
            raise TssdError(f"cannot read counts file {path}: {e.strerror or e}") from None
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise TssdError(f"corrupt counts file {path}: not JSON ({e}); fix or move it away") from None
        out = cls.from_dict(d, source=str(path))
        if min_hits is not None:
            out.min_hits = int(min_hits)
        return out

    @classmethod
    def load_or_new(
        cls, path: str | os.PathLike[str], class_names: Sequence[str] = (), min_hits: int = 5
    ) -> DiveCounter:
        """Continue the dive in ``path`` if it exists (corrupt -> TssdError), else start a new count."""
        if not Path(path).exists():
            return cls(class_names, min_hits=min_hits)
        out = cls.load(path, min_hits=min_hits)
        for c in class_names:
            out.counted_ids.setdefault(c, set())
            out.in_view.setdefault(c, 0)
        if class_names and not out.class_names:
            out.class_names = tuple(class_names)
        return out


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
