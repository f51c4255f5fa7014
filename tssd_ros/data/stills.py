"""Annotated still images in the formats people label in: COCO json and YOLO txt.

Why: real underwater footage comes labelled as stills (URPC, RUIE, DUO, a user's own Roboflow export), not
as video. A :class:`StillImages` collection has the :class:`~tssd_ros.data.sequence.VideoSequence` interface
(``len``, ``image(i)``, ``targets(i)``) so the SSD stage, the evaluator and the clips-from-stills maker read
it like any sequence; ``frame_rate`` is 0 because consecutive images are not consecutive frames.

Source class names are mapped to ours with :func:`tssd_ros.classes.resolve_class_map` (URPC says
``echinus``, ``holothurian``); a name that maps to nothing is an error, never a silently dropped class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tssd_ros.classes import UNDERWATER_CLASSES, resolve_class_map
from tssd_ros.data.sequence import FrameTargets, is_image_file, read_image
from tssd_ros.errors import InputError

ClassMap = Mapping[str, str | None]


@dataclass
class StillImages:
    """Images with their boxes; targets in pixels of the image as stored (ids are the box index)."""

    name: str
    class_names: tuple[str, ...]
    paths: list[Path]
    sizes: list[tuple[int, int]]  # (width, height) per image, 0 when unknown until read
    boxes: list[np.ndarray]  # (K, 4) float32 xyxy px
    labels: list[np.ndarray]  # (K,) int64
    frame_rate: float = 0.0

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])

    def targets(self, index: int) -> FrameTargets:
        b, lab = self.boxes[index], self.labels[index]
        n = len(b)
        return FrameTargets(b.copy(), lab.copy(), np.arange(n, dtype=np.int64), np.ones(n, np.float32),
                            np.zeros(n, bool))

    def subset(self, indices: list[int] | np.ndarray, name: str | None = None) -> StillImages:
        """The images at ``indices`` (a quick evaluation on part of a split)."""
        idx = [int(i) for i in indices]
        return StillImages(name or self.name, self.class_names, [self.paths[i] for i in idx],
                           [self.sizes[i] for i in idx], [self.boxes[i] for i in idx],
                           [self.labels[i] for i in idx])

    def instance_counts(self) -> dict[str, int]:
        """Boxes per class (a model card's data table)."""
        allv = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)
        return {c: int((allv == k).sum()) for k, c in enumerate(self.class_names)}


def _clip_boxes(b: np.ndarray, w: int, h: int) -> np.ndarray:
    b = np.asarray(b, np.float32).reshape(-1, 4)
    if w > 0 and h > 0:
        b = np.clip(b, 0, [w, h, w, h])
    return b.astype(np.float32).reshape(-1, 4)


def load_coco(json_path: str | Path, image_root: str | Path | None = None,
              class_names: tuple[str, ...] = UNDERWATER_CLASSES, class_map: ClassMap | None = None,
              name: str | None = None) -> StillImages:
    """COCO detection json (``images``, ``annotations`` with ``bbox`` [x, y, w, h] px, ``categories``).

    ``file_name`` is resolved against ``image_root`` (default: the json's folder). ``iscrowd`` boxes are
    skipped. Images without annotations are kept (they teach the background).
    """
    json_path = Path(json_path)
    try:
        doc = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise InputError(f"COCO file {json_path} does not exist") from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read COCO file {json_path}: {e}") from None
    if not isinstance(doc, dict) or not {"images", "annotations", "categories"} <= set(doc):
        raise InputError(f"{json_path} is not COCO detection json (needs images, annotations, categories)")
    root = Path(image_root) if image_root is not None else json_path.parent
    cats = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    try:
        to_label = resolve_class_map(list(cats.values()), class_names, class_map)
    except ValueError as e:
        raise InputError(f"{json_path}: {e}") from None
    cat_label = {cid: to_label[n] for cid, n in cats.items()}
    order = {int(im["id"]): k for k, im in enumerate(doc["images"])}
    per_boxes: list[list[list[float]]] = [[] for _ in order]
    per_labels: list[list[int]] = [[] for _ in order]
    for a in doc["annotations"]:
        if a.get("iscrowd", 0):
            continue
        k = order.get(int(a["image_id"]))
        lab = cat_label.get(int(a["category_id"]))
        if k is None or lab is None:
            raise InputError(f"{json_path}: annotation {a.get('id')} names an unknown image or category")
        if lab < 0:
            continue
        x, y, w, h = (float(v) for v in a["bbox"])
        if w <= 0 or h <= 0:
            continue
        per_boxes[k].append([x, y, x + w, y + h])
        per_labels[k].append(lab)
    paths, sizes, boxes, labels = [], [], [], []
    for k, im in enumerate(doc["images"]):
        w, h = int(im.get("width", 0)), int(im.get("height", 0))
        paths.append(root / im["file_name"])
        sizes.append((w, h))
        boxes.append(_clip_boxes(np.asarray(per_boxes[k], np.float32), w, h))
        labels.append(np.asarray(per_labels[k], np.int64))
    if not paths:
        raise InputError(f"{json_path}: no images")
    return StillImages(name or json_path.stem, tuple(class_names), paths, sizes, boxes, labels)


