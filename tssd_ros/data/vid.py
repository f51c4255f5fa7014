"""ImageNet-VID style snippets (per-frame PASCAL VOC XML + ImageSets lists) and VOC still folders.

Why: the paper trained on ImageNet VID, and most annotation tools (CVAT, LabelImg) export per-frame VOC
XML, so this is the second format users bring. Layout::

    ROOT/Data/VID/<split>/<snippet>/000000.JPEG
    ROOT/Annotations/VID/<split>/<snippet>/000000.xml   (<object><trackid>, <name>, <bndbox>)
    ROOT/ImageSets/VID/<list>.txt                       ("<split>/<snippet>[/<frame>] <n>" per line)

VOC boxes are 1-based inclusive pixel indices (``xmin=1`` is the first pixel); they load as 0-based
continuous xyxy (x1 = xmin - 1, x2 = xmax). Names are mapped to classes with ``name_map`` (the 30
ImageNet VID WordNet ids map to their class names by default); objects of unknown names are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tssd_ros.classes import UNDERWATER_ALIASES, UNDERWATER_CLASSES
from tssd_ros.data.sequence import IMAGE_EXTS, FrameTargets, is_image_file, read_image
from tssd_ros.errors import InputError

VID_WNIDS: dict[str, str] = {
    "n02691156": "airplane", "n02419796": "antelope", "n02131653": "bear", "n02834778": "bicycle",
    "n01503061": "bird", "n02924116": "bus", "n02958343": "car", "n02402425": "cattle", "n02084071": "dog",
    "n02121808": "domestic_cat", "n02503517": "elephant", "n02118333": "fox", "n02510455": "giant_panda",
    "n02342885": "hamster", "n02374451": "horse", "n02129165": "lion", "n01674464": "lizard",
    "n02484322": "monkey", "n03790512": "motorcycle", "n02324045": "rabbit", "n02509815": "red_panda",
    "n02411705": "sheep", "n01726692": "snake", "n02355227": "squirrel", "n02129604": "tiger",
    "n04468005": "train", "n01662784": "turtle", "n04530566": "watercraft", "n02062744": "whale",
    "n02391049": "zebra",
}
VID_CLASSES: tuple[str, ...] = tuple(VID_WNIDS.values())


def parse_voc_xml(path: Path, class_names: tuple[str, ...], name_map: dict[str, str] | None = None,
                  one_based: bool = True) -> tuple[FrameTargets, tuple[int, int]]:
    """Targets and (width, height) of one VOC XML file (trackid -> ids, difficult -> ignore)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise InputError(f"cannot parse VOC XML {path}: {e}") from None
    names = {**VID_WNIDS, **UNDERWATER_ALIASES, **(name_map or {})}
    lookup = {c.lower(): i for i, c in enumerate(class_names)}
    size = root.find("size")
    wh = (int(float(size.findtext("width", "0"))), int(float(size.findtext("height", "0")))) if size is not None \
        else (0, 0)
    boxes, labels, ids, ignore = [], [], [], []
    off = 1.0 if one_based else 0.0
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        k = lookup.get(names.get(name, name).lower(), lookup.get(name.lower(), -1))
        bb = obj.find("bndbox")
        if k < 0 or bb is None:
            continue
        try:
            x1, y1 = float(bb.findtext("xmin")) - off, float(bb.findtext("ymin")) - off  # type: ignore[arg-type]
            x2, y2 = float(bb.findtext("xmax")) + 1 - off, float(bb.findtext("ymax")) + 1 - off  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"{path}: object '{name}' has an incomplete <bndbox>") from None
        boxes.append((x1, y1, x2, y2))
        labels.append(k)
        tid = obj.findtext("trackid")
        ids.append(int(tid) if tid is not None and tid.strip().lstrip("-").isdigit() else -1)
        ignore.append(obj.findtext("difficult", "0").strip() == "1")
    n = len(boxes)
    t = FrameTargets(np.asarray(boxes, np.float32).reshape(n, 4), np.asarray(labels, np.int64),
                     np.asarray(ids, np.int64), np.ones(n, np.float32), np.asarray(ignore, bool))
    return t, wh


