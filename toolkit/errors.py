"""Errors the toolkit raises for things a user can fix.

The CLI prints a ``ToolkitError`` as one line (``toolkit: error: ...``) and exits non-zero; anything
else is a bug and keeps its traceback.
"""


class ToolkitError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for one-line
    errors that wrap another library's multi-line ones."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DataError(ToolkitError):
    """The reviews could not be found, read, downloaded or verified."""


class ConfigError(ToolkitError):
    """A setting is out of range or inconsistent."""


class RunError(ToolkitError):
    """A run folder is missing, incomplete, or would be overwritten."""


class TrainingDiverged(ToolkitError):
    """The loss became NaN or infinite: the weights are garbage and nothing is saved."""
