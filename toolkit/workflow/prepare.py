"""``toolkit prepare`` as a library function: Ray connected (an embedded local Ray with ``cpus`` CPUs, or
the cluster at ``cluster.address``), then the Ray Data pipeline (``toolkit.prepare.pipeline``)."""

from __future__ import annotations

import time
from typing import Optional

from toolkit.config import ClusterConfig, PrepareConfig
from toolkit.core.progress import log
from toolkit.data.prepared import Prepared


def prepare_job(cfg: PrepareConfig, cluster: ClusterConfig = ClusterConfig(), cpus: Optional[int] = None) -> Prepared:
    """Prepare ``cfg.data`` into ``cfg.out`` on Ray. The inputs, columns and ``--out`` are checked before
    Ray starts (a missing file, a bad URI or a column typo fails in seconds), and data prepared before
    with the same inputs and settings is reused without starting Ray."""
    from toolkit.prepare.pipeline import absolute, plan, prepare_data
    from toolkit.training.ray.cluster import describe_resources, ray_session

    cfg = absolute(cfg)
    checked = plan(cfg)
    if checked.reused is not None:
        return prepare_data(cfg, checked)
    start = time.perf_counter()
    with ray_session(cluster, num_cpus=cpus):
        log(f"Ray ready in {time.perf_counter() - start:.1f} s: {describe_resources()}")
        return prepare_data(cfg, checked)
