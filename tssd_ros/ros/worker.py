"""The node's latest-frame worker and its frame statistics (no rclpy: plain threads and counters).

Why latest-frame: a camera publishes faster than a CPU detector runs; the subscription callback only puts the
newest frame into a one-frame slot and a worker thread processes it, so there is never a backlog and latency
stays one frame deep. A frame that arrives while the slot is full replaces it and is counted as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np


class FrameStats:
    """Counts and recent timings of the frames through the node, for ``/diagnostics``."""

    def __init__(self) -> None:
        self.n_in = self.n_done = self.n_dropped = self.n_bad = 0
        self.in_times: deque[float] = deque(maxlen=200)
        self.done_times: deque[float] = deque(maxlen=200)
        self.latency: deque[float] = deque(maxlen=500)
        self.inference: deque[float] = deque(maxlen=500)
        self.last_error = ""

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

    def input_recent(self, within_s: float = 5.0) -> bool:
        return bool(self.in_times) and time.monotonic() - self.in_times[-1] < within_s

    def values(self) -> dict[str, str | int]:
        """The diagnostic key/values: rates, counters, latency and inference percentiles (ms)."""
        lat = np.array(self.latency) * 1000 if self.latency else np.zeros(0)
        inf = np.array(self.inference) * 1000 if self.inference else np.zeros(0)

        def pct(a: np.ndarray, q: float) -> str:
            return f"{np.percentile(a, q):.1f}" if a.size else "nan"

        return {
            "input_fps": f"{self.rate(self.in_times):.2f}",
            "processed_fps": f"{self.rate(self.done_times):.2f}",
            "frames_in": self.n_in,
            "frames_processed": self.n_done,
            "frames_dropped": self.n_dropped,
            "frames_bad": self.n_bad,
            "latency_p50_ms": pct(lat, 50),
            "latency_p95_ms": pct(lat, 95),
            "inference_p50_ms": pct(inf, 50),
        }


class LatestFrameWorker:
    """A one-frame slot and the thread that empties it through ``process(msg)``.

    ``process`` raising is the frame's problem, not the node's: ``on_error(exc)`` is told and the worker goes
    on with the next frame.
    """

    def __init__(self, process: Callable[[Any], None], on_error: Callable[[Exception], None],
                 stats: FrameStats) -> None:
        self._process, self._on_error, self.stats = process, on_error, stats
        self._slot: Any = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="tssd_worker", daemon=True)
        self._thread.start()

    def offer(self, msg: Any) -> None:
        """Put the newest frame in the slot (replacing, and counting as dropped, an unprocessed one)."""
        with self._cond:
            self.stats.n_in += 1
            self.stats.in_times.append(time.monotonic())
            if self._slot is not None:
                self.stats.n_dropped += 1
            self._slot = msg
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stop:
                    self._cond.wait(timeout=0.5)
                if self._stop:
                    return
                msg, self._slot = self._slot, None
            try:
                self._process(msg)
            except Exception as e:  # noqa: BLE001 - one bad frame never stops the node
                self._on_error(e)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
