"""Errors meant for the user: one line saying what was wrong and how to fix it.

The CLI prints them without a traceback and exits non-zero; nodes log them and stop (bad config)
or drop the frame (bad input).
"""


class TssdError(Exception):
    """A user-facing error (bad file, bad argument, bad input)."""


class CheckpointError(TssdError):
    """A weights file is missing, corrupt or does not fit the architecture."""


class InputError(TssdError):
    """An input (image, video, detections file) cannot be used."""
