"""Write a synthetic dive to disk: MOTChallenge layout (+ optional rosbag2 and id masks).

Why separate from the renderer: rendering is pure (arrays in memory, used by tests and on-the-fly
training); this module owns the file formats, so that a dive on disk loads back through
``load_mot_sequence`` like any user's footage.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import cv2
from tqdm import tqdm

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.data.mot import format_gt_rows, write_seqinfo
from tssd_ros.data.synth import GENERATOR_VERSION, DiveRenderer, SynthConfig
from tssd_ros.errors import InputError


def write_dive(out: str | Path, cfg: SynthConfig, bag: bool = False, compressed: bool = False,
               storage: str = "sqlite3", masks: bool = False, force: bool = False, progress: bool = True
               ) -> Path:
    """Render ``cfg`` into ``out`` (img1/, gt/gt.txt, seqinfo.ini, classes.txt, synth.json, [bag/, masks/]).

    The compressed bag carries the very JPEG bytes of img1/, the raw bag the exact rendered pixels.
    Returns ``out``.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise InputError(f"{out} is not empty: choose a new directory or pass --force to overwrite")
        shutil.rmtree(out)
    (out / "img1").mkdir(parents=True)
    (out / "gt").mkdir()
    if masks:
        (out / "masks").mkdir()
    writer = None
    if bag:
        from tssd_ros.bag.writer import ImageBagWriter

        writer = ImageBagWriter(out / "bag", compressed=compressed, storage=storage,
                                jpeg_quality=cfg.jpeg_quality)
        writer.__enter__()
    renderer = DiveRenderer(cfg)
    lines: list[str] = []
    stamps: list[str] = []
    try:
        for fr in tqdm(renderer, total=cfg.frames, desc=f"synth {out.name}", unit="frame", disable=not progress):
            ok, enc = cv2.imencode(".jpg", fr.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            if not ok:
                raise InputError("JPEG encoding failed")
            (out / "img1" / f"{fr.index + 1:06d}.jpg").write_bytes(enc.tobytes())
            if masks:
                cv2.imwrite(str(out / "masks" / f"{fr.index + 1:06d}.png"), fr.ids.astype("uint16"))
            lines += format_gt_rows(fr.index + 1, fr.boxes, fr.track_ids, fr.labels, fr.visibility)
            stamps.append(f"{fr.index + 1},{fr.stamp:.6f}")
            if writer is not None:
                writer.write(fr.stamp, enc.tobytes() if compressed else fr.image)
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    (out / "gt" / "gt.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    (out / "timestamps.txt").write_text("\n".join(stamps) + "\n")
    (out / "classes.txt").write_text("\n".join(UNDERWATER_CLASSES) + "\n")
    write_seqinfo(out, out.name, cfg.fps, cfg.frames, cfg.width, cfg.height)
    meta = {"generator": "tssd_ros.data.synth", "generator_version": GENERATOR_VERSION, "config": asdict(cfg)}
    (out / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
