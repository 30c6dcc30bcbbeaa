"""``training.png``: a run's loss and accuracy per epoch, training and validation (when the run had a
validation split), drawn from the epoch rows of ``metrics.json``."""

from __future__ import annotations

from pathlib import Path

TRAIN_COLOUR, VALIDATION_COLOUR = "#3b6ea8", "#c0392b"


def plot_training(path: Path, history: list[dict]) -> None:
    """Write the curves of ``history`` (``EpochLog`` rows) to ``path`` as a PNG: a Figure of its own with
    the Agg canvas (no pyplot: matplotlib's global backend and figure list stay as the caller had them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only here: matplotlib takes a second
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        ax.plot(epochs, [row[metric] for row in history], "o-", color=TRAIN_COLOUR, label="training")
        validation = [(row["epoch"], row[f"val_{metric}"]) for row in history if f"val_{metric}" in row]
        if validation:
            ax.plot(*zip(*validation), "s--", color=VALIDATION_COLOUR, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
