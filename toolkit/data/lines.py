"""One-line lists and log lines of the data layer: names listed up to a bound, counted nouns, paths as
a user types them, and the log lines a load from the cache repeats."""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.core.progress import log

SHOWN = 12  # column and file names listed in one line


def listed(items) -> str:
    items = list(items)
    more = f", ... ({len(items) - SHOWN:,} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def say(notes: list[str], line: str) -> None:
    """Log a line and keep it in ``notes``: a load from the cache logs the same lines again."""
    log(line)
    notes.append(line)
