"""MOTChallenge-style sequences: reading and writing (img1/, gt/gt.txt, seqinfo.ini, classes.txt).

Why: it is the layout people annotate tracking video in, TrackEval reads it, and the synthetic dives are
written in it. gt.txt rows are ``frame, id, bb_left, bb_top, w, h, flag, class, visibility`` with 1-based
frames and MOTChallenge's 1-based pixel coordinates (bb_left = x1 + 1 for a 0-based box x1); the class
column is 1-based (class k+1 = foreground label k, names in classes.txt). Files with 6-7 columns (no class,
e.g. MOT15) load with every object in class 0; flag 0 rows load as ``ignore``.
"""

from __future__ import annotations

import configparser
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.data.sequence import IMAGE_EXTS, FrameTargets, read_image
from tssd_ros.errors import InputError

_SPLIT = re.compile(r"[,\s]+")


def write_seqinfo(root: Path, name: str, frame_rate: float, length: int, width: int, height: int,
                  ext: str = ".jpg") -> None:
    """seqinfo.ini as MOTChallenge writes it (frameRate is an integer there; ours may be fractional)."""
    fr = int(frame_rate) if float(frame_rate).is_integer() else frame_rate
    (root / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate={fr}\nseqLength={length}\n"
        f"imWidth={width}\nimHeight={height}\nimExt={ext}\n"
    )


def format_gt_rows(frame: int, boxes: np.ndarray, ids: np.ndarray, labels: np.ndarray,
                   visibility: np.ndarray) -> list[str]:
    """MOT gt lines of one frame (frame 1-based; boxes 0-based xyxy)."""
    out = []
    for b, i, c, v in zip(boxes, ids, labels, visibility, strict=True):
        w, h = float(b[2] - b[0]), float(b[3] - b[1])
        out.append(f"{frame},{int(i)},{float(b[0]) + 1:g},{float(b[1]) + 1:g},{w:g},{h:g},1,{int(c) + 1},"
                   f"{float(v):.4f}")
    return out


