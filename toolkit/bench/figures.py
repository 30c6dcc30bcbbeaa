"""Benchmark figures: the ``--out`` JSON file checked before measuring and written atomically after,
and the machine line each benchmark records.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import tempfile
from pathlib import Path
from typing import Optional

from toolkit import __version__
from toolkit.core.errors import BenchError, WriteError
from toolkit.core.files import Target, atomic_write_text, check_file_target


def check_out(out: Optional[str], overwrite: bool = False) -> Optional[Target]:
    """The figures' file must be writable before minutes of measuring depend on it; an existing file is
    replaced only with ``overwrite`` and only if it holds a toolkit benchmark's figures. Returns what
    was checked, for :func:`write_figures`."""
    if not out:
        return None
    try:
        return check_file_target(Path(out), overwrite, is_toolkit_figures, "--out")
    except WriteError as exc:
        raise BenchError(str(exc)) from None


def is_toolkit_figures(path: Path) -> bool:
    """A JSON file of figures that a toolkit benchmark wrote (it names the benchmark and the toolkit version)."""
    try:
        if path.stat().st_size > 100_000_000:
            return False
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(report, dict) and "toolkit_version" in report and "benchmark" in report


def write_figures(out: Optional[str], report: dict, target: Optional[Target] = None) -> None:
    """The figures, onto exactly what :func:`check_out` checked (a file that appeared meanwhile is not
    replaced)."""
    if not out:
        return
    text = json.dumps({"toolkit_version": __version__, **report}, indent=2)
    try:
        atomic_write_text(Path(out), text, target)
    except WriteError as exc:  # a full disk, a file that appeared there: keep the minutes of measuring
        fd, spare = tempfile.mkstemp(prefix="toolkit-figures-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        raise BenchError(f"{exc}; the figures are saved in {spare}") from None


def machine() -> str:
    return f"{platform.machine()}, {multiprocessing.cpu_count()} CPU(s), {platform.python_version()}"
