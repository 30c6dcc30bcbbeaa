"""A sweep's progress lines: one per trial epoch, one when a trial ends (Ray Tune's own console
output is turned off: ``RunConfig(verbose=0)``)."""

from __future__ import annotations

from ray import tune

from toolkit.config import METRIC
from toolkit.core.progress import log


def _settings(config: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(config.items()))


class TrialLines(tune.Callback):
    """``trial 3/8 (batch_size 512, learning_rate 0.0021): epoch 2/3 val_accuracy 0.8612 ...``."""

    def __init__(self, trials: int, epochs: int) -> None:
        self.trials, self.epochs = trials, epochs
        self._numbers: dict = {}

    def _name(self, trial) -> str:
        number = self._numbers.setdefault(trial.trial_id, len(self._numbers) + 1)
        return f"trial {number}/{self.trials} ({_settings(trial.config)})"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        score = result.get(METRIC, float("nan"))
        line = f"{self._name(trial)}: epoch {result.get('epoch', '?')}/{self.epochs} {METRIC} {score:.4f}"
        if "seconds" in result:
            line += f"  {result['seconds']:.1f} s"
        log(line)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = (trial.last_result or {}).get("epoch", 0)
        how = "done" if epochs >= self.epochs else f"stopped by ASHA after epoch {epochs}"
        log(f"{self._name(trial)}: {how}")

    def on_trial_error(self, iteration, trials, trial, **info):
        log(f"{self._name(trial)}: failed (see its error in the results)")
