"""The underwater class list and the names other data sets use for the same animals.

Why one place: the data loaders, the synthetic generator, the model presets, the evaluator and the configs
must agree on the order (0-based foreground labels; MOTChallenge class column = label + 1). The order is
URPC's (holothurian, echinus, scallop, starfish), so URPC's YOLO ids are ours unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

UNDERWATER_CLASSES: tuple[str, ...] = ("seacucumber", "seaurchin", "scallop", "starfish")

# Names seen in public underwater sets (URPC, RUIE, DUO, ...), lower case, mapped to ours.
UNDERWATER_ALIASES: dict[str, str] = {
    "holothurian": "seacucumber", "sea_cucumber": "seacucumber", "sea cucumber": "seacucumber",
    "cucumber": "seacucumber",
    "echinus": "seaurchin", "sea_urchin": "seaurchin", "sea urchin": "seaurchin", "urchin": "seaurchin",
    "scallops": "scallop",
    "sea_star": "starfish", "seastar": "starfish", "sea star": "starfish",
}


def class_index(name: str, class_names: tuple[str, ...] = UNDERWATER_CLASSES) -> int:
    """0-based foreground index of ``name`` (case-insensitive), -1 when unknown."""
    low = name.strip().lower()
    for i, c in enumerate(class_names):
        if c.lower() == low:
            return i
    return -1


def class_name(label: int, class_names: tuple[str, ...]) -> str:
    """The name of 0-based label ``label``, or the number as text when the table has no such entry (a checkpoint
    without names, or a label outside it): a box is never dropped for want of a name."""
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def resolve_class_map(source_names: list[str] | tuple[str, ...], class_names: tuple[str, ...],
                      class_map: Mapping[str, str | None] | None = None) -> dict[str, int]:
    """Source-data class name -> our 0-based label, or -1 for names mapped to ``None`` (dropped on purpose).

    ``class_map`` (from a dataset config) wins over the built-in aliases; a name that maps to nothing raises
    ValueError naming it and the classes it could map to, so a typo never silently drops a class.
    """
    user = {k.strip().lower(): v for k, v in (class_map or {}).items()}
    out: dict[str, int] = {}
    for src in source_names:
        low = src.strip().lower()
        if low in user:
            target = user[low]
            if target is None:
                out[src] = -1
                continue
        else:
            target = UNDERWATER_ALIASES.get(low, src) if class_index(src, class_names) < 0 else src
        idx = class_index(str(target), class_names)
        if idx < 0:
            raise ValueError(f"class {src!r} of the data maps to {target!r}, which is not one of {list(class_names)};"
                             " add it to the dataset's class_map (or map it to null to drop it)")
        out[src] = idx
    return out
