"""Export folders: where a run's export goes by default."""

from __future__ import annotations

import os
from pathlib import Path

EXPORT_DIR = "onnx"  # a run's default export folder, inside it (toolkit export RUN)


def default_export_dir(run_dir: str | os.PathLike) -> Path:
    """A run's export folder when ``--out`` is not given: ``<run>/onnx``."""
    return Path(run_dir) / EXPORT_DIR
