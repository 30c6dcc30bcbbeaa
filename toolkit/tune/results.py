"""A sweep's results folder: ``results.csv`` and ``results.md`` (a row per trial, best first),
``trials.png`` (each trial's validation accuracy per epoch), ``best.toml`` (the job with the best
trial's settings, for ``toolkit train --config``) and ``sweep.json``; written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from toolkit import __version__
from toolkit.artifacts.sweeps import (
    BEST_TOML,
    RESULTS_CSV,
    RESULTS_MD,
    SWEEP_FILES,
    SWEEP_JSON,
    TRIALS_PNG,
    is_toolkit_sweep,
)
from toolkit.config import METRIC, JobConfig, Space, SweepConfig, to_dict, with_settings
from toolkit.config.settings import job_settings, settings_toml
from toolkit.core.errors import first_line
from toolkit.core.files import Target, atomic_write_files, staged_folder


@dataclass(frozen=True)
class Trial:
    """One trial as the tables show it."""

    trial_id: str
    settings: dict  # the searched settings' values
    epochs: int  # epochs it trained (fewer than asked: ASHA stopped it)
    val_accuracy: Optional[float]  # at its last epoch
    val_loss: Optional[float]
    best_score: Optional[float]  # its best epoch's validation accuracy
    seconds: float
    status: str  # "completed", "stopped early", "error"
    error: str = ""
    curve: list = field(default_factory=list)  # validation accuracy per epoch

    @classmethod
    def of(cls, result, spaces: tuple[Space, ...], epochs_asked: int) -> "Trial":
        """A Ray Tune ``Result`` as a row (``epochs_asked``: the job's epochs)."""
        frame = result.metrics_dataframe
        curve = []
        if frame is not None and METRIC in frame:
            curve = [float(v) for v in frame[METRIC].tolist() if v == v]
        metrics = result.metrics or {}
        epochs = int(metrics.get("epoch") or len(curve))
        settings = {s.name: (result.config or {}).get(s.name) for s in spaces}
        error = first_line(result.error)[:300] if result.error else ""
        status = "error" if error else ("completed" if epochs >= epochs_asked else "stopped early")
        return cls(
            trial_id=str(metrics.get("trial_id") or Path(str(result.path)).name),
            settings=settings,
            epochs=epochs,
            val_accuracy=_number(metrics.get(METRIC)),
            val_loss=_number(metrics.get("val_loss")),
            best_score=max(curve) if curve else None,
            seconds=round(float(metrics.get("time_total_s") or 0.0), 1),
            status=status,
            error=error,
            curve=curve,
        )

    def rank(self) -> tuple:
        """Best first: the trials that trained every epoch, by their final validation accuracy; then
        the ones ASHA stopped; then failures."""
        score = self.val_accuracy if self.val_accuracy is not None else -math.inf
        return ({"completed": 0, "stopped early": 1}.get(self.status, 2), -self.epochs, -score)


def _number(value) -> Optional[float]:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


COLUMNS = ("trial_id", "status", "epochs", "val_accuracy", "val_loss", "best_val_accuracy", "seconds")


def _rows(trials: list, spaces: tuple[Space, ...]) -> tuple[list, list]:
    names = [s.name for s in spaces]
    header = ["rank", *names, *COLUMNS]
    rows = []
    for i, t in enumerate(trials, 1):
        values = [t.settings.get(n) for n in names]
        rows.append([i, *values, t.trial_id, t.status, t.epochs, t.val_accuracy, t.val_loss, t.best_score, t.seconds])
    return header, rows


def results_csv(trials: list, spaces: tuple[Space, ...]) -> str:
    header, rows = _rows(trials, spaces)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def results_markdown(trials: list, spaces: tuple[Space, ...], job: JobConfig, sweep: SweepConfig) -> str:
    header, rows = _rows(trials, spaces)
    lines = [
        f"# Sweep {sweep.name}",
        "",
        f"{len(trials)} trial(s), up to {job.train.epochs} epochs each, ASHA on {METRIC} (the validation split; "
        f"the test split is never looked at). Searched: "
        + (", ".join(f"`{s.name}` {s.text()}" for s in spaces) or "nothing")
        + ". Best first.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---:" if h not in ("trial_id", "status") else "---" for h in header) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    errors = [t for t in trials if t.error]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {t.trial_id}: {t.error}" for t in errors]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 0.01 or abs(value) >= 1000 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value).replace("|", "\\|")


def trials_png(trials: list, job: JobConfig) -> bytes:
    """Each trial's validation accuracy per epoch; the best trial's line drawn bold."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only here: matplotlib takes a second
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    for i, t in enumerate(trials):
        if not t.curve:
            continue
        epochs = list(range(1, len(t.curve) + 1))
        label = ", ".join(f"{k} {_cell(v)}" for k, v in t.settings.items())
        ax.plot(
            epochs, t.curve, marker="o", linewidth=2.6 if i == 0 else 1.0, alpha=1.0 if i == 0 else 0.6, label=label
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_xticks(range(1, job.train.epochs + 1))
    ax.set_title(f"{len(trials)} trials (best in bold)")
    ax.grid(alpha=0.3)
    if len(trials) <= 12:
        ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": "toolkit"})
    return buffer.getvalue()


def best_toml(job: JobConfig, best: Trial, data_source: Optional[str], sweep: SweepConfig, path: Path) -> str:
    """The job with the best trial's settings, as ``toolkit train --config`` takes it (no run name:
    each training names its own)."""
    tables = job_settings(with_settings(job, {k: v for k, v in best.settings.items() if v is not None}), data_source)
    tables["train"].pop("run_name", None)
    header = (
        f"# The best settings of sweep {sweep.name} (trial {best.trial_id}: {METRIC} {best.val_accuracy:.4f} "
        f"after {best.epochs} epochs), written by toolkit. Train with them:\n"
        f"#   toolkit train --config {path} --run-name NAME\n"
        "# (--validation-fraction 0 trains on the whole training split; flags override these keys)\n"
    )
    return settings_toml(tables, header)


def write_results(
    path: Path,
    target: Target,
    job: JobConfig,
    sweep: SweepConfig,
    trials: list,
    best: Trial,
    data_source: Optional[str],
) -> Path:
    """The results folder, in one step (a staging folder renamed into place)."""
    report = {
        "toolkit_version": __version__,
        "sweep": {**to_dict(sweep), "spaces": [{"name": s.name, "space": s.text()} for s in sweep.spaces]},
        "metric": METRIC,
        "best": asdict(best),
        "trials": [asdict(t) for t in trials],
    }
    files = {
        RESULTS_CSV: results_csv(trials, sweep.spaces).encode(),
        RESULTS_MD: results_markdown(trials, sweep.spaces, job, sweep).encode(),
        TRIALS_PNG: trials_png(trials, job),
        BEST_TOML: best_toml(job, best, data_source, sweep, Path(path).absolute() / BEST_TOML).encode(),
        SWEEP_JSON: json.dumps(report, indent=2).encode(),
    }
    with staged_folder(path, target, is_toolkit_sweep, SWEEP_FILES) as stage:
        atomic_write_files({stage / name: content for name, content in files.items()})
    return path
