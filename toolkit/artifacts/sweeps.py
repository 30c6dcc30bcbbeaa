"""Sweep folders: ``exports/<sweep-name>/`` written by ``toolkit tune``: the trials' table (CSV and
Markdown), their figure, the best settings as a config file, and ``sweep.json`` (what ran)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
TRIALS_PNG = "trials.png"
BEST_TOML = "best.toml"
SWEEP_JSON = "sweep.json"
SWEEP_FILES = (RESULTS_CSV, RESULTS_MD, TRIALS_PNG, BEST_TOML, SWEEP_JSON)


def is_toolkit_sweep(path: Path) -> bool:
    """Whether ``path`` is a sweep folder this toolkit wrote: a real folder holding only sweep files,
    with a ``sweep.json`` that names the toolkit's version."""
    if not path.is_dir() or path.is_symlink():
        return False
    names = {p.name for p in path.iterdir()}
    if not names <= set(SWEEP_FILES) or SWEEP_JSON not in names:
        return False
    try:
        return "toolkit_version" in json.loads((path / SWEEP_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, RecursionError):
        return False
