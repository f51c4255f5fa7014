"""The score scale OTA's thresholds are defined on.

Why: ``G`` and ``low_score`` are fractions of a detector's confident score, but detectors disagree on what
that is: ours score in [0, 1], MOT public detections reach 133. Scores are divided by a scale: a fixed one
(``OTAConfig.score_scale > 0``, applied by the tracker) or, by default, this one, read from the stream itself:
the ``SCALE_RANK``-th largest score seen since ``reset()`` (the largest while fewer have been seen), at least 1.
Scores in [0, 1] are used as they are, a stream on a larger scale reaches it within its first confident
detections, and a few outlier scores (a glitch, one odd box) do not raise every threshold for the rest of the
stream.
"""

from __future__ import annotations

import numpy as np

SCALE_RANK = 20  # the scale is this rank among the largest scores seen


class ScoreScale:
    """``scale(scores)`` -> scores on OTA's scale; ``value`` is the divisor in use."""

    def __init__(self) -> None:  # one per stream: OTATracker.reset() makes a new one
        self.value = 1.0
        self._top = np.zeros(0)  # the SCALE_RANK largest scores seen, ascending

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        top = self._top
        if len(scores) and (len(top) < SCALE_RANK or scores.max() > top[0]):  # else no change
            top = np.concatenate([top, scores])
            if len(top) > SCALE_RANK:
                top = np.partition(top, len(top) - SCALE_RANK)[-SCALE_RANK:]
            top.sort()
            self._top = top
            self.value = max(1.0, float(top[0] if len(top) == SCALE_RANK else top[-1]))
        return scores / self.value if self.value != 1.0 else scores
