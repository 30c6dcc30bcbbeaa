"""``bench train`` on Ray workers: the driver side and each worker's entry point (GPUs settled
before TensorFlow loads).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import ray
from ray.util.queue import Queue

from toolkit.config import ClusterConfig, to_dict
from toolkit.core.errors import ClusterError
from toolkit.training.ray.cluster import make_trainer, ray_error_line
from toolkit.training.ray.entry import hide_unrequested_gpus


def bench_on_ray(x: np.ndarray, y: np.ndarray, setups: dict, cluster: ClusterConfig, repeats: int) -> dict:
    """``bench_train.time_epochs`` on ``cluster.workers`` Ray workers (a running Ray session); rank 0's
    seconds."""
    results = Queue(actor_options={"num_cpus": 0})
    config = {
        "x": ray.put(x),
        "y": ray.put(y),
        "repeats": repeats,
        "cpus_per_worker": cluster.worker_cpus,
        "collective": cluster.resolved_collective,
        "setups": {name: (to_dict(m), to_dict(t)) for name, (m, t) in setups.items()},
        "results": results,
    }
    with tempfile.TemporaryDirectory(
        prefix="toolkit-bench-", ignore_cleanup_errors=True
    ) as storage:  # Ray Train wants one; nothing kept
        trainer = make_trainer(bench_loop, config, cluster, f"bench-{cluster.workers}w-{int(time.time())}", storage, 0)
        try:
            trainer.fit()
        except Exception as exc:  # Ray wraps the worker's exception
            failed = f"Ray benchmark with {cluster.workers} worker(s) failed"
            raise ClusterError(f"{failed}: {ray_error_line(exc)}") from None
    return results.get(timeout=60)


def bench_loop(config: dict) -> None:
    """``toolkit bench train`` on a Ray worker: ``replica.bench_replica``."""
    hide_unrequested_gpus()
    from toolkit.bench.epochs import bench_replica

    bench_replica(config)
