"""``bench train`` on Ray workers: the driver side and each worker's entry point (GPUs settled
before TensorFlow loads).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import ray
from ray.util.queue import Queue

from toolkit.config import ClusterConfig
from toolkit.core.errors import ClusterError
from toolkit.training.ray.cluster import make_trainer, ray_error_line
from toolkit.training.ray.entry import start
from toolkit.training.ray.messages import BenchTask, BenchTimes, receive, task_config


def bench_on_ray(x: np.ndarray, y: np.ndarray, setups: dict, cluster: ClusterConfig, repeats: int) -> BenchTimes:
    """``epochs.time_epochs`` on ``cluster.workers`` Ray workers (a running Ray session): rank 0's
    ``messages.BenchTimes``."""
    messages = Queue(actor_options={"num_cpus": 0})
    task = BenchTask(
        cpus=int(cluster.worker_cpus),
        collective=cluster.resolved_collective,
        x=ray.put(x),
        y=ray.put(y),
        messages=messages,
        setups=tuple((name, m, t) for name, (m, t) in setups.items()),
        repeats=repeats,
    )
    with tempfile.TemporaryDirectory(
        prefix="toolkit-bench-", ignore_cleanup_errors=True
    ) as storage:  # Ray Train wants one; nothing kept
        trainer = make_trainer(
            bench_loop, task_config(task), cluster, f"bench-{cluster.workers}w-{int(time.time())}", storage, 0
        )
        try:
            trainer.fit()
        except Exception as exc:  # Ray wraps the worker's exception
            failed = f"Ray benchmark with {cluster.workers} worker(s) failed"
            raise ClusterError(f"{failed}: {ray_error_line(exc)}") from None
    times = receive(messages, timeout=60)
    if not isinstance(times, BenchTimes):
        raise ClusterError(f"Ray benchmark: a worker sent {type(times).__name__}, not its times")
    return times


def bench_loop(config: dict) -> None:
    """``toolkit bench train`` on a Ray worker: ``epochs.bench_worker`` on its devices."""
    task = start(config, BenchTask)
    from toolkit.bench.epochs import bench_worker  # TensorFlow now, with the GPUs settled

    bench_worker(task)
