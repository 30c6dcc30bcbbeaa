"""Errors the toolkit raises for things a user can fix.

The CLI prints a ``ToolkitError`` as one line (``toolkit: error: ...``) and exits non-zero; anything
else is a bug and keeps its traceback.
"""


class ToolkitError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


class DataError(ToolkitError):
    """The reviews could not be found, read, downloaded or verified."""


class ConfigError(ToolkitError):
    """A setting is out of range or inconsistent."""


class RunError(ToolkitError):
    """A run folder is missing, incomplete, or would be overwritten."""


class TrainingDiverged(ToolkitError):
    """The loss became NaN or infinite: the weights are garbage and nothing is saved."""
