"""``toolkit prepare`` as a library function: Ray connected (an embedded local Ray with ``cpus`` CPUs, or
the cluster at ``cluster.address``), then the Ray Data pipeline (``toolkit.prepare.pipeline``); and
``train --stream``: tabular data prepared on the fly, then streamed to the Ray workers."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

from toolkit.config import ClusterConfig, DataConfig, JobConfig, PrepareConfig, to_dict
from toolkit.core.errors import ConfigError
from toolkit.core.progress import log
from toolkit.data.prepared import Prepared, is_prepared


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


def stream_job(job: JobConfig) -> JobConfig:
    """``toolkit train --workers N --stream``: the job's tabular data prepared (reused when it was, with the
    same files and settings) into ``<exports>/prepared/<settings digest>``, and the job on those shards."""
    if job.cluster.workers < 1:
        raise ConfigError("--stream needs --workers 1 or more: Ray workers stream the data (one process reads it)")
    if job.data.path and is_prepared(job.data.path):
        return job  # prepared already
    if not job.data.path:
        raise ConfigError("--stream needs --data: the tabular files to prepare and stream")
    key = {k: v for k, v in to_dict(job.data).items() if k not in ("cache_dir", "download", "url", "sha256")}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(job.train.exports_dir).expanduser().absolute() / "prepared" / digest
    log(f"--stream: preparing {job.data.path} into {out} (reused when it was prepared with these settings)")
    prepared = prepare_job(PrepareConfig(job.data, out=str(out)), ClusterConfig(workers=1, address=job.cluster.address))
    data = DataConfig(path=prepared.uri, num_words=job.data.num_words, maxlen=job.data.maxlen, seed=job.data.seed)
    return replace(job, data=data)
