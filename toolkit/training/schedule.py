"""The learning-rate warm-up (``--warmup-epochs``): the rate rises linearly over the first steps.

Large global batches take fewer, larger steps; starting them at the full rate can throw the LSTM's
gates into saturation in the first steps. The warm-up gives step ``s`` (counted from the first epoch,
so a resumed run continues where it was) ``learning_rate * (s + 1) / warmup_steps`` until
``warmup_steps = round(warmup_epochs * steps_per_epoch)``, then the full rate.
"""

from __future__ import annotations

import math
from typing import Optional

from toolkit._tf import keras
from toolkit.config import TrainConfig


class WarmUp(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before each warm-up step; does nothing after the warm-up."""

    def __init__(self, learning_rate: float, warmup_epochs: float, steps_per_epoch: int) -> None:
        super().__init__()
        self.learning_rate, self.steps_per_epoch = float(learning_rate), max(1, int(steps_per_epoch))
        self.total = max(1, round(warmup_epochs * self.steps_per_epoch))
        self._epoch = 0
        self._done = warmup_epochs <= 0

    def rate(self, step: int) -> float:
        """The learning rate of global step ``step`` (from 0)."""
        return self.learning_rate * min(1.0, (step + 1) / self.total)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._done:
            return
        step = self._epoch * self.steps_per_epoch + batch
        self._done = step + 1 >= self.total
        keras.backend.set_value(self.model.optimizer.learning_rate, self.rate(step))


def warmup_callbacks(train_cfg: TrainConfig, steps: Optional[int], reviews: int) -> list:
    """``[WarmUp]`` when ``--warmup-epochs`` is set, else ``[]``; ``steps``: the input's steps per
    epoch, None for the faithful input (then one per global batch of ``reviews``, capped)."""
    if train_cfg.warmup_epochs <= 0:
        return []
    if steps is None:
        steps = math.ceil(reviews / train_cfg.batch_size)
        if train_cfg.steps_per_epoch is not None:
            steps = min(steps, train_cfg.steps_per_epoch)
    return [WarmUp(train_cfg.learning_rate, train_cfg.warmup_epochs, steps)]
