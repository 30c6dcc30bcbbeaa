"""The training job from the outside: the checks before any training, ``toolkit train`` and
``toolkit run`` as library functions that return paths.

TensorFlow and Ray are imported only inside :func:`train_job`, after :func:`prepare` has checked the
run folder and read the reviews: a bad flag or path fails in a second, not after a framework loads.
"""

from __future__ import annotations

from toolkit.config import JobConfig
from toolkit.training.prepare import TrainResult, prepare


def train_job(job: JobConfig) -> TrainResult:
    """``toolkit train``: in this process (``cluster.workers == 0``) or on Ray workers."""
    data, _ = prepare(job)
    if job.cluster.workers:
        from toolkit.training.ray.driver import train_on_ray

        return train_on_ray(job, data)
    from toolkit.training.local import train

    return train(job, data)
