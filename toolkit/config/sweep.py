"""``toolkit tune``'s config: what each setting is searched over (``Space``) and how the sweep runs
(``SweepConfig``).

A space is written ``LOW..HIGH`` (a range: log-uniform for the learning rate, uniform otherwise) or
``A,B,C`` (choices; one value fixes the setting). The searchable settings and their bounds are
``SEARCHABLE``; a space is checked against the job it tunes (``check_space``) before any trial starts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Optional, Union

from toolkit.config._checks import require as _require
from toolkit.config.training import JobConfig, check_folder_name
from toolkit.core.errors import ConfigError

Number = Union[int, float]

# setting -> (the config that holds it, whole numbers only, a range is searched log-uniformly)
SEARCHABLE = {
    "learning_rate": ("train", False, True),
    "batch_size": ("train", True, False),
    "dropout": ("model", False, False),
    "clipnorm": ("train", False, False),
    "warmup_epochs": ("train", False, False),
}
METRIC = "val_accuracy"  # what the sweep maximises: the validation split's, never the test set's


@dataclass(frozen=True)
class Space:
    """One setting's search space: ``low..high`` (``choices`` None) or a tuple of choices."""

    name: str
    low: Optional[Number] = None
    high: Optional[Number] = None
    choices: Optional[tuple] = None

    def __post_init__(self) -> None:
        _require(self.name in SEARCHABLE, f"{self.name!r} cannot be tuned: tune one of {', '.join(SEARCHABLE)}")
        _, whole, _ = SEARCHABLE[self.name]
        if self.choices is not None:
            _require(len(self.choices) >= 1, "give at least one value")
            object.__setattr__(self, "choices", tuple(dict.fromkeys(self.choices)))
            return
        _require(
            self.low is not None and self.high is not None and self.low < self.high,
            f"a range LOW..HIGH needs LOW below HIGH, got {self.low:g}..{self.high:g}",
        )
        _require(not whole, "give choices (such as 64,256,512), not a range")
        _require(not self.log or self.low > 0, f"a log-uniform range needs LOW > 0, got {self.low:g}..{self.high:g}")

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")

    @property
    def log(self) -> bool:
        return SEARCHABLE[self.name][2]

    @property
    def values(self) -> tuple:
        """The values a trial may get at the edges: the choices, or the range's two ends."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def text(self) -> str:
        """As a flag or a config file writes it."""
        if self.choices is not None:
            return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.choices)
        return f"{self.low:g}..{self.high:g}"


def parse_space(name: str, text: str) -> Space:
    """``LOW..HIGH`` or ``A,B,C`` (whole numbers for the batch size) as a :class:`Space`; a malformed
    one is a ``ConfigError`` saying what is expected."""
    _, whole, _ = SEARCHABLE[name]
    kind = int if whole else float
    text = str(text).strip()
    try:
        if ".." in text:
            low, high = (kind(v.strip()) for v in text.split("..", 1))
            values: tuple = (low, high)
        else:
            values = tuple(kind(v.strip()) for v in text.split(","))
    except ValueError:
        example = "64,256,512" if whole else "0.0005..0.005 or 0.001,0.002"
        raise ConfigError(f"expected LOW..HIGH or A,B,C (such as {example}), got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"values must be finite numbers, got {text!r}")
    if ".." in text:
        return Space(name, low=values[0], high=values[1])
    return Space(name, choices=values)


def check_space(job: JobConfig, spaces: tuple[Space, ...]) -> None:
    """Every value a trial can get builds a valid job (learning rate > 0, dropout below 1, warm-up
    within the epochs...): a bad range is an error now, naming its flag, not a failed trial later."""
    for space in spaces:
        where, _, _ = SEARCHABLE[space.name]
        for value in space.values:
            try:
                with_settings(job, {space.name: value})
            except ConfigError as exc:
                raise ConfigError(f"--tune-{space.flag} {space.text()}: {exc}") from None


def with_settings(job: JobConfig, settings: dict) -> JobConfig:
    """The job with a trial's settings (each checked by its config)."""
    train = {k: v for k, v in settings.items() if SEARCHABLE[k][0] == "train"}
    model = {k: v for k, v in settings.items() if SEARCHABLE[k][0] == "model"}
    if "batch_size" in train:
        train["batch_size"] = int(train["batch_size"])
    assert job.model is not None
    return replace(job, train=replace(job.train, **train), model=replace(job.model, **model))


def default_sweep_name() -> str:
    return time.strftime("tune-%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class SweepConfig:
    """How ``toolkit tune`` runs: the spaces, how many trials, how many at once, ASHA's rungs, and where
    the results go (``<exports_dir>/<name>/``; Ray Tune's experiment under ``--storage``/<name>)."""

    spaces: tuple[Space, ...] = ()
    trials: int = 8
    max_concurrent: int = 1
    grace_epochs: int = 1  # ASHA stops no trial before this many epochs
    reduction_factor: int = 2  # ASHA keeps the best 1/reduction_factor of the trials at each rung
    trial_cpus: Optional[int] = None  # CPUs of a one-process trial (None: the machine's cores / max_concurrent)
    trial_gpus: float = 0  # GPUs of a one-process trial
    name: Optional[str] = None  # None: tune-<timestamp>
    seed: int = 7  # the search's own random draws

    def __post_init__(self) -> None:
        object.__setattr__(self, "spaces", tuple(self.spaces))
        names = [s.name for s in self.spaces]
        _require(len(set(names)) == len(names), f"a setting is searched twice: {names}")
        _require(self.trials >= 1, f"--trials must be >= 1, got {self.trials}")
        _require(self.max_concurrent >= 1, f"--max-concurrent must be >= 1, got {self.max_concurrent}")
        _require(self.grace_epochs >= 1, f"--grace-epochs must be >= 1, got {self.grace_epochs}")
        _require(self.reduction_factor >= 2, f"--reduction-factor must be >= 2, got {self.reduction_factor}")
        _require(self.trial_cpus is None or self.trial_cpus >= 1, "--trial-cpus must be >= 1")
        _require(self.trial_gpus >= 0 and math.isfinite(self.trial_gpus), "--trial-gpus must be >= 0")
        if self.name is not None:
            check_folder_name(self.name, "sweep name")
