"""Writing annotated frames as an MP4 (OpenCV's mp4v), whatever the frame rate and size changes of the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tssd_ros.errors import TssdError


class VideoOut:
    """An MP4 of annotated frames (``tssd replay --video``, the demo's video): the frame rate from the first two
    stamps (15 if they do not tell); frames of another size (the camera changed mode) are resized to the
    first one's."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.writer: Any = None
        self.size: tuple[int, int] = (0, 0)
        self.pending: list[tuple[Any, float]] = []

    def _open(self, fps: float) -> None:
        import cv2

        h, w = self.pending[0][0].shape[:2]
        self.size = (w, h)
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size)
        if not self.writer.isOpened():
            raise TssdError(f"cannot write video {self.path}: OpenCV has no mp4v encoder here")
        pending, self.pending = self.pending, []
        for im, _ in pending:
            self._write(im)

    def _write(self, img: Any) -> None:
        import cv2

        self.writer.write(img if img.shape[1::-1] == self.size else cv2.resize(img, self.size))

    def add(self, img: Any, stamp: float) -> None:
        if self.writer is not None:
            self._write(img)
            return
        self.pending.append((img, stamp))
        if len(self.pending) == 2:
            dt = self.pending[1][1] - self.pending[0][1]
            self._open(min(max(1.0 / dt, 1.0), 120.0) if dt > 0 else 15.0)

    def close(self) -> None:
        if self.writer is None and self.pending:  # a one-frame bag
            self._open(15.0)
        if self.writer is not None:
            self.writer.release()
