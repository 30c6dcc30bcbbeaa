"""Configuration: frozen dataclasses, the single home of every default.

Each stage takes the config it needs (``training``: data, model, training, cluster, the job that joins
them; ``prepare``: the Ray Data preprocessing; ``stages``: export, verify, bench). Configs are immutable
(a run never changes its settings midway) and round-trip through plain dicts (``to_dict`` /
``from_dict``), which is how they cross into ``config.json`` and into Ray workers. The CLI's defaults
and help texts are read from them.
"""

from __future__ import annotations

import dataclasses
import reprlib
import typing
from typing import Any, TypeVar

from toolkit.config.prepare import ROWS_PER_SHARD, PrepareConfig
from toolkit.config.stages import (
    DEFAULT_OPSET,
    MAX_THREADS,
    OPSETS,
    PREDICT_VARIANTS,
    QUANTIZATIONS,
    TRAIN_SETUPS,
    DataBenchConfig,
    ExportConfig,
    InferBenchConfig,
    LoadBenchConfig,
    ScalingBenchConfig,
    Tolerances,
    TrainBenchConfig,
    VerifyConfig,
)
from toolkit.config.sweep import METRIC, SEARCHABLE, Space, SweepConfig, check_space, parse_space, with_settings
from toolkit.config.training import (
    COLLECTIVES,
    CPUS_PER_GPU,
    IMDB_CLASSES,
    MAX_CLASSES,
    MAX_MAXLEN,
    MAX_NUM_WORDS,
    OFFICIAL_SHA256,
    OFFICIAL_SIZE,
    OFFICIAL_URL,
    SPLITS,
    ClusterConfig,
    DataConfig,
    JobConfig,
    ModelConfig,
    TrainConfig,
    default_cache_dir,
    default_run_name,
)
from toolkit.config.web import LOOPBACK, WEB_PRECISIONS, WebBenchConfig, WebConfig
from toolkit.core.errors import ConfigError

__all__ = [
    "COLLECTIVES",
    "CPUS_PER_GPU",
    "DEFAULT_OPSET",
    "IMDB_CLASSES",
    "LOOPBACK",
    "METRIC",
    "SEARCHABLE",
    "MAX_CLASSES",
    "MAX_MAXLEN",
    "MAX_NUM_WORDS",
    "MAX_THREADS",
    "OFFICIAL_SHA256",
    "OFFICIAL_SIZE",
    "OFFICIAL_URL",
    "OPSETS",
    "PREDICT_VARIANTS",
    "QUANTIZATIONS",
    "ROWS_PER_SHARD",
    "SPLITS",
    "TRAIN_SETUPS",
    "WEB_PRECISIONS",
    "ClusterConfig",
    "DataBenchConfig",
    "DataConfig",
    "ExportConfig",
    "InferBenchConfig",
    "JobConfig",
    "LoadBenchConfig",
    "ModelConfig",
    "PrepareConfig",
    "ScalingBenchConfig",
    "Space",
    "SweepConfig",
    "Tolerances",
    "TrainBenchConfig",
    "TrainConfig",
    "VerifyConfig",
    "WebBenchConfig",
    "WebConfig",
    "default_cache_dir",
    "check_space",
    "default_run_name",
    "from_dict",
    "parse_space",
    "to_dict",
    "with_settings",
]

C = TypeVar("C")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[C], data: dict) -> C:
    """Build ``cls`` from a dict, ignoring keys it does not know (older/newer config.json files).
    ``data`` may come from someone else's ``config.json``: every value must have its field's type."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table of {cls.__name__} settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for name, value in kwargs.items():
        if not _has_type(value, hints[name]):
            raise ConfigError(f"{cls.__name__}.{name} must be {_type_name(hints[name])}, got {_shown(value)}")
    return cls(**kwargs)


def _shown(value: Any) -> str:
    """A value from someone else's file, for an error: its repr cut short (a string of a gigabyte or a
    list nested 900 deep would make the one-line error huge, or fail with a RecursionError)."""
    r = reprlib.Repr()
    r.maxstring = r.maxother = 80
    return r.repr(value)


def _options(hint: Any) -> tuple:
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)


def _has_type(value: Any, hint: Any) -> bool:
    for t in _options(hint):
        if t is type(None) and value is None:
            return True
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
        if typing.get_origin(t) is tuple and isinstance(value, (list, tuple)):  # tuple[str, ...]: a JSON list
            item = typing.get_args(t)[0]
            return all(_has_type(v, item) for v in value)
    return False


def _type_name(hint: Any) -> str:
    words = {int: "a whole number", float: "a number", bool: "true or false", str: "text", type(None): "null"}
    return " or ".join(
        "a list of text" if typing.get_origin(t) is tuple else words.get(t, str(t)) for t in _options(hint)
    )
