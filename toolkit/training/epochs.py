"""The epoch log every training uses: per-epoch metrics and timing, the divergence check, the line
printed for each epoch, and the rows handed on at each quarter of an epoch (for TensorBoard).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

from toolkit._tf import keras
from toolkit.core.errors import TrainingDiverged
from toolkit.core.progress import Progress, log


class EpochLog(keras.callbacks.Callback):
    """Times each epoch, stops at a non-finite loss, and prints one line of metrics as it ends.

    ``on_quarter(row)`` is called after the batches that end the first three quarters of an epoch
    (epochs of 4 batches or more) with :func:`quarter_row`'s figures; ``on_epoch(row)`` with each
    epoch's row, the fourth quarter. Only then are Keras' logs converted to numbers."""

    def __init__(
        self,
        n_reviews: int,
        epochs: int,
        quiet: bool = False,
        on_quarter: Optional[Callable[[dict], None]] = None,
        on_epoch: Optional[Callable[[dict], None]] = None,
    ) -> None:
        super().__init__()
        self.n_reviews, self.epochs, self.quiet = n_reviews, epochs, quiet
        self.on_quarter, self.on_epoch = on_quarter, on_epoch
        self._quarters: dict[int, int] = {}  # the batch (from 1) that ends each quarter -> the quarter (1..3)
        self._epoch = 0
        # Take Keras' logs as tensors: otherwise a per-batch hook converts them to NumPy every step,
        # a host sync that measured about 9 % slower per epoch here.
        self._supports_tf_logs = True
        self.history: list[dict] = []
        self._start = 0.0
        self._bar: Optional[Progress] = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._epoch = epoch
        self._quarters = quarter_batches(self.params.get("steps") or 0) if self.on_quarter else {}
        if not self.quiet:
            label = f"epoch {epoch + 1}/{self.epochs}"
            self._bar = Progress(self.params.get("steps") or 0, label, unit=" batches", steps=4)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar:
            self._bar.update(batch + 1)
        quarter = self._quarters.get(batch + 1)
        if quarter:
            steps = self.params["steps"]
            seconds = time.perf_counter() - self._start
            reviews = self.n_reviews * (batch + 1) / steps
            self.on_quarter(
                quarter_row(self._epoch + 1, quarter, batch + 1, steps, logs, self.model, reviews / seconds)
            )

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if self._bar:
            self._bar.close()
        check_finite(float(logs["loss"]), epoch + 1)
        row = {
            "epoch": epoch + 1,
            "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            **{k: float(logs[k]) for k in ("val_loss", "val_accuracy") if k in logs},
            "learning_rate": learning_rate(self.model),
            "seconds": round(seconds, 3),
            "reviews_per_second": round(self.n_reviews / seconds, 1),
        }
        self.history.append(row)
        if not self.quiet:
            log(epoch_line(row, self.epochs))
        if self.on_epoch:
            self.on_epoch(row)


def quarter_batches(steps: int) -> dict[int, int]:
    """``{batch: quarter}``: the batches (counted from 1) after which the first three quarters of an
    epoch of ``steps`` batches end; none below 4 batches (the fourth quarter is the epoch's end)."""
    return {steps * k // 4: k for k in (1, 2, 3)} if steps >= 4 else {}


def quarter_row(epoch: int, quarter: int, batch: int, steps: int, logs, model, reviews_per_second: float) -> dict:
    """The figures at the end of ``quarter`` (1..3) of ``epoch`` (from 1): the epoch's running mean
    loss and accuracy so far (as Keras' progress bar shows them), the optimizer's current learning
    rate, reviews per second since the epoch began; ``step``: the quarter's index from the first epoch."""
    return {
        "epoch": epoch,
        "batch": batch,
        "steps": steps,
        "step": 4 * (epoch - 1) + quarter,
        "loss": float(logs["loss"]),
        "accuracy": float(logs["accuracy"]),
        "learning_rate": learning_rate(model),
        "reviews_per_second": round(reviews_per_second, 1),
    }


def learning_rate(model) -> float:
    """The optimizer's learning rate now (a warm-up changes it every batch; a schedule's current value)."""
    return float(f"{float(keras.backend.get_value(model.optimizer.learning_rate)):.7g}")  # float32's digits


def check_finite(loss: float, epoch: int) -> None:
    """Stop at the end of the first epoch whose loss is NaN or infinite: its weights are garbage, and a
    run folder holding them would pass for a model."""
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training diverged: the loss is {loss} after epoch {epoch}; nothing was saved. "
            "Lower --learning-rate or keep --clipnorm on"
        )


def epoch_line(row: dict, epochs: int) -> str:
    validation = (
        f"val_loss {row['val_loss']:.4f}  val_accuracy {row['val_accuracy']:.4f}  " if "val_loss" in row else ""
    )
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}  accuracy {row['accuracy']:.4f}  {validation}"
        f"{row['seconds']:.1f} s  {row['reviews_per_second']:,.0f} reviews/s"
    )
