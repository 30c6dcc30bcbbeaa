"""What Ray Train calls in each worker (see ``toolkit.training.ray.driver`` for the driver).

The entry points import TensorFlow only after :func:`hide_unrequested_gpus`: a worker that Ray gave
no GPU must not see one, and that works only before TensorFlow initialises its devices (which
``toolkit._tf`` does on import). Everything that needs TensorFlow is in ``toolkit.training.ray.worker``.
"""

from __future__ import annotations

import os
from typing import TypeVar

import ray

from toolkit.training.ray.messages import TrainTask, WorkerTask, task_of

T = TypeVar("T", bound=WorkerTask)


def hide_unrequested_gpus() -> str:
    """A worker that Ray gave no GPU sees none (Ray 2.60 no longer hides them): CUDA_VISIBLE_DEVICES
    is emptied before TensorFlow loads in this process. Returns the variable's value."""
    if not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def pin_ray_address() -> None:
    """Every worker process's set-up hook (the embedded Ray's ``worker_process_setup_hook``): RAY_ADDRESS
    names the cluster this process belongs to. Ray's own state-API lookups in workers (Ray Train's
    placement-group cleaner) otherwise look for "the" local Ray and fail with "Found multiple active
    Ray instances" while another Ray runs on the machine."""
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def start(config: dict, kind: type[T]) -> T:
    """What every worker loop does first, before TensorFlow loads: its task (a ``kind``, from Ray Train's
    ``train_loop_config``) and its GPUs settled."""
    task = task_of(config)
    if not isinstance(task, kind):
        raise TypeError(f"this worker loop needs a {kind.__name__}, got {type(task).__name__}")
    hide_unrequested_gpus()
    return task


def worker_loop(config: dict) -> None:
    """Ray Train's training loop: ``worker.train_worker`` on this worker's devices."""
    task = start(config, TrainTask)
    from toolkit.training.ray.worker import train_worker  # TensorFlow now, with the GPUs settled

    train_worker(task)
