"""Export folders: where a run's export goes by default and how a toolkit export is recognised."""

from __future__ import annotations

from pathlib import Path

from toolkit.edge.contract import EXPORT_FILES, ONNX_FILE

EXPORT_DIR = "onnx"  # a run's default export folder, inside it (toolkit export RUN)


def is_toolkit_export(path: Path) -> bool:
    """Whether ``path`` is an export folder this toolkit wrote: a real folder holding only export
    files, with a ``model.onnx`` that carries the toolkit's metadata."""
    if not path.is_dir() or path.is_symlink():
        return False
    names = {p.name for p in path.iterdir()}
    if not names <= set(EXPORT_FILES) or ONNX_FILE not in names:
        return False
    try:
        import onnx  # only here: reading a run folder needs no ONNX

        model = onnx.load(str(path / ONNX_FILE), load_external_data=False)
    except Exception:  # not an ONNX file at all
        return False
    return any(p.key == "toolkit.format_version" for p in model.metadata_props)
