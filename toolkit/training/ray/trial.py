"""A Ray Train run started from a ``toolkit tune`` trial (``--workers N``): the same workers as
``toolkit train --workers N`` (``entry.worker_loop``), fed the arrays the sweep's driver put in the
object store once, reporting each epoch to the callbacks it is given (``TuneReportCallback``: to Tune).
No run folder and no test split: a trial is judged on its validation metrics only.
"""

from __future__ import annotations

from typing import Sequence

from ray.util.queue import Queue

from toolkit.config import JobConfig, to_dict
from toolkit.training.ray.checkpoints import OPTIMISATION
from toolkit.training.ray.cluster import make_trainer
from toolkit.training.ray.driver import fit_with_progress
from toolkit.training.ray.entry import worker_loop
from toolkit.training.ray.messages import TrainTask, task_config


def train_trial(job: JobConfig, refs: Sequence, ray_name: str, storage: str, callbacks: Sequence = ()) -> None:
    """Train ``job`` on ``job.cluster.workers`` Ray Train workers from ``refs`` (object refs of train x,
    y, validation x, y); checkpoints under ``storage/ray_name`` (a restored trial resumes from them)."""
    cluster = job.cluster
    train = to_dict(job.train)
    fingerprint = {"model": to_dict(job.model), "train": {k: train[k] for k in OPTIMISATION}}
    messages = Queue(actor_options={"num_cpus": 0})
    x, y, x_validation, y_validation = refs
    task = TrainTask(
        cpus=int(cluster.worker_cpus),
        collective=cluster.resolved_collective,
        x=x,
        y=y,
        messages=messages,
        model=job.model,
        train=job.train,
        fingerprint=fingerprint,
        x_validation=x_validation,
        y_validation=y_validation,
    )
    trainer = make_trainer(
        worker_loop, task_config(task), cluster, ray_name, storage, cluster.max_failures, callbacks=callbacks
    )
    fit_with_progress(trainer, messages, job.train.epochs)
