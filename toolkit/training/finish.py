"""Finishing a training, single-process or Ray alike: evaluate on the test split and write the run
folder (rescuing the model when the folder cannot be written), with its curves (``training.png``) and
the TensorBoard events written while it trained (``tensorboard/``, taken from the live folder).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Optional

from toolkit import __version__
from toolkit._tf import keras, tf
from toolkit.artifacts.runs import rescue, write_run
from toolkit.config import JobConfig, to_dict
from toolkit.config.settings import run_config_toml
from toolkit.core.errors import RunError, WriteError
from toolkit.core.files import Target
from toolkit.core.progress import log
from toolkit.data.dataset import LabelledData
from toolkit.data.prepared import read_manifest
from toolkit.edge.contract import EVENTS_DIR, SETTINGS_FILE, TRAINING_PNG
from toolkit.model.evaluate import evaluate_prepared, evaluate_split
from toolkit.training.curves import plot_training
from toolkit.training.events import collect_events, discard_collected, discard_own, event_files, live_events_dir, ours
from toolkit.training.prepare import TrainResult


def environment() -> dict:
    return {
        "toolkit": __version__,
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(tf.config.list_physical_devices('GPU'))} GPU(s)",
    }


def _absolute(path: Optional[str]) -> Optional[str]:
    """A path (or glob) as evaluate and verify must re-read it from any folder."""
    return None if path is None else str(Path(path).expanduser().absolute())


def finish_run(
    model: keras.Model,
    data: LabelledData,
    job: JobConfig,
    history: list,
    run_info: dict,
    target: Optional[Target] = None,
) -> TrainResult:
    """Evaluate on the test split and write the run folder; shared by single-process and Ray training.
    ``target``: what ``prepare.prepare`` checked before training; the run folder replaces exactly that (a
    folder another run wrote there meanwhile is not replaced: the model is kept elsewhere instead). The
    TensorBoard events written meanwhile move into the run folder; when it is not written, the events
    this process wrote are removed."""
    live = live_events_dir(job.train.exports_dir, job.train.run_name)
    try:
        return _finish(model, data, job, history, run_info, target, live)
    except BaseException:
        discard_own(live)
        raise


def _finish(
    model: keras.Model,
    data: LabelledData,
    job: JobConfig,
    history: list,
    run_info: dict,
    target: Optional[Target],
    live: Path,
) -> TrainResult:
    if data.stream is not None:  # prepared shards: a test set of any size, one shard in memory at a time
        test = evaluate_prepared(model, read_manifest(data.stream.uri), job.train.eval_batch_size)
    else:
        test = evaluate_split(model, data.test, job.train.eval_batch_size, data.classes)
    log(
        f"test: loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f} "
        f"({test['reviews']:,} reviews, {test['seconds']:.1f} s)"
    )
    metrics = {**run_info, "epochs": history, "test": test, "train_reviews": data.train_reviews}
    if data.stream is not None:
        metrics["streamed_from"] = data.stream.uri
    if data.validation is not None:
        metrics["validation_reviews"] = len(data.validation)
    metrics["environment"] = environment()
    config = {
        "data": {**to_dict(job.data), "path": data.source, "test_path": _absolute(job.data.test_path)}
        | {"source_sha256": data.source_sha256},
        "model": to_dict(job.model),
        "train": to_dict(job.train),
    }

    def save(path: Path) -> None:
        model.save(path)

    settings = run_config_toml(job, job.run_dir.absolute() / SETTINGS_FILE, data.source)
    extras = {SETTINGS_FILE: lambda p: p.write_text(settings, encoding="utf-8")}
    if history:
        extras[TRAINING_PNG] = lambda p: plot_training(p, history)
    copied: list = []
    if any(map(ours, event_files(live))):
        extras[EVENTS_DIR] = lambda p: copied.extend(collect_events(live, p))
    try:
        path = write_run(job.run_dir, save, data.vocabulary, config, metrics, job.train.overwrite, target, extras)
    except (OSError, WriteError, RunError) as exc:  # disk full, a folder appeared there: keep the model
        raise rescue(save, exc, job.run_dir) from None  # (finish_run then removes this process's events)
    discard_collected(copied, live)
    log(f"run folder: {path}")
    return TrainResult(path, metrics)
