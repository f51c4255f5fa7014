"""The node's frame statistics for ``/diagnostics`` (no rclpy: counters and timings).

Why dropped frames are counted from the publisher's sequence numbers: tssd_node processes each frame in its
subscription callback, and its input keeps only the newest frame (keep last 1), so a camera faster than the
detector never builds a backlog and latency stays one frame deep; the frames replaced meanwhile never reach
the node. The DDS publication sequence number of each frame that does arrive (rclpy's message info) says how
many were skipped since the previous one: those are the dropped frames, and with the received ones they give
the camera's rate.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class FrameStats:
    """Counts and recent timings of the frames through the node, for ``/diagnostics``."""

    def __init__(self) -> None:
        self.n_in = self.n_done = self.n_dropped = self.n_bad = 0
        self.in_times: deque[tuple[float, int]] = deque(maxlen=200)  # (time, frames published so far)
        self._last_seq: int | None = None
        self.done_times: deque[float] = deque(maxlen=200)
        self.latency: deque[float] = deque(maxlen=500)
        self.inference: deque[float] = deque(maxlen=500)
        self.last_error = ""

    def arrived(self, seq: int | None = None) -> None:
        """A frame reached the node; ``seq``: its publication sequence number (None where unknown). A gap to
        the previous one counts the frames in between as dropped; a lower number means another publisher (or a
        restarted one) and starts a new count."""
        self.n_in += 1
        if seq is not None and self._last_seq is not None and seq > self._last_seq + 1:
            self.n_dropped += seq - self._last_seq - 1
        if seq is not None:
            self._last_seq = seq
        self.in_times.append((time.monotonic(), self.n_in + self.n_dropped))

    def done(self, latency_s: float | None, inference_s: float) -> None:
        if latency_s is not None:
            self.latency.append(latency_s)
        self.inference.append(inference_s)
        self.n_done += 1
        self.done_times.append(time.monotonic())

    def bad(self, reason: str) -> None:
        self.n_bad += 1
        self.last_error = reason

    @staticmethod
    def rate(times: deque[float], window: float = 5.0) -> float:
        """Events per second over the last ``window`` seconds."""
        now = time.monotonic()
        recent = [t for t in times if now - t <= window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def input_rate(self, window: float = 5.0) -> float:
        """Frames per second the camera published over the last ``window`` seconds (dropped ones included)."""
        now = time.monotonic()
        recent = [(t, n) for t, n in self.in_times if now - t <= window]
        if len(recent) < 2:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / max(recent[-1][0] - recent[0][0], 1e-6)

    def input_recent(self, within_s: float = 5.0) -> bool:
        return bool(self.in_times) and time.monotonic() - self.in_times[-1][0] < within_s

    def values(self) -> dict[str, str | int]:
        """The diagnostic key/values: rates, counters, latency and inference percentiles (ms)."""
        lat = np.array(self.latency) * 1000 if self.latency else np.zeros(0)
        inf = np.array(self.inference) * 1000 if self.inference else np.zeros(0)

        def pct(a: np.ndarray, q: float) -> str:
            return f"{np.percentile(a, q):.1f}" if a.size else "nan"

        return {
            "input_fps": f"{self.input_rate():.2f}",
            "processed_fps": f"{self.rate(self.done_times):.2f}",
            "frames_in": self.n_in,
            "frames_processed": self.n_done,
            "frames_dropped": self.n_dropped,
            "frames_bad": self.n_bad,
            "latency_p50_ms": pct(lat, 50),
            "latency_p95_ms": pct(lat, 95),
            "inference_p50_ms": pct(inf, 50),
        }
