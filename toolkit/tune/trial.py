"""One trial of ``toolkit tune``, inside the Ray Tune trial's process: train the job with the trial's
settings on the training split, report the validation metrics after every epoch (ASHA stops the
weak trials early), and checkpoint each epoch so that a restored sweep resumes a trial where it was.

Two kinds: :func:`one_process_trial` trains in the trial's own process (its CPUs, or its GPUs with
MirroredStrategy), like ``toolkit train --workers 0``; :func:`ray_train_trial` starts a Ray Train run
of ``--workers`` workers from the trial, like ``toolkit train --workers N``, whose reports reach
Tune through ``TuneReportCallback``. Neither sees the test split.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import ray
from ray import tune

from toolkit._tf import keras, tf
from toolkit.config import JobConfig, with_settings
from toolkit.model.lstm import compiled_model
from toolkit.training.epochs import EpochLog
from toolkit.training.input import epoch_reviews, train_input, validation_input
from toolkit.training.ray.checkpoints import read_state, restore_state, write_state
from toolkit.training.schedule import warmup_callbacks
from toolkit.training.strategy import local_strategy, seed_everything


def one_process_trial(config: dict, base: JobConfig, arrays: tuple, cpus: int) -> None:
    """Train ``base`` with the trial's ``config`` (the searched settings) on ``arrays`` (train x, y,
    validation x, y), reporting each epoch to Tune."""
    job = with_settings(base, config)
    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, cpus))
    x, y, x_val, y_val = (np.asarray(a) for a in arrays)
    seed_everything(job.train.seed)
    strategy = local_strategy()
    model = compiled_model(job.model, job.train, strategy)
    state = {"epoch": 0, "history": [], "resumes": []}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a restored sweep: this trial goes on from its last epoch
        with checkpoint.as_directory() as folder:
            weights, optimizer, state = read_state(Path(folder))
        restore_state(model, strategy, weights, optimizer)
        state["resumes"].append({"from_epoch": state["epoch"]})
    if state["epoch"] >= job.train.epochs:
        return
    dataset, steps = train_input(strategy, x, y, job.model, job.train, initial_epoch=state["epoch"])
    validation = validation_input(x_val, y_val, job.model, job.train.eval_batch_size)
    epoch_log = EpochLog(epoch_reviews(len(y), job.train), job.train.epochs, quiet=True)
    model.fit(
        dataset,
        epochs=job.train.epochs,
        steps_per_epoch=steps,
        validation_data=validation,
        initial_epoch=state["epoch"],
        callbacks=[*warmup_callbacks(job.train, steps, len(y)), epoch_log, ReportToTune(state, epoch_log)],
        verbose=0,
    )


class ReportToTune(keras.callbacks.Callback):
    """After each epoch: the epoch's row (with the validation metrics) and a checkpoint, to Tune."""

    def __init__(self, state: dict, epoch_log: EpochLog) -> None:
        super().__init__()
        self.state, self.epoch_log = state, epoch_log

    def on_epoch_end(self, epoch, logs=None):
        row = self.epoch_log.history[-1]
        self.state["history"].append(row)
        self.state["epoch"] = epoch + 1
        with tempfile.TemporaryDirectory() as folder:
            write_state(Path(folder), self.model, self.state)
            tune.report({**row, "epoch": epoch + 1}, checkpoint=tune.Checkpoint.from_directory(folder))


def ray_train_trial(config: dict, base: JobConfig, arrays: tuple, storage: str) -> None:
    """Train ``base`` with the trial's ``config`` on a Ray Train run of ``base.cluster.workers`` workers
    (its checkpoints under ``storage``/train-<trial>); the workers' epoch reports reach Tune."""
    from ray.tune.integration.ray_train import TuneReportCallback

    from toolkit.training.ray.trial import train_trial

    job = with_settings(base, config)
    trial = tune.get_context().get_trial_id()
    train_trial(job, [ray.put(np.asarray(a)) for a in arrays], f"train-{trial}", storage, [TuneReportCallback()])
