"""The driver <-> worker protocol of Ray training and of ``bench train`` on Ray: what a worker is given
(one frozen task, Ray Train's ``train_loop_config = {"task": task}``) and what it sends back over the
task's queue (one dataclass per kind of message; the driver dispatches on the type).

Plain dataclasses of plain values and configs: Ray pickles them, and this module imports neither Ray
nor TensorFlow (a worker unpickles its task before it settles its GPUs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from toolkit.config import ModelConfig, TrainConfig


@dataclass(frozen=True)
class WorkerTask:
    """What every worker is given: its CPUs (TensorFlow's thread pools), the collective between workers
    ("ring" or "nccl"), the training reviews (Ray object refs: no shared file system needed) and the
    queue its messages go to (a ``ray.util.queue.Queue``)."""

    cpus: int
    collective: str
    x: Any
    y: Any
    messages: Any


@dataclass(frozen=True)
class TrainTask(WorkerTask):
    """Training: the model and recipe, the settings fingerprint a checkpoint to resume from must match,
    and the validation split (Ray object refs; None without one)."""

    model: ModelConfig
    train: TrainConfig
    fingerprint: dict
    x_validation: Any = None
    y_validation: Any = None
    streamed: int = 0  # prepared shards: the training rows Ray Data streams (x and y are None); 0: in memory


@dataclass(frozen=True)
class BenchTask(WorkerTask):
    """``bench train``: the setups (name, model, recipe) timed in turns, ``repeats`` timed epochs each."""

    setups: tuple[tuple[str, ModelConfig, TrainConfig], ...]
    repeats: int


def task_config(task: WorkerTask) -> dict:
    """Ray Train's ``train_loop_config`` for ``task``."""
    return {"task": task}


def task_of(config: dict) -> WorkerTask:
    """The task inside Ray Train's ``train_loop_config``; anything else is a programming error."""
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(task, WorkerTask):
        raise TypeError(f"a toolkit Ray worker needs {{'task': WorkerTask}}, got {type(task).__name__}")
    return task


@dataclass(frozen=True)
class Devices:
    """Each worker, once its strategy is up: what it trains on (recorded in ``metrics.json``)."""

    worker: int
    world: int
    start: float
    devices: str
    cuda_visible_devices: str
    gpu_ids: list
    replicas: int
    per_replica_batch: int

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochProgress:
    """Rank 0, at the end of each of an epoch's first three quarters: where it is, and the figures
    the driver writes to TensorBoard (``training.epochs.quarter_row``; None: not measured)."""

    epoch: int
    batch: int
    steps: int
    step: int = 0  # the quarter's index from the first epoch (TensorBoard's step)
    loss: Optional[float] = None  # the epoch's running mean so far
    accuracy: Optional[float] = None
    learning_rate: Optional[float] = None
    reviews_per_second: Optional[float] = None

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Resumed:
    """Rank 0 restored a checkpoint after a restart."""

    from_epoch: int
    restart: int


@dataclass(frozen=True)
class Diverged:
    """Rank 0: the loss became NaN or infinite (every rank stopped)."""

    reason: str


@dataclass(frozen=True)
class EpochDone:
    """Rank 0, after each epoch: the epoch's metrics row (as in ``metrics.json``)."""

    row: dict


@dataclass(frozen=True)
class Finished:
    """Each worker, when its training loop ends: its process's peak resident memory."""

    worker: int
    start: float  # its attempt's Devices.start: the last attempt's figures are kept
    peak_rss_mb: float


@dataclass(frozen=True)
class BenchTimes:
    """Rank 0 of ``bench train``: seconds per timed epoch of each setup."""

    seconds: dict
    replicas: int
    devices: str


Message = Devices | EpochProgress | Resumed | Diverged | EpochDone | Finished | BenchTimes


def send(task: WorkerTask, message: Message) -> None:
    task.messages.put(message)


def receive(queue, timeout: Optional[float]) -> Message:
    """The next message; ``ray.util.queue.Empty`` when none came within ``timeout``."""
    message = queue.get(timeout=timeout)
    if not isinstance(message, Message):
        raise TypeError(f"unexpected message from a Ray worker: {type(message).__name__}")
    return message
