"""A job's settings as a TOML file (``config.toml``): what ``toolkit train --config`` reads.

The file has a table per group of the command line's flags: ``[data]``, ``[train]``, ``[cluster]``
(``[verify]`` for ``toolkit run``, ``[tune]`` for ``toolkit tune``); a key is its flag's long name with
``_`` for ``-`` (``--batch-size`` is ``batch_size``). Reading a file is the CLI's job
(``toolkit.cli.configfile``: it checks every key and type against the parser); here a job becomes the
file that reruns it, every run folder's resolved ``config.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import tomli_w

from toolkit.config.training import JobConfig

HEADER = (
    "# The resolved settings of this run, written by toolkit: rerun it with\n"
    "#   toolkit train --config {path} --run-name NEW-NAME\n"
    "# (flags on the command line override these keys).\n"
)


def _absolute(path: Optional[str]) -> Optional[str]:
    """A local path as any folder reruns it (a URI, a glob's pattern or None as it is)."""
    if path is None or "://" in path:
        return path
    return str(Path(path).expanduser().absolute())


def job_settings(job: JobConfig, data_path: Optional[str] = None) -> dict[str, dict[str, Any]]:
    """The job as the tables of a config file: every flag that shaped it, with the data it read
    (``data_path``, e.g. where the default data was found) and local paths made absolute. Left out:
    ``overwrite`` (a rerun must not replace anything unasked) and what is unset (TOML has no null)."""
    d, t, c, m = job.data, job.train, job.cluster, job.model
    assert m is not None  # JobConfig.__post_init__ sets it
    data = {
        "data": _absolute(data_path or d.path),
        "text_column": d.text_column,
        "label_column": d.label_column,
        "split_column": d.split_column,
        "test_data": _absolute(d.test_path),
        "labels": list(d.labels) if d.labels else None,
        "test_fraction": d.test_fraction,
        "validation_fraction": float(d.validation_fraction),
        "strict": d.strict,
        "source": d.source,
        "limit": d.limit,
        "maxlen": d.maxlen,
        "num_words": d.num_words,
        "cache_dir": _absolute(d.cache_dir),
        "no_download": not d.download,
    }
    train = {
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "learning_rate": float(t.learning_rate),
        "clipnorm": float(t.clipnorm),
        "dropout": float(m.dropout),
        "warmup_epochs": float(t.warmup_epochs),
        "faithful": not m.mask_padding,
        "seed": t.seed,
        "steps_per_epoch": t.steps_per_epoch,
        "run_name": t.run_name,
        "exports_dir": _absolute(t.exports_dir),
    }
    cluster = {
        "workers": c.workers,
        "gpus_per_worker": float(c.gpus_per_worker),
        "cpus_per_worker": c.cpus_per_worker,
        "collective": c.collective,
        "address": c.address,
        "storage": _absolute(c.storage),
        "max_failures": c.max_failures,
    }
    tables = {"data": data, "train": train, "cluster": cluster}
    return {name: {k: v for k, v in table.items() if v is not None} for name, table in tables.items()}


def settings_toml(tables: dict[str, dict[str, Any]], header: str = "") -> str:
    """The tables as TOML text (``header``: comment lines put first)."""
    return header + tomli_w.dumps(tables)


def run_config_toml(job: JobConfig, path: str | Path, data_path: Optional[str] = None) -> str:
    """A run folder's ``config.toml`` (at ``path``): the job's settings, with how to rerun them."""
    return settings_toml(job_settings(job, data_path), HEADER.format(path=path))
