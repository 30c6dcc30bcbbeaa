"""Single-process training: the tutorial's recipe, one process, every local device.

``train(job)`` loads the encoded reviews, fits the seed model (Adam, binary cross-entropy, 3 epochs
of global batch 64 by default), evaluates it on the test split and writes the run folder. With more
than one GPU visible it replicates with ``MirroredStrategy`` (the global batch is split evenly across
replicas); on CPU with the seed fixed, op determinism makes two runs produce identical weights.
The pieces shared with Ray training (strategy, seeding, the epoch log, finishing a run) live here too.
"""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Optional

from . import __version__
from ._tf import keras, tf
from .config import JobConfig, to_dict
from .data import ImdbData
from .errors import RunError, TrainingDiverged, WriteError
from .evaluation import evaluate_split
from .files import Target
from .job import TrainResult, prepare
from .model import compiled_model
from .pipeline import input_line, train_input
from .progress import Progress, log
from .rundir import rescue, write_run


def train(job: JobConfig, data: Optional[ImdbData] = None) -> TrainResult:
    """Load (unless ``data`` is given), fit, evaluate, write ``<exports>/<run-name>/``; return its path
    and metrics."""
    data, target = prepare(job, data)
    seed_everything(job.train.seed)
    strategy = local_strategy()
    model = compiled_model(job.model, job.train, strategy)
    replicas = strategy.num_replicas_in_sync
    log(
        f"training {model.count_params():,} parameters on {len(data.train):,} reviews: {job.train.epochs} epochs, "
        f"global batch {job.train.batch_size}, {replicas} replica(s) ({devices_line(strategy)}); "
        f"{input_line(job.model, job.train)}"
    )
    epoch_log = EpochLog(len(data.train), job.train.epochs)
    dataset, steps = train_input(strategy, data.train.x, data.train.y, job.model, job.train)
    start = time.perf_counter()
    model.fit(dataset, epochs=job.train.epochs, steps_per_epoch=steps, callbacks=[epoch_log], verbose=0)
    run_info = {
        "mode": "single-process",
        "workers": 1,
        "replicas": replicas,
        "restarts": 0,
        "train_seconds": round(time.perf_counter() - start, 3),
    }
    return finish_run(model, data, job, epoch_log.history, run_info, target)


def local_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over the local GPUs when there are several (or, without GPUs, over several
    logical CPU devices when the CPU was split); otherwise the default one-device strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus if gpus else tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds; op determinism on CPU-only machines (identical reruns)."""
    keras.utils.set_random_seed(seed)
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def devices_line(strategy: tf.distribute.Strategy) -> str:
    """The devices the strategy replicates over (the default strategy: the first GPU, else the CPU)."""
    try:
        return ", ".join(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy does not list them
        return (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[0].name


class EpochLog(keras.callbacks.Callback):
    """Times each epoch, stops at a non-finite loss, and prints one line of metrics as it ends."""

    def __init__(self, n_reviews: int, epochs: int, quiet: bool = False) -> None:
        super().__init__()
        self.n_reviews, self.epochs, self.quiet = n_reviews, epochs, quiet
        # Take Keras' logs as tensors: otherwise a per-batch hook converts them to NumPy every step,
        # a host sync that measured about 9 % slower per epoch here.
        self._supports_tf_logs = True
        self.history: list[dict] = []
        self._start = 0.0
        self._bar: Optional[Progress] = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if not self.quiet:
            label = f"epoch {epoch + 1}/{self.epochs}"
            self._bar = Progress(self.params.get("steps") or 0, label, unit=" batches", steps=4)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar:
            self._bar.update(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if self._bar:
            self._bar.close()
        check_finite(float(logs["loss"]), epoch + 1)
        row = {
            "epoch": epoch + 1,
            "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            "seconds": round(seconds, 3),
            "reviews_per_second": round(self.n_reviews / seconds, 1),
        }
        self.history.append(row)
        if not self.quiet:
            log(epoch_line(row, self.epochs))


def check_finite(loss: float, epoch: int) -> None:
    """Stop at the end of the first epoch whose loss is NaN or infinite: its weights are garbage, and a
    run folder holding them would pass for a model."""
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training diverged: the loss is {loss} after epoch {epoch}; nothing was saved. "
            "Lower --learning-rate or keep --clipnorm on"
        )


def epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}  accuracy {row['accuracy']:.4f}  "
        f"{row['seconds']:.1f} s  {row['reviews_per_second']:,.0f} reviews/s"
    )


def environment() -> dict:
    return {
        "toolkit": __version__,
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(tf.config.list_physical_devices('GPU'))} GPU(s)",
    }


def finish_run(
    model: keras.Model, data: ImdbData, job: JobConfig, history: list, run_info: dict, target: Optional[Target] = None
) -> TrainResult:
    """Evaluate on the test split and write the run folder; shared by single-process and Ray training.
    ``target``: what ``job.prepare`` checked before training; the run folder replaces exactly that (a
    folder another run wrote there meanwhile is not replaced: the model is kept elsewhere instead)."""
    test = evaluate_split(model, data.test, job.train.eval_batch_size)
    log(
        f"test: loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f} "
        f"({test['reviews']:,} reviews, {test['seconds']:.1f} s)"
    )
    metrics = {**run_info, "epochs": history, "test": test, "train_reviews": len(data.train)}
    metrics["environment"] = environment()
    config = {
        "data": {**to_dict(job.data), "path": data.source, "source_sha256": data.source_sha256},
        "model": to_dict(job.model),
        "train": to_dict(job.train),
    }

    def save(path: Path) -> None:
        model.save(path)

    try:
        path = write_run(job.run_dir, save, data.vocabulary, config, metrics, job.train.overwrite, target)
    except (OSError, WriteError, RunError) as exc:  # disk full, a folder appeared there: keep the model
        raise rescue(save, exc, job.run_dir) from None
    log(f"run folder: {path}")
    return TrainResult(path, metrics)
