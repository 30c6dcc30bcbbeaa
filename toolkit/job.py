"""The training job from the outside: the checks before any training, ``toolkit train`` and
``toolkit run`` as library functions that return paths.

TensorFlow and Ray are imported only inside :func:`train_job`, after :func:`prepare` has checked the
run folder and read the reviews: a bad flag or path fails in a second, not after a framework loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .config import ExportConfig, JobConfig, ModelConfig, Tolerances, VerifyConfig
from .data import ImdbData, load_imdb
from .errors import ConfigError
from .files import Target
from .progress import log
from .rundir import check_writable


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    metrics: dict


@dataclass(frozen=True)
class JobResult:
    """What ``toolkit run`` made: the run folder, the export folder and verify's report."""

    run_dir: Path
    export_dir: Path
    metrics: dict
    report: dict

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


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


def train_job(job: JobConfig) -> TrainResult:
    """``toolkit train``: in this process (``cluster.workers == 0``) or on Ray workers."""
    data, _ = prepare(job)
    if job.cluster.workers:
        from .distributed import train_on_ray

        return train_on_ray(job, data)
    from .train import train

    return train(job, data)


def run_job(
    job: JobConfig, tolerances: Tolerances = Tolerances(), on_trained: Optional[Callable[[TrainResult], None]] = None
) -> JobResult:
    """``toolkit run``: train, export with an int8 variant (and the text models), verify parity on the
    test split; ``on_trained(result)`` between training and export. The reports say whether parity
    passed; nothing here raises for a failed gate."""
    from .export import export_run  # onnx and onnxruntime: not needed to train (nor in Ray workers)
    from .verify import verify_export

    trained = train_job(job)
    if on_trained:
        on_trained(trained)
    exported = export_run(trained.run_dir, ExportConfig(quantize=("int8",)))
    report = verify_export(exported.path, VerifyConfig(tolerances=tolerances))
    return JobResult(trained.run_dir, exported.path, trained.metrics, report)
