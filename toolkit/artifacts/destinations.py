"""The one "may the toolkit write here" check of its artifacts, made before long work starts: a run
folder, an export folder, a sweep folder, a benchmark's figures file. Each may replace only what the toolkit wrote
(recognised by the ``is_toolkit_*`` functions here), only with ``--overwrite``, and its folder must take
files (a real probe, ``core.files``). Returns what was checked (``core.files.Target``): the final
rename replaces exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolkit.artifacts.exports import EXPORT_DIR
from toolkit.artifacts.sweeps import is_toolkit_sweep
from toolkit.core.errors import BenchError, ExportError, RunError, ToolkitError, TuneError, WriteError
from toolkit.core.files import Target, check_file_target, check_target
from toolkit.edge.contract import CONFIG_FILE, EXPORT_FILES, KERAS_FILE, ONNX_FILE, RUN_FILES


@dataclass(frozen=True)
class Destination:
    what: str  # "run folder": how errors name it
    flag: str  # the flag that picks another place
    ours: Callable[[Path], bool]  # toolkit wrote what stands there
    error: type[ToolkitError]  # the error a refusal raises
    folder: bool  # a folder (else a file)


def check_destination(kind: str, path: str | Path, overwrite: bool) -> Target:
    """Before the long work that writes ``path``, a ``kind`` of artifact ("run", "export", "figures"):
    see the module docstring. Raises the kind's error (``RunError``, ``ExportError``, ``BenchError``)."""
    d = DESTINATIONS[kind]
    try:
        if d.folder:
            return check_target(Path(path), overwrite, d.ours, d.what, d.flag)
        return check_file_target(Path(path), overwrite, d.ours, d.flag)
    except WriteError as exc:
        raise d.error(str(exc)) from None


def is_toolkit_run(path: Path) -> bool:
    """Whether ``path`` is a run folder this toolkit wrote: a real folder holding only run files (and
    an ``onnx/`` export of its own), with a ``config.json`` that names the toolkit's version."""
    if not path.is_dir() or path.is_symlink():
        return False
    names = {p.name for p in path.iterdir()}
    if not names <= set(RUN_FILES) | {EXPORT_DIR} or KERAS_FILE not in names:
        return False
    if EXPORT_DIR in names and not is_toolkit_export(path / EXPORT_DIR):
        return False
    try:
        return "toolkit_version" in json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, RecursionError):
        return False


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


def is_toolkit_figures(path: Path) -> bool:
    """A JSON file of figures that a toolkit benchmark wrote (it names the benchmark and the toolkit version)."""
    try:
        if path.stat().st_size > 100_000_000:
            return False
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(report, dict) and "toolkit_version" in report and "benchmark" in report


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_SOFTWARE = b"Software\x00toolkit"  # the tEXt chunk the toolkit's screenshots carry (bench.web.tag_png)


def is_toolkit_png(path: Path) -> bool:
    """A PNG the toolkit wrote: its signature, and a tEXt chunk naming the toolkit among its first bytes."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 50_000_000:
            return False
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    chunk = len(PNG_SOFTWARE).to_bytes(4, "big") + b"tEXt" + PNG_SOFTWARE  # its exact length: no longer text
    return head.startswith(PNG_SIGNATURE) and chunk in head


DESTINATIONS = {
    "run": Destination("run folder", "--run-name or --exports-dir", is_toolkit_run, RunError, folder=True),
    "export": Destination("export folder", "--out", is_toolkit_export, ExportError, folder=True),
    "figures": Destination("figures file", "--out", is_toolkit_figures, BenchError, folder=False),
    "sweep": Destination("sweep folder", "--name or --exports-dir", is_toolkit_sweep, TuneError, folder=True),
    "screenshot": Destination("screenshot", "--screenshot", is_toolkit_png, BenchError, folder=False),
}
