"""Every error the toolkit raises for things a user can fix, in one place.

The CLI prints a ``ToolkitError`` as one line (``toolkit: error: ...``) and exits non-zero; anything
else is a bug and keeps its traceback. Each stage has its own subclass, so a library user can catch
exactly what a stage may raise. Rules: the message says what went wrong and what to do; an error that
wraps another library's exception keeps its first line (:func:`first_line`) and is raised
``from None`` (the library's traceback would only repeat it), except a failed Ray training, which keeps
the workers' error as its ``__cause__`` (the only place a worker's stack survives).
"""

import re


class ToolkitError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for one-line
    errors that wrap another library's multi-line ones; terminal colour codes (Ray colours its actor
    names) are dropped."""
    text = ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # CSI sequences: colours, cursor moves


# --- inputs -----------------------------------------------------------------------------------------
class ConfigError(ToolkitError):
    """A setting is out of range or inconsistent."""


class DataError(ToolkitError):
    """The reviews could not be found, read, downloaded or verified."""


class VocabularyError(ToolkitError):
    """A vocabulary file (``vocab.json``) is unreadable, edited, or of an unsupported version."""


class WriteError(ToolkitError):
    """A file or folder cannot be written where asked, or would replace something that is not ours."""


# --- stages -----------------------------------------------------------------------------------------
class RunError(ToolkitError):
    """A run folder is missing, incomplete, or would be overwritten."""


class TrainingDiverged(ToolkitError):
    """The loss became NaN or infinite: the weights are garbage and nothing is saved."""


class ClusterError(ToolkitError):
    """The Ray cluster is unreachable, too small for the request, or training failed on it."""


class ExportError(ToolkitError):
    """The run cannot be exported, an export folder is incomplete or inconsistent, or the conversion
    produced something unusable."""


class PredictError(ToolkitError):
    """A review or an input file cannot be classified."""


class BenchError(ToolkitError):
    """A benchmark cannot run with these settings."""


class WebError(ToolkitError):
    """The web page cannot be served: its files, onnxruntime-web's, the address."""


class TuneError(ToolkitError):
    """A sweep cannot run, or none of its trials produced a result."""


# --- parity (toolkit verify): one type per violated tolerance ----------------------------------------
class ParityError(ToolkitError):
    """ONNX does not behave like Keras within the tolerances."""


class ProbabilityMismatch(ParityError):
    """Some probabilities differ by more than atol + rtol * |p|."""


class LabelFlips(ParityError):
    """More labels differ than allowed."""


class AccuracyDrop(ParityError):
    """A quantised variant lost more accuracy than allowed."""


class LabelDisagreement(ParityError):
    """A quantised variant gives Keras' label on too few reviews."""


class NonFiniteProbabilities(ParityError):
    """Keras or ONNX gave NaN or infinite probabilities: the model is broken, whatever the differences."""


# --- showing untrusted text in one line -------------------------------------------------------------
def one_line(text: object) -> str:
    """``text`` (a message, a path) with every character that could end or hide a line escaped as
    Python writes it (``\\n``, ``\\x1b``, ``\\u2028``): control and format characters (Unicode Cc, Cf),
    line and paragraph separators (Zl, Zp) and the lone surrogates a file name that is not UTF-8 decodes
    to (Cs: printing one would fail). A path or run name holding a newline then cannot split an error or
    a result line, nor an ANSI code recolour the terminal."""
    import unicodedata

    text = str(text)
    if text.isprintable() and text.isascii():  # the usual case, fast
        return text
    out = []
    for c in text:
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(repr(c)[1:-1])  # such a character is never printable: repr escapes it
        else:
            out.append(c)
    return "".join(out)


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` deep in ``value`` (parsed JSON from someone else's
    file), found without recursion. Python's ``json`` parses about 1,000 levels and fails with a
    RecursionError beyond; a value nested just under that parses, but writing it back (a checksum, an
    error's repr) may fail: readers refuse more nesting than their files ever have."""
    containers = (dict, list)
    stack = [(value, 1)] if isinstance(value, containers) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return False
