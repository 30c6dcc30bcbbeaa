"""Run folders: ``exports/<run-name>/`` with ``model.keras``, ``vocab.json``, ``config.json`` and
``metrics.json``, and from training also ``training.png`` (the curves) and ``tensorboard/`` (the events).

A run folder is assembled in a hidden staging folder beside its final place and renamed into place
only when complete, so a crash never leaves a run folder that looks finished. Single-process and
Ray training both write it through :func:`write_run`; export and evaluation read it through
:func:`read_run` and neither knows how the model was trained.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from toolkit import __version__
from toolkit.artifacts.destinations import check_destination, is_toolkit_run
from toolkit.artifacts.exports import EXPORT_DIR
from toolkit.config import DataConfig, ModelConfig, from_dict, to_dict
from toolkit.core.errors import RunError, nested_deeper_than
from toolkit.core.files import Target, atomic_write_text, describe, staged_folder
from toolkit.edge.contract import CONFIG_FILE, KERAS_FILE, METRICS_FILE, RUN_FILES, VOCAB_FILE
from toolkit.edge.text import Vocabulary


def write_run(
    path: Path,
    save_model: Callable[[Path], None],
    vocabulary: Optional[Vocabulary],
    config: dict,
    metrics: dict,
    overwrite: bool = False,
    target: Optional[Target] = None,
    extras: Optional[Mapping[str, Callable[[Path], None]]] = None,
) -> Path:
    """Write a complete run folder at ``path`` atomically (staging folder, then rename), replacing
    exactly ``target`` (what was checked before training; default: what is there now, checked).
    ``extras``: {name: write(path)} for the run's other entries (``TRAINING_PNG``, ``EVENTS_DIR``),
    written by the caller's code (drawing and TensorBoard stay out of this package)."""
    extras = dict(extras or {})
    unknown = sorted(set(extras) - (set(RUN_FILES) - {KERAS_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE}))
    if unknown:  # a programming error
        raise ValueError(f"write_run's extras must be other run files, got {unknown}")
    if target is None:
        target = check_destination("run", path, overwrite)
    with staged_folder(path, target, is_toolkit_run, (*RUN_FILES, EXPORT_DIR)) as stage:
        save_model(stage / KERAS_FILE)
        for name, write in extras.items():
            write(stage / name)
        if vocabulary is not None:
            vocabulary.save(stage / VOCAB_FILE)
        atomic_write_text(stage / CONFIG_FILE, json.dumps({"toolkit_version": __version__, **config}, indent=2))
        atomic_write_text(stage / METRICS_FILE, json.dumps(metrics, indent=2))
    return path


def rescue(save_model: Callable[[Path], None], exc: Exception, path: Path) -> RunError:
    """The run folder could not be written (disk full, permissions, a folder that appeared there while
    training): save the finished model in the system's temporary folder so the work is not lost, and
    say where in the error."""
    try:
        spare = Path(tempfile.mkdtemp(prefix="toolkit-rescued-")) / KERAS_FILE
        save_model(spare)
        kept = f"the trained model is saved in {spare}"
    except Exception as second:  # the rescue itself failed: say so, the first error matters most
        kept = f"saving it elsewhere failed too ({second})"
    reason = describe(exc) if isinstance(exc, OSError) else str(exc)
    return RunError(f"could not write the run folder {path}: {reason}; {kept}")


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    metrics: dict
    vocabulary: Optional[Vocabulary]

    @property
    def model_file(self) -> Path:
        return self.path / KERAS_FILE

    @property
    def model_config(self) -> ModelConfig:
        """The architecture the run trained (``config.json``, type-checked: the file may be someone else's)."""
        return from_dict(ModelConfig, self.config.get("model", {}))

    def data_config(self, data_path: Optional[str] = None) -> DataConfig:
        """The data the run was trained on (``config.json``, type-checked), read from ``data_path`` if given."""
        cfg = from_dict(DataConfig, self.config.get("data", {}))
        return cfg if data_path is None else from_dict(DataConfig, {**to_dict(cfg), "path": data_path})


def _read_table(path: Path, name: str) -> dict:
    """A run folder's JSON file, which must hold a table (the file may be someone else's)."""
    try:
        table = json.loads((path / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is not a complete run folder ({exc}): train it again with 'toolkit train'") from None
    except RecursionError:  # '[[[[...' 100,000 deep: the parser gives up
        table = _TOO_DEEP
    if table is _TOO_DEEP or nested_deeper_than(table, MAX_NESTING):  # deep but parsed: json.dumps would fail
        raise RunError(f"{path / name} is nested too deeply to be a toolkit run's file: train the run again")
    if not isinstance(table, dict):
        raise RunError(f"{path / name} holds {type(table).__name__}, not a table of settings: train the run again")
    return table


MAX_NESTING = 32  # a run's config.json and metrics.json are 3 deep
_TOO_DEEP = object()


def read_run(path: str | os.PathLike) -> Run:
    """A run folder's config, metrics and vocabulary; errors name what is missing and what to do."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} does not exist: pass a folder written by 'toolkit train'")
    if not (path / KERAS_FILE).is_file():
        raise RunError(f"{path} has no trained model ({KERAS_FILE}): train one with 'toolkit train'")
    config, metrics = _read_table(path, CONFIG_FILE), _read_table(path, METRICS_FILE)
    if not isinstance(metrics.get("test", {}), dict):
        raise RunError(f"{path / METRICS_FILE} has no table of test figures: train the run again")
    vocabulary = None
    if (path / VOCAB_FILE).exists():
        vocabulary = Vocabulary.load(path / VOCAB_FILE)  # a bad file: VocabularyError, naming it
    return Run(path, config, metrics, vocabulary)