def _read_names(path: Path) -> list[str]:
    if path.suffix in (".yaml", ".yml"):
        import yaml

        doc = yaml.safe_load(path.read_text()) or {}
        names = doc.get("names", [])
        return [names[k] for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
    return [x.strip() for x in path.read_text().splitlines() if x.strip()]


def load_yolo(image_dir: str | Path, label_dir: str | Path | None = None, names_file: str | Path | None = None,
              class_names: tuple[str, ...] = UNDERWATER_CLASSES, class_map: ClassMap | None = None,
              source_names: list[str] | None = None, name: str | None = None) -> StillImages:
    """YOLO txt (``class cx cy w h`` normalised, one file per image stem; a missing file = no objects).

    ``label_dir`` defaults to the Ultralytics convention (``images`` -> ``labels`` in the path). The source
    class names come from ``source_names``, ``names_file`` (classes.txt or a data.yaml with ``names``) or a
    ``classes.txt`` next to the image or label folder.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(f"YOLO image folder {image_dir} does not exist")
    if label_dir is None:
        parts = list(image_dir.parts)
        if "images" not in parts:
            raise InputError(f"{image_dir}: give label_dir (no 'images' folder in the path to map to 'labels')")
        i = len(parts) - 1 - parts[::-1].index("images")
        label_dir = Path(*parts[:i], "labels", *parts[i + 1:])
    label_dir = Path(label_dir)
    if source_names is None:
        cands = [Path(names_file)] if names_file else [d / "classes.txt" for p in (image_dir, label_dir)
                                                        for d in (p, p.parent, p.parent.parent)]
        hit = next((c for c in cands if c.is_file()), None)
        if hit is None:
            raise InputError(f"{image_dir}: no class names (pass names_file, e.g. classes.txt or data.yaml)")
        source_names = _read_names(hit)
    try:
        to_label = resolve_class_map(source_names, class_names, class_map)
    except ValueError as e:
        raise InputError(f"{image_dir}: {e}") from None
    lut = np.array([to_label[n] for n in source_names], np.int64)
    files = sorted(p for p in image_dir.iterdir() if is_image_file(p))
    if not files:
        raise InputError(f"{image_dir}: no images")
    paths, sizes, boxes, labels = [], [], [], []
    for f in files:
        txt = label_dir / (f.stem + ".txt")
        rows = np.zeros((0, 5))
        if txt.is_file():
            try:
                rows = np.loadtxt(txt, ndmin=2, usecols=range(5)) if txt.stat().st_size else rows
            except ValueError as e:
                raise InputError(f"{txt}: not YOLO rows 'class cx cy w h' ({e})") from None
        cls = rows[:, 0].astype(np.int64)
        if len(cls) and (cls.min() < 0 or cls.max() >= len(lut)):
            raise InputError(f"{txt}: class id {int(cls.max())} but only {len(lut)} class names")
        w, h = _image_size(f)
        c = rows[:, 1:5] * [w, h, w, h]
        b = np.stack([c[:, 0] - c[:, 2] / 2, c[:, 1] - c[:, 3] / 2, c[:, 0] + c[:, 2] / 2,
                      c[:, 1] + c[:, 3] / 2], 1) if len(c) else np.zeros((0, 4))
        lab = lut[cls] if len(cls) else np.zeros(0, np.int64)
        keep = lab >= 0
        paths.append(f)
        sizes.append((w, h))
        boxes.append(_clip_boxes(b[keep], w, h))
        labels.append(lab[keep])
    return StillImages(name or image_dir.name, tuple(class_names), paths, sizes, boxes, labels)


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header (PIL reads no pixels), so loading a big split stays fast."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, UnidentifiedImageError):
        raise InputError(f"cannot read image {path}: missing or not an image") from None
