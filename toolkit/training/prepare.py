"""The checks every training starts with, run once per training: the run gets its name (here, and only
here), its folder can be written, the reviews load and fit the model. ``TrainResult``: what a training
returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from toolkit.artifacts.destinations import check_destination
from toolkit.config import JobConfig, ModelConfig, default_run_name
from toolkit.core.errors import ConfigError
from toolkit.core.files import Target
from toolkit.core.progress import log
from toolkit.core.uris import is_remote
from toolkit.data.dataset import LabelledData, load_data
from toolkit.data.prepared import is_prepared, load_prepared


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    metrics: dict


@dataclass(frozen=True)
class Prepared:
    """A training ready to start: its job (with the run name fixed), its data, and what stood at the
    run folder's place when it was checked (``files.Target``): the finished run replaces exactly that."""

    job: JobConfig
    data: LabelledData
    target: Target


def named(job: JobConfig) -> JobConfig:
    """The job with its run name fixed: the given one, else ``imdb-lstm-<timestamp>`` now, so that every
    later step (checkpoints, the run folder, the export) uses the same one."""
    if job.train.run_name is not None:
        return job
    return replace(job, train=replace(job.train, run_name=default_run_name()))


def prepare(job: JobConfig, data: Optional[LabelledData] = None) -> Prepared:
    """The checks every training path starts with, once: the run is named, its folder can be written
    (and is not someone else's), the reviews load (unless ``data`` is given), and they fit the model."""
    job = named(job)
    target = check_destination("run", job.run_dir, job.train.overwrite)
    job, data = loaded(job, data, stream=job.cluster.workers > 0)
    return Prepared(job, data, target)


def loaded(job: JobConfig, data: Optional[LabelledData] = None, stream: bool = False) -> tuple[JobConfig, LabelledData]:
    """The reviews ``job`` trains on (read unless ``data`` is given), and the job fitted to them (the
    prepared data's shape, the data's classes), checked against the model. ``stream``: prepared shards
    stay where they are for Ray workers to stream (else they are read into memory)."""
    path = job.data.path
    if data is None and path and (is_remote(path) or is_prepared(path)):  # toolkit prepare's shards
        check_prepared_settings(job)
        data = load_prepared(path, stream_train=stream)  # a remote URI's errors as they are
        job = _with_prepared_shape(job, data)
        log(data.summary())
    elif data is None:
        data = load_data(job.data)
        log(data.summary())
    if data.classes != job.model.classes:  # the model's head and output order follow the data's classes
        job = replace(job, model=replace(job.model, classes=data.classes))
    check_shapes(data, job.model)
    return job, data


def check_prepared_settings(job: JobConfig) -> None:
    """Prepared data has its columns, labels and splits: the flags that choose them are refused, not
    ignored; streamed training takes the default input only (length buckets, masked padding)."""
    d = job.data
    flags = {
        "--limit": d.limit,
        "--validation-fraction": d.validation_fraction or None,
        "--test-fraction": d.test_fraction,
        "--text-column": d.text_column,
        "--label-column": d.label_column,
        "--split-column": d.split_column,
        "--labels": d.labels,
        "--test-data": d.test_path,
        "--strict": d.strict or None,
    }
    given = [flag for flag, value in flags.items() if value is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} do not apply to prepared data ({d.path}): its columns, labels and splits were "
            "chosen by toolkit prepare; prepare it again with them"
        )
    if job.cluster.workers and not (job.model.mask_padding and job.train.length_buckets):
        raise ConfigError(
            "streamed training takes the default input (length buckets, masked padding): drop --faithful, "
            "or train in one process (--workers 0)"
        )


def _with_prepared_shape(job: JobConfig, data: LabelledData) -> JobConfig:
    """The job with the prepared data's ``num_words`` and ``maxlen`` (its ids were cut with them)."""
    vocab = data.vocabulary
    if (job.data.num_words, job.data.maxlen) == (vocab.num_words, vocab.maxlen):
        return job
    log(f"the prepared data's num_words {vocab.num_words} and maxlen {vocab.maxlen} are used")
    shape = {"num_words": vocab.num_words, "maxlen": vocab.maxlen}
    return replace(job, data=replace(job.data, **shape), model=replace(job.model, **shape))


def check_shapes(data: LabelledData, model_cfg: ModelConfig) -> None:
    if data.train.x.shape[1] != model_cfg.maxlen:
        raise ConfigError(f"data maxlen {data.train.x.shape[1]} differs from model maxlen {model_cfg.maxlen}")
    if int(data.train.x.max(initial=0)) >= model_cfg.num_words:
        raise ConfigError(f"data has token ids >= the model's num_words {model_cfg.num_words}")
    k = model_cfg.num_classes
    for name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        if split is not None and len(split) and not 0 <= int(split.y.min()) <= int(split.y.max()) < k:
            raise ConfigError(f"the {name} split has class indexes outside the model's {k} classes")
