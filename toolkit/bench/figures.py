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
from toolkit.core.files import Target, atomic_write_text


def write_figures(out: Optional[str], report: dict, target: Optional[Target] = None) -> None:
    """The figures, onto exactly what ``check_destination("figures", ...)`` checked (a file that appeared
    meanwhile is not replaced)."""
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