def read_mot_txt(path: str | Path, min_cols: int = 6, what: str = "MOT file", columns: int | None = None
                 ) -> np.ndarray:
    """Read a MOTChallenge text file (comma or whitespace separated) into a float64 (N, C) array; with
    ``columns``, exactly that many (missing ones NaN, extra ones dropped: gt.txt -> 10).

    Every bad line is an InputError naming the file and line number; blank lines and lines starting with
    ``#`` are skipped. All data lines must have the same number of columns.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror or e}") from None
    rows: list[list[float]] = []
    ncols = 0
    first = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = [p for p in _SPLIT.split(s) if p]
        where = f"{path}:{lineno}"
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{where}: not a list of numbers: {_clip(s)!r}") from None
        if len(vals) < min_cols:
            raise InputError(f"{where}: expected at least {min_cols} numbers (frame, id, x, y, w, h"
                             f"{', conf' if min_cols > 6 else ''}), got {len(vals)}: {_clip(s)!r}")
        if not ncols:
            ncols, first = len(vals), lineno
        elif len(vals) != ncols:
            raise InputError(f"{where}: {len(vals)} columns but line {first} has {ncols}")
        if not all(math.isfinite(v) for v in vals[:7]):
            raise InputError(f"{where}: non-finite value in {_clip(s)!r}")
        if vals[0] != int(vals[0]) or vals[0] < 0:
            raise InputError(f"{where}: frame must be a non-negative integer, got {parts[0]}")
        if vals[4] < 0 or vals[5] < 0:
            raise InputError(f"{where}: negative box width/height in {_clip(s)!r}")
        rows.append(vals)
    if columns is not None:
        rows = [r[:columns] + [math.nan] * (columns - len(r[:columns])) for r in rows]
    if not rows:
        return np.zeros((0, columns or max(min_cols, 7)))
    return np.asarray(rows, np.float64)



def _clip(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."



def rows_by_frame(a: np.ndarray, first: int, last: int) -> list[np.ndarray]:
    """Row indices of a MOT array (frame in column 0) per frame ``first..last``, empty frames included;
    stable, so the file order is kept inside a frame."""
    if last < first or len(a) == 0:
        return [np.zeros(0, np.int64) for _ in range(max(0, last - first + 1))]
    f = a[:, 0].astype(np.int64) - first
    order = np.argsort(f, kind="stable")
    bounds = np.searchsorted(f[order], np.arange(last - first + 2))
    return [order[bounds[i]: bounds[i + 1]] for i in range(last - first + 1)]


@dataclass
class MotSequence:
    """One MOTChallenge sequence folder (frames 0-based in this API, 1-based on disk)."""

    root: Path
    name: str
    frame_rate: float
    length: int
    width: int
    height: int
    image_paths: list[Path]
    class_names: tuple[str, ...]
    gt: np.ndarray  # (N, 10) raw rows; columns 7-9 NaN where the file has none
    has_class: bool = False
    _by_frame: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.gt):
            first = int(self.gt[:, 0].min())
            for k, idx in enumerate(rows_by_frame(self.gt, first, int(self.gt[:, 0].max()))):
                if len(idx):
                    self._by_frame[first + k] = self.gt[idx]

    def __len__(self) -> int:
        return self.length

    def image(self, index: int) -> np.ndarray:
        if not 0 <= index < self.length:
            raise IndexError(f"frame {index} out of range 0..{self.length - 1}")
        return read_image(self.image_paths[index])

    def targets(self, index: int) -> FrameTargets:
        rows = self._by_frame.get(index + 1)
        if rows is None:
            return FrameTargets.empty()
        x1 = rows[:, 2] - 1
        y1 = rows[:, 3] - 1
        boxes = np.stack([x1, y1, x1 + rows[:, 4], y1 + rows[:, 5]], 1).astype(np.float32)
        flag = np.nan_to_num(rows[:, 6], nan=1.0)
        labels = (rows[:, 7] - 1).astype(np.int64) if self.has_class else np.zeros(len(rows), np.int64)
        vis = np.nan_to_num(rows[:, 8], nan=1.0).astype(np.float32) if self.has_class else np.ones(len(rows),
                                                                                                   np.float32)
        return FrameTargets(boxes, labels, rows[:, 1].astype(np.int64), np.clip(vis, 0, 1), flag == 0)

    def gt_array(self) -> np.ndarray:
        """gt rows in the 9-column form TrackEval and ``evaluate_mot`` read (class 1 when none)."""
        g = self.gt.copy()
        if not self.has_class:
            g[:, 7] = 1
            g[:, 8] = 1
        g[:, 6] = np.nan_to_num(g[:, 6], nan=1.0)
        return g[:, :9]


def read_seqinfo(root: str | Path) -> dict[str, str]:
    """The ``[Sequence]`` section of ``root/seqinfo.ini``, keys lower-cased ({} when there is none)."""
    path = Path(root) / "seqinfo.ini"
    if not path.is_file():
        return {}
    cp = configparser.ConfigParser()
    try:
        cp.read(path)
    except configparser.Error as e:
        raise InputError(f"{path}: not a readable seqinfo.ini ({type(e).__name__})") from None
    return {k.lower(): v for k, v in cp["Sequence"].items()} if cp.has_section("Sequence") else {}


def sequence_frame_rate(root: str | Path) -> float | None:
    """``frameRate`` of a sequence folder's seqinfo.ini (None: no file or no positive value). Why: the time
    rules of OTA (lifetimes, re-identification) need the real rate; MOT sequences run at 7 to 30 fps."""
    try:
        fr = float(read_seqinfo(root).get("framerate", "nan"))
    except ValueError:
        return None
    return fr if fr > 0 and fr == fr else None


def load_mot_sequence(root: str | Path, class_names: tuple[str, ...] | None = None) -> MotSequence:
    """Read a MOTChallenge folder: seqinfo.ini (optional: falls back to img1/), img1/*, gt/gt.txt."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory: pass a MOT sequence folder (with img1/ and gt/gt.txt)")
    info = read_seqinfo(root)
    img_dir = root / info.get("imdir", "img1")
    if not img_dir.is_dir():
        raise InputError(f"{root}: no image folder {img_dir.name}/ (MOT layout: img1/000001.jpg ...)")
    ext = info.get("imext")
    paths = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in ((ext.lower(),) if ext else IMAGE_EXTS))
    length = int(info.get("seqlength", len(paths)))
    if len(paths) < length:
        raise InputError(f"{root}: seqinfo.ini says {length} frames but {img_dir.name}/ holds {len(paths)}")
    paths = paths[:length]
    if length == 0:
        raise InputError(f"{root}: no images in {img_dir.name}/")
    width, height = int(info.get("imwidth", 0)), int(info.get("imheight", 0))
    if not width or not height:
        h, w = read_image(paths[0]).shape[:2]
        width, height = width or w, height or h
    gt_path = root / "gt" / "gt.txt"
    gt = read_mot_txt(gt_path, what="ground truth", columns=10) if gt_path.is_file() else np.zeros((0, 10))
    has_class = bool(len(gt)) and not np.isnan(gt[:, 7]).any() and gt.shape[1] >= 8 and (gt[:, 7] >= 1).all()
    if class_names is None:
        cls_file = root / "classes.txt"
        if cls_file.is_file():
            class_names = tuple(x.strip() for x in cls_file.read_text().splitlines() if x.strip())
        elif has_class and int(gt[:, 7].max()) <= len(UNDERWATER_CLASSES):
            class_names = UNDERWATER_CLASSES
        elif has_class:
            class_names = tuple(f"class{k}" for k in range(1, int(gt[:, 7].max()) + 1))
        else:
            class_names = ("object",)
    if has_class and int(gt[:, 7].max()) > len(class_names):
        raise InputError(f"{gt_path}: class {int(gt[:, 7].max())} but only {len(class_names)} class names")
    return MotSequence(root, info.get("name", root.name), float(info.get("framerate", 30)), length, width,
                       height, paths, tuple(class_names), gt, has_class)


def find_mot_sequences(root: str | Path) -> list[Path]:
    """``root`` itself if it is a sequence, else its sub-folders that are (MOT17/train/* style)."""
    root = Path(root)
    if (root / "img1").is_dir():
        return [root]
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "img1").is_dir()) if root.is_dir() else []
    if not seqs:
        raise InputError(f"{root}: neither a MOT sequence (img1/) nor a folder of sequences")
    return seqs
