"""Configs of the stages after training: export, verify, predict and the benchmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional

from toolkit.config._checks import require as _require
from toolkit.config.training import SPLITS, TrainConfig

OPSETS = range(13, 19)  # what tf2onnx 1.17 converts to (13: the first with the ops used here)
DEFAULT_OPSET = 17
QUANTIZATIONS = ("int8",)
PREDICT_VARIANTS = ("auto", "fp32", "int8", "text", "text-int8")  # auto: text when the export has it, else fp32
MAX_THREADS = 1024  # onnxruntime intra-op threads at most (a typo must not start a billion)
TRAIN_SETUPS = ("faithful", "fast")  # toolkit bench train: the tutorial's model and input, and the default


@dataclass(frozen=True)
class ExportConfig:
    """``toolkit export``: where the export folder goes and what it holds."""

    out: Optional[str] = None  # None: <run>/onnx
    opset: int = DEFAULT_OPSET
    quantize: tuple[str, ...] = ()  # also write these quantised variants ("int8")
    overwrite: bool = False  # replace an earlier toolkit export folder at ``out``

    def __post_init__(self) -> None:
        _require(self.opset in OPSETS, f"opset {self.opset} is not supported: use {OPSETS.start} to {OPSETS.stop - 1}")
        unknown = sorted(set(self.quantize) - set(QUANTIZATIONS))
        _require(not unknown, f"unknown --quantize {unknown}: supported: {', '.join(QUANTIZATIONS)}")


@dataclass(frozen=True)
class Tolerances:
    """How closely ONNX must follow Keras (``toolkit verify``)."""

    atol: float = 1e-5  # fp32: |p_keras - p_onnx| <= atol + rtol * |p_keras| on every review
    rtol: float = 0.0
    max_label_flips: int = 0  # fp32: reviews whose label may differ
    max_accuracy_drop: float = 0.005  # quantised variants: test accuracy within 0.5 points of Keras
    # quantised variants: at least this share of reviews keep Keras' label (measured: 99.87 % for int8)
    min_label_agreement: float = 0.99

    def __post_init__(self) -> None:
        _require(self.atol >= 0 and self.rtol >= 0, f"atol and rtol must be >= 0, got {self.atol:g} and {self.rtol:g}")
        _require(self.max_label_flips >= 0, "max label flips must be >= 0")
        _require(0 <= self.max_accuracy_drop <= 1, "max accuracy drop must be between 0 and 100 points")
        _require(0 <= self.min_label_agreement <= 1, "min label agreement must be between 0 and 100 %")


@dataclass(frozen=True)
class VerifyConfig:
    """``toolkit verify``: which reviews, which run, which tolerances."""

    split: str = "test"
    data_path: Optional[str] = None  # None: the data path the run records
    run_dir: Optional[str] = None  # None: the run folder the export records (checked by checksum either way)
    batch_size: int = 256
    tolerances: Tolerances = field(default_factory=Tolerances)
    write_reports: bool = True  # parity.json, parity.md, parity.png and confusion.png

    def __post_init__(self) -> None:
        _require(self.split in SPLITS, f"unknown split {self.split!r}: use {' or '.join(SPLITS)}")
        _require(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")


def _positive_counts(values: tuple, what: str, minimum: int = 1) -> None:
    _require(bool(values) and min(values) >= minimum, f"{what} must be at least {minimum}, got {values}")


@dataclass(frozen=True)
class InferBenchConfig:
    """``toolkit bench infer``: Keras vs onnxruntime (and LiteRT) on real test reviews."""

    batch_sizes: tuple[int, ...] = (1, 64, 256)
    reviews: int = 1024  # real test reviews to run through
    repeats: int = 3  # passes per setting; the median rate is reported
    max_batches: int = 200  # batches per pass at most
    threads: tuple[int, ...] = (0,)  # onnxruntime intra-op threads to measure; 0: one per core
    litert: bool = False  # also measure the same weights through TFLiteConverter and ai-edge-litert
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-infer.json"  # the CLI's --out

    def __post_init__(self) -> None:
        _positive_counts(self.batch_sizes, "batch sizes")
        _positive_counts(self.threads, "threads", minimum=0)
        _require(min(self.reviews, self.repeats, self.max_batches) >= 1, "reviews, repeats, max batches must be >= 1")
        _require(
            self.reviews >= max(self.batch_sizes),
            f"--reviews {self.reviews} is smaller than the largest batch size {max(self.batch_sizes)}",
        )


@dataclass(frozen=True)
class TrainBenchConfig:
    """``toolkit bench train``: training reviews/s of each setup, in one process and on Ray workers."""

    steps: int = 40  # batches per timed epoch; steps x batch_size training reviews are used
    repeats: int = 3  # timed epochs per setting (after one warm-up epoch); the median is reported
    workers: tuple[int, ...] = (0, 1, 2)  # 0: one process without Ray; N: N Ray workers
    setups: tuple[str, ...] = TRAIN_SETUPS
    batch_size: int = TrainConfig.batch_size
    gpus_per_worker: float = 0
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-train.json"  # the CLI's --out

    def __post_init__(self) -> None:
        _require(min(self.steps, self.repeats, self.batch_size) >= 1, "steps, repeats and batch size must be >= 1")
        _positive_counts(self.workers, "workers", minimum=0)
        unknown = sorted(set(self.setups) - set(TRAIN_SETUPS))
        _require(bool(self.setups) and not unknown, f"unknown setup(s) {unknown}: use {', '.join(TRAIN_SETUPS)}")
        _require(self.gpus_per_worker >= 0 and math.isfinite(self.gpus_per_worker), "gpus per worker must be >= 0")


@dataclass(frozen=True)
class LoadBenchConfig:
    """``toolkit bench load``: reading and encoding the reviews from the tarball, parquet and CSV."""

    repeats: int = 3  # loads per layout, in turns; the median is reported
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-load.json"  # the CLI's --out

    def __post_init__(self) -> None:
        _require(self.repeats >= 1, f"repeats must be >= 1, got {self.repeats}")


@dataclass(frozen=True)
class ScalingBenchConfig:
    """``toolkit bench scaling``: seconds per epoch on 1-64 GPUs modelled from a measured step time."""

    step_ms: Optional[float] = None  # None: measure one step of the default setup here
    steps: int = 20  # batches per timed epoch when measuring
    repeats: int = 3  # timed epochs when measuring; the median is used
    per_gpu_batch: int = TrainConfig.batch_size  # the global batch is GPUs x this
    gpus: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    gbps: tuple[float, ...] = (25.0, 100.0)  # inter-node bandwidths
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-scaling.json"  # the CLI's --out

    def __post_init__(self) -> None:
        _require(
            self.step_ms is None or (self.step_ms > 0 and math.isfinite(self.step_ms)),
            f"--step-ms must be > 0, got {self.step_ms}",
        )
        _require(min(self.steps, self.repeats, self.per_gpu_batch) >= 1, "steps, repeats, per-GPU batch must be >= 1")
        _positive_counts(self.gpus, "GPU counts")
        _require(bool(self.gbps) and all(0 < g < math.inf for g in self.gbps), "bandwidths must be positive numbers")


@dataclass(frozen=True)
class DataBenchConfig:
    """``toolkit bench data``: prepare's throughput against ``text.py``, and memory and speed of streamed
    against in-memory Ray training, at 1x and 10x the IMDB training reviews."""

    scales: tuple[int, ...] = (1, 10)  # the training reviews repeated this many times (the test set once)
    prepare_cpus: tuple[int, ...] = (1, 2)  # the embedded Ray's CPUs for toolkit prepare
    prepare_scales: tuple[int, ...] = (1, 10)  # scales at which prepare is timed
    workers: tuple[int, ...] = (1, 2)  # Ray workers of the trainings
    steps: int = 40  # batches per training epoch (two epochs: the second is timed)
    batch_size: int = TrainConfig.batch_size
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-data.json"  # the CLI's --out

    def __post_init__(self) -> None:
        _positive_counts(self.scales, "scales")
        _positive_counts(self.prepare_cpus, "prepare CPUs")
        _positive_counts(self.workers, "workers")
        _require(set(self.prepare_scales) <= set(self.scales), "every --prepare-scales value must be one of --scales")
        _require(min(self.steps, self.batch_size) >= 1, "steps and batch size must be >= 1")
