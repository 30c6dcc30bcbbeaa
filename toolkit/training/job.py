"""``toolkit train`` as a library function: the checks (``prepare``, once), then training in this
process or on Ray workers.

TensorFlow and Ray are imported only inside :func:`train_job`, after ``prepare`` has checked the run
folder and read the reviews: a bad flag or path fails in a second, not after a framework loads.
"""

from __future__ import annotations

from typing import Optional

from toolkit.config import JobConfig
from toolkit.data.dataset import LabelledData
from toolkit.training.prepare import TrainResult, prepare


def train_job(job: JobConfig, data: Optional[LabelledData] = None) -> TrainResult:
    """``toolkit train``: in this process (``cluster.workers == 0``) or on Ray workers; ``data``: the
    encoded reviews when already loaded (else read from ``job.data``)."""
    prepared = prepare(job, data)
    if job.cluster.workers:
        from toolkit.training.ray.driver import train_on_ray

        return train_on_ray(prepared.job, prepared=prepared)
    from toolkit.training.local import train

    return train(prepared.job, prepared=prepared)
