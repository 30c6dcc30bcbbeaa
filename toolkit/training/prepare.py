"""The checks every training starts with, run once per training: the run folder can be written,
the reviews load and fit the model. ``TrainResult``: what a training returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from toolkit.artifacts.runs import check_writable
from toolkit.config import JobConfig, ModelConfig
from toolkit.core.errors import ConfigError
from toolkit.core.files import Target
from toolkit.core.progress import log
from toolkit.data.imdb import ImdbData, load_imdb


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    metrics: dict


def prepare(job: JobConfig, data: Optional[ImdbData] = None) -> tuple[ImdbData, Target]:
    """The checks every training path starts with: the run folder can be written (and is not someone
    else's), the reviews load (unless ``data`` is given), and they fit the model. Returns the data and
    what stood at the run folder's place (``files.Target``): the finished run replaces exactly that."""
    target = check_writable(job.run_dir, job.train.overwrite)
    if data is None:
        data = load_imdb(job.data)
        log(data.summary())
    check_shapes(data, job.model)
    return data, target


def check_shapes(data: ImdbData, model_cfg: ModelConfig) -> None:
    if data.train.x.shape[1] != model_cfg.maxlen:
        raise ConfigError(f"data maxlen {data.train.x.shape[1]} differs from model maxlen {model_cfg.maxlen}")
    if int(data.train.x.max(initial=0)) >= model_cfg.num_words:
        raise ConfigError(f"data has token ids >= the model's num_words {model_cfg.num_words}")
