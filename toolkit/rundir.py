"""Run folders: ``exports/<run-name>/`` with ``model.keras``, ``vocab.json``, ``config.json`` and
``metrics.json``.

A run folder is assembled in a hidden staging folder beside its final place and renamed into place
only when complete, so a crash never leaves a run folder that looks finished. Single-process and
Ray training both write it through :func:`write_run`; export and evaluation read it through
:func:`read_run` and neither knows how the model was trained.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from . import __version__
from .errors import RunError
from .text import Vocabulary, VocabularyError, atomic_write_text

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
RUN_FILES = (MODEL_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE)


def default_run_name() -> str:
    return time.strftime("imdb-lstm-%Y%m%d-%H%M%S")


def run_path(exports_dir: str, run_name: Optional[str]) -> Path:
    return Path(exports_dir) / (run_name or default_run_name())


def check_writable(path: Path, overwrite: bool) -> None:
    """Fail before any training if the run folder would clobber an existing one."""
    if path.exists() and not overwrite:
        raise RunError(f"run folder {path} already exists: choose another --run-name or pass --overwrite")


def write_run(
    path: Path,
    save_model: Callable[[Path], None],
    vocabulary: Optional[Vocabulary],
    config: dict,
    metrics: dict,
    overwrite: bool = False,
) -> Path:
    """Write a complete run folder at ``path`` atomically (staging folder, then rename)."""
    check_writable(path, overwrite)
    with staged_folder(path) as stage:
        save_model(stage / MODEL_FILE)
        if vocabulary is not None:
            vocabulary.save(stage / VOCAB_FILE)
        atomic_write_text(stage / CONFIG_FILE, json.dumps({"toolkit_version": __version__, **config}, indent=2))
        atomic_write_text(stage / METRICS_FILE, json.dumps(metrics, indent=2))
    return path


@contextmanager
def staged_folder(path: Path) -> Iterator[Path]:
    """An empty hidden folder beside ``path`` to fill; when the block completes it replaces ``path``
    in one rename, and when the block fails it is deleted. Readers never see a half-written folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-", dir=path.parent))
    try:
        yield stage
        os.chmod(stage, 0o755)  # mkdtemp makes it private
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        os.replace(stage, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    metrics: dict
    vocabulary: Optional[Vocabulary]

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE


def read_run(path: str | os.PathLike) -> Run:
    """A run folder's config, metrics and vocabulary; errors name what is missing and what to do."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} does not exist: pass a folder written by 'toolkit train'")
    if not (path / MODEL_FILE).is_file():
        raise RunError(f"{path} has no trained model ({MODEL_FILE}): train one with 'toolkit train'")
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        metrics = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is not a complete run folder ({exc}): train it again with 'toolkit train'") from None
    vocabulary = None
    if (path / VOCAB_FILE).exists():
        try:
            vocabulary = Vocabulary.load(path / VOCAB_FILE)
        except VocabularyError as exc:
            raise RunError(f"bad vocabulary in run folder: {exc}") from None
    return Run(path, config, metrics, vocabulary)
