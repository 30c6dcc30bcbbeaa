"""``toolkit run`` as a library function: train, export (with int8 and the text models), verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from toolkit.config import ExportConfig, JobConfig, Tolerances, VerifyConfig
from toolkit.training.job import train_job
from toolkit.training.prepare import TrainResult


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


def run_job(
    job: JobConfig, tolerances: Tolerances = Tolerances(), on_trained: Optional[Callable[[TrainResult], None]] = None
) -> JobResult:
    """``toolkit run``: train, export with an int8 variant (and the text models), verify parity on the
    test split; ``on_trained(result)`` between training and export. The reports say whether parity
    passed; nothing here raises for a failed gate."""
    from toolkit.export.convert import export_run
    from toolkit.verify.check import verify_export

    trained = train_job(job)
    if on_trained:
        on_trained(trained)
    exported = export_run(trained.run_dir, ExportConfig(quantize=("int8",)))
    report = verify_export(exported.path, VerifyConfig(tolerances=tolerances))
    return JobResult(trained.run_dir, exported.path, trained.metrics, report)