@dataclass
class VidSnippet:
    """One ImageNet-VID style snippet: ordered frames with one XML each (missing XML = no objects)."""

    name: str
    image_paths: list[Path]
    xml_paths: list[Path | None]
    class_names: tuple[str, ...] = UNDERWATER_CLASSES
    frame_rate: float = 30.0
    name_map: dict[str, str] | None = None
    one_based: bool = True
    _cache: dict[int, FrameTargets] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.image_paths)

    def image(self, index: int) -> np.ndarray:
        return read_image(self.image_paths[index])

    def targets(self, index: int) -> FrameTargets:
        if index not in self._cache:
            xp = self.xml_paths[index]
            self._cache[index] = FrameTargets.empty() if xp is None else parse_voc_xml(
                xp, self.class_names, self.name_map, self.one_based)[0]
        return self._cache[index]


def _snippet(data_dir: Path, ann_dir: Path, rel: str, frames: list[str] | None, **kw: object) -> VidSnippet:
    img_dir = data_dir / rel
    if not img_dir.is_dir():
        raise InputError(f"missing snippet folder {img_dir}")
    if frames is None:
        imgs = sorted(p for p in img_dir.iterdir() if is_image_file(p))
    else:
        imgs = []
        for f in frames:
            exts = (*IMAGE_EXTS, *(x.upper() for x in IMAGE_EXTS))
            hit = next((img_dir / (f + e) for e in exts if (img_dir / (f + e)).is_file()), None)
            if hit is None:
                raise InputError(f"missing image {img_dir / f}.JPEG listed in the image set")
            imgs.append(hit)
    xmls = [(ann_dir / rel / (p.stem + ".xml")) for p in imgs]
    return VidSnippet(rel, imgs, [x if x.is_file() else None for x in xmls], **kw)  # type: ignore[arg-type]


def load_vid(root: str | Path, split: str = "train", image_set: str | Path | None = None,
             class_names: tuple[str, ...] = UNDERWATER_CLASSES, name_map: dict[str, str] | None = None,
             frame_rate: float = 30.0) -> list[VidSnippet]:
    """Snippets of an ImageNet-VID style tree, from an ImageSets list or by scanning Data/VID/<split>."""
    root = Path(root)
    data_dir, ann_dir = root / "Data" / "VID", root / "Annotations" / "VID"
    if not data_dir.is_dir():
        raise InputError(f"{root}: no Data/VID folder (ImageNet-VID layout expected)")
    kw = {"class_names": tuple(class_names), "name_map": name_map, "frame_rate": frame_rate}
    if image_set is None:
        base = data_dir / split
        if not base.is_dir():
            raise InputError(f"{root}: no Data/VID/{split} folder")
        dirs = sorted({p.parent for p in base.rglob("*") if is_image_file(p)})
        return [_snippet(data_dir, ann_dir, str(d.relative_to(data_dir)), None, **kw) for d in dirs]
    lst = Path(image_set)
    if not lst.is_file():
        lst = root / "ImageSets" / "VID" / (str(image_set) if str(image_set).endswith(".txt") else f"{image_set}.txt")
    if not lst.is_file():
        raise InputError(f"image set {image_set} not found (looked in {root / 'ImageSets' / 'VID'})")
    order: dict[str, list[str] | None] = {}
    for line in lst.read_text().split("\n"):
        tok = line.split()
        if not tok:
            continue
        rel = tok[0].strip("/")
        if (data_dir / rel).is_dir():
            order.setdefault(rel, None)
        else:  # a frame line: <snippet>/<frame>
            snip, _, frame = rel.rpartition("/")
            got = order.setdefault(snip, [])
            if got is not None and frame not in got:
                got.append(frame)
    return [_snippet(data_dir, ann_dir, rel, frames, **kw) for rel, frames in order.items()]


def load_voc_folder(root: str | Path, class_names: tuple[str, ...] = UNDERWATER_CLASSES,
                    name_map: dict[str, str] | None = None) -> VidSnippet:
    """A folder of still images with VOC XML beside them or in Annotations/ (LabelImg/CVAT export)."""
    root = Path(root)
    img_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else img_dir
    imgs = sorted(p for p in img_dir.iterdir() if is_image_file(p)) if img_dir.is_dir() else []
    if not imgs:
        raise InputError(f"{root}: no images found (expected *.jpg/*.png, or JPEGImages/)")
    xmls = [ann_dir / (p.stem + ".xml") for p in imgs]
    return VidSnippet(root.name, imgs, [x if x.is_file() else None for x in xmls], tuple(class_names),
                      name_map=name_map)
