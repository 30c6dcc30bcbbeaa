"""A Ray Train worker's TensorFlow side: its strategy and the training loop with checkpoints. Imported
by ``toolkit.training.ray.entry`` once the worker's GPUs are settled; it talks to the driver in the
messages of ``toolkit.training.ray.messages``.

Each worker:

1. creates its strategy before any other TensorFlow op: ``MultiWorkerMirroredStrategy`` across the
   workers (each worker replicating over its own GPUs), or, with a single worker, ``MirroredStrategy``
   over its local devices;
2. builds and compiles the model inside the strategy's scope (``tf_keras``: Keras 3 fails here);
3. resumes from ``ray.train.get_checkpoint()`` when there is one: weights, optimizer state, epoch;
4. trains on its share of every global batch (``input.train_input``), or on its share of prepared
   shards streamed through Ray Data (``stream.streamed_dataset``); the global batch is
   ``--batch-size``, each of the R replicas in sync gets ``batch_size / R`` of it;
5. after every epoch reports the metrics; rank 0 attaches a checkpoint.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import ray
import ray.train
from ray.train import Checkpoint

from toolkit._tf import keras, tf
from toolkit.core.errors import TrainingDiverged
from toolkit.model.lstm import compiled_model
from toolkit.training.epochs import EpochLog
from toolkit.training.input import capped, epoch_reviews, train_input, validation_input
from toolkit.training.ray.checkpoints import fingerprint_difference, read_state, restore_state, write_state
from toolkit.training.ray.messages import (
    Devices,
    Diverged,
    EpochDone,
    EpochProgress,
    Finished,
    Resumed,
    TrainTask,
    send,
)
from toolkit.training.schedule import warmup_callbacks
from toolkit.training.strategy import devices_line, local_strategy, peak_rss_mb, seed_everything
from toolkit.training.stream import streamed_dataset


def worker_strategy(threads: int, collective: str = "ring"):
    """``(rank, world size, strategy)``; TensorFlow's thread pools sized to the worker's CPUs;
    ``collective`` ("nccl" or "ring") between workers."""
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))
    # The strategy comes first: collective ops must be configured before any other TensorFlow op.
    if world > 1:
        impl = tf.distribute.experimental.CommunicationImplementation
        chosen = impl.NCCL if collective == "nccl" else impl.RING
        options = tf.distribute.experimental.CommunicationOptions(implementation=chosen)
        return rank, world, tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return rank, world, local_strategy()


def train_worker(task: TrainTask) -> None:
    """The training loop of one worker (see the module docstring for the steps)."""
    rank, world, strategy = worker_strategy(task.cpus, task.collective)
    model_cfg, train_cfg = task.model, task.train
    seed_everything(train_cfg.seed)
    model = compiled_model(model_cfg, train_cfg, strategy)
    devices = _devices(rank, world, strategy, train_cfg.batch_size)
    send(task, devices)
    state = _resume(model, strategy, task, rank)
    if state["epoch"] >= train_cfg.epochs:
        _report(model, state, rank)  # nothing left to train: hand back the final checkpoint
        return
    # rank 0 sends each quarter's figures (the driver logs them and writes TensorBoard's events)
    on_quarter = (lambda row: send(task, EpochProgress(**row))) if rank == 0 else None
    if task.streamed:  # prepared shards through Ray Data: this worker's share, a window at a time
        shard = ray.train.get_dataset_shard("train")
        reviews = task.streamed
        epoch_log = EpochLog(
            epoch_reviews(task.streamed, train_cfg), train_cfg.epochs, quiet=True, on_quarter=on_quarter
        )
        dataset, steps = streamed_dataset(
            strategy,
            shard,
            task.streamed,
            world,
            rank,
            train_cfg.batch_size,
            train_cfg.seed,
            state["epoch"],
            train_cfg.epochs,
        )
        steps = capped(steps, train_cfg)
    else:
        x, y = ray.get(task.x), ray.get(task.y)
        reviews = len(y)
        epoch_log = EpochLog(epoch_reviews(reviews, train_cfg), train_cfg.epochs, quiet=True, on_quarter=on_quarter)
        dataset, steps = train_input(strategy, x, y, model_cfg, train_cfg, initial_epoch=state["epoch"])
    callbacks = [*warmup_callbacks(train_cfg, steps, reviews), epoch_log, ReportEachEpoch(state, rank, task, epoch_log)]
    validation = None
    if task.x_validation is not None:
        x_val, y_val = ray.get(task.x_validation), ray.get(task.y_validation)
        validation = validation_input(x_val, y_val, model_cfg, train_cfg.eval_batch_size)
    try:
        model.fit(
            dataset,
            epochs=train_cfg.epochs,
            steps_per_epoch=steps,
            validation_data=validation,
            initial_epoch=state["epoch"],
            callbacks=callbacks,
            verbose=0,
        )
    except TrainingDiverged as exc:
        # Every rank sees the same (all-reduced) loss and stops here; the driver refuses to save.
        # Returning rather than raising keeps Ray from restarting the workers into the same divergence.
        if rank == 0:
            send(task, Diverged(str(exc)))
    send(task, Finished(worker=rank, start=devices.start, peak_rss_mb=peak_rss_mb()))


def _devices(rank: int, world: int, strategy, batch_size: int) -> Devices:
    replicas = strategy.num_replicas_in_sync
    return Devices(
        worker=rank,
        world=world,
        start=time.time(),
        devices=devices_line(strategy),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
        gpu_ids=[str(g) for g in ray.get_gpu_ids()],
        replicas=replicas,
        per_replica_batch=batch_size // replicas,
    )


def _resume(model, strategy, task: TrainTask, rank: int) -> dict:
    """The run's bookkeeping: fresh, or restored (with the weights and optimizer state) from Ray's
    checkpoint after a restart. A checkpoint trained with other settings is refused."""
    replicas = strategy.num_replicas_in_sync
    fingerprint = task.fingerprint
    state = {"epoch": 0, "history": [], "resumes": [], "replicas": replicas, "fingerprint": fingerprint}
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return state
    with checkpoint.as_directory() as folder:
        weights, optimizer, state = read_state(Path(folder))
    mismatch = fingerprint_difference(state.get("fingerprint"), fingerprint)
    if mismatch:  # remote storage: the driver could not look before starting
        raise ValueError(
            f"the checkpoint was trained with other settings ({mismatch}): use --overwrite to start afresh"
        )
    restore_state(model, strategy, weights, optimizer)
    state["resumes"].append({"from_epoch": state["epoch"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if rank == 0:
        send(task, Resumed(from_epoch=state["epoch"], restart=len(state["resumes"])))
    return state


class ReportEachEpoch(keras.callbacks.Callback):
    """Every rank reports each epoch to Ray Train (rank 0 with a checkpoint) and rank 0 sends the
    epoch's row to the driver (the quarters' progress: ``EpochLog``'s ``on_quarter``)."""

    _supports_tf_logs = True  # no per-step NumPy conversion (see training.epochs.EpochLog)

    def __init__(self, state: dict, rank: int, task: TrainTask, epoch_log: EpochLog) -> None:
        super().__init__()
        self.state, self.rank, self.task, self.epoch_log = state, rank, task, epoch_log

    def on_epoch_end(self, epoch, logs=None):
        row = {**self.epoch_log.history[-1], "restarts": len(self.state["resumes"])}
        self.state["history"].append(row)
        self.state["epoch"] = epoch + 1
        _report(self.model, self.state, self.rank)
        if self.rank == 0:
            send(self.task, EpochDone(row))


def _report(model, state: dict, rank: int) -> None:
    """Every rank reports the same metrics (a barrier); rank 0 attaches the checkpoint."""
    metrics = {**(state["history"][-1] if state["history"] else {}), "epoch": state["epoch"]}
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        write_state(Path(folder), model, state)
        ray.train.report(
            metrics,
            checkpoint=Checkpoint.from_directory(folder),
            checkpoint_dir_name=f"epoch-{state['epoch']:03d}-r{len(state['resumes'])}",
        )
