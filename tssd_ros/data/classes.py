"""Class list of the underwater benchmark.

Why one place: the generator, the loaders, the evaluator and the detector heads must agree on the order
(0-based foreground labels; MOTChallenge class column = label + 1).
"""

from __future__ import annotations

UNDERWATER_CLASSES: tuple[str, ...] = ("seaurchin", "scallop", "seacucumber")


def class_index(name: str, class_names: tuple[str, ...] = UNDERWATER_CLASSES) -> int:
    """0-based foreground index of ``name`` (case-insensitive), -1 when unknown."""
    low = name.strip().lower()
    for i, c in enumerate(class_names):
        if c.lower() == low:
            return i
    return -1
