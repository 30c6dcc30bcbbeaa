"""Training configs: where the reviews come from, the model, the optimisation, the cluster, and the job
that joins them (the one place where settings that span configs are derived and checked)."""

from __future__ import annotations

import math
import os
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from toolkit.config._checks import require as _require

# The tutorial's preprocessing: the 5,000 most frequent words, reviews cut or pre-padded to 500.
NUM_WORDS = 5000
MAXLEN = 500
SPLITS = ("train", "test")  # the data's splits, in the order they are read (verify compares on one)
# Upper bounds that keep a typo from asking for terabytes: the encoded splits take 50,000 x maxlen
# int32 (2 GB at the bound; IMDB's longest review is under 3,000 tokens), the embedding num_words x 32.
MAX_MAXLEN = 10_000
MAX_NUM_WORDS = 1_000_000

# The official archive (see ../shared/data/README.md); only fetched when no local copy is found.
OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
OFFICIAL_SIZE = 84_125_825

IMDB_CLASSES = ("negative", "positive")  # the aclImdb neg/pos folders, label 0 and 1 (edge.contract.LABELS)
MAX_CLASSES = 1000  # edge.contract.MAX_CLASSES: the same


def default_cache_dir() -> str:
    """``$TOOLKIT_CACHE``, else ``$XDG_CACHE_HOME/toolkit``, else ``~/.cache/toolkit``."""
    if os.environ.get("TOOLKIT_CACHE"):
        return os.environ["TOOLKIT_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "toolkit")


# Characters a run name may not hold (Unicode categories): control and format characters (a newline,
# an ANSI escape, a right-to-left override), lone surrogates (argv bytes that are not UTF-8), line and
# paragraph separators. Each would split or disguise the one line that names the run.
UNPRINTABLE_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


# folders the toolkit keeps beside the run folders in --exports-dir: Ray's checkpoints (cluster.storage's
# default), the live TensorBoard events (training.events), the prepared data of --stream
RESERVED_NAMES = ("ray", "tensorboard", "prepared")


def default_run_name() -> str:
    """``imdb-lstm-<timestamp>``: the run folder's name when none is given."""
    return time.strftime("imdb-lstm-%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class DataConfig:
    """Where the reviews come from and how they are encoded."""

    # an aclImdb tarball or folder, or tabular files (.csv/.tsv/.jsonl/.json/.parquet: a file, a folder of
    # them or a glob); None: $TOOLKIT_DATA, the cache, a download of aclImdb
    path: Optional[str] = None
    source: str = "aclimdb"  # "aclimdb" (aclImdb, or tabular files when path is one), or "keras"
    num_words: int = NUM_WORDS  # vocabulary size including the 3 reserved ids
    maxlen: int = MAXLEN  # tokens per review after pre-truncation / pre-padding
    limit: Optional[int] = None  # class-balanced subset of this many reviews per split
    seed: int = 7  # picks the subset when limit is set
    cache_dir: Optional[str] = None  # None: default_cache_dir()
    download: bool = True  # fetch the official tarball when nothing local is found
    url: str = OFFICIAL_URL
    sha256: str = OFFICIAL_SHA256
    # Tabular files only (toolkit.data.tabular): columns (None: detected from common names), the test
    # split (test_path, left out of path's files; else files named train*/test* or in train/ and test/
    # folders, or a split column in which some row says test; else test_fraction of the rows, seeded and
    # stratified: None means 0.2 then), the validation split (validation_fraction of the
    # training split, for per-epoch validation metrics), the class names in order (None: sorted), and
    # strict (the first bad row is an error instead of being skipped and counted).
    text_column: Optional[str] = None
    label_column: Optional[str] = None
    split_column: Optional[str] = None
    test_path: Optional[str] = None
    test_fraction: Optional[float] = None
    validation_fraction: float = 0.0
    labels: Optional[tuple[str, ...]] = None
    strict: bool = False

    def __post_init__(self) -> None:
        _require(self.source in ("aclimdb", "keras"), f"unknown data source {self.source!r}: use 'aclimdb' or 'keras'")
        _require(
            self.test_fraction is None or 0 < self.test_fraction < 1,
            f"test fraction must be between 0 and 1, got {self.test_fraction}",
        )
        _require(
            0 <= self.validation_fraction < 1,
            f"validation fraction must be >= 0 and below 1, got {self.validation_fraction}",
        )
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))
            _check_classes(self.labels, "--labels")
        _require(
            3 < self.num_words <= MAX_NUM_WORDS,
            f"num_words must be > 3 (ids 0-2 are reserved) and <= {MAX_NUM_WORDS:,}, got {self.num_words}",
        )
        _require(1 <= self.maxlen <= MAX_MAXLEN, f"maxlen must be between 1 and {MAX_MAXLEN:,}, got {self.maxlen}")
        _require(self.limit is None or self.limit >= 2, f"limit must be >= 2 (one review per class), got {self.limit}")
        _require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")

    @property
    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir or default_cache_dir()).expanduser()


@dataclass(frozen=True)
class ModelConfig:
    """The seed architecture: Embedding -> Dropout -> LSTM -> Dropout -> Dense(sigmoid)."""

    num_words: int = NUM_WORDS
    maxlen: int = MAXLEN
    embedding_dim: int = 32
    lstm_units: int = 100
    dropout: float = 0.2
    # Not in the tutorial: the embedding masks padding (id 0) and the input takes any number of
    # tokens, so a review's probability does not depend on how much padding precedes it.
    # False: the tutorial's model exactly (fixed maxlen input, padding fed to the LSTM).
    mask_padding: bool = True
    # The class names, in the order of the model's output: two classes keep the seed's head
    # (Dense(1, sigmoid): the probability of the second), K > 2 get Dense(K, softmax).
    classes: tuple[str, ...] = IMDB_CLASSES

    def __post_init__(self) -> None:
        _require(
            3 < self.num_words <= MAX_NUM_WORDS, f"num_words must be > 3 and <= {MAX_NUM_WORDS:,}, got {self.num_words}"
        )
        _require(1 <= self.maxlen <= MAX_MAXLEN, f"maxlen must be between 1 and {MAX_MAXLEN:,}, got {self.maxlen}")
        _require(
            1 <= self.embedding_dim <= 4096 and 1 <= self.lstm_units <= 4096,
            "embedding_dim and lstm_units must be between 1 and 4096",
        )
        _require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "classes", tuple(self.classes))
        _check_classes(self.classes, "the model's classes")

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _check_classes(classes: tuple, what: str) -> None:
    _require(
        all(isinstance(c, str) and c.strip() and c.isprintable() for c in classes),
        f"{what}: every class name must be non-empty printable text, got {list(classes)[:10]}",
    )
    _require(len(set(classes)) == len(classes), f"{what}: the class names must be distinct, got {list(classes)[:10]}")
    _require(
        2 <= len(classes) <= MAX_CLASSES,
        f"{what}: 2 to {MAX_CLASSES:,} classes are needed, got {len(classes):,}",
    )


@dataclass(frozen=True)
class TrainConfig:
    """The tutorial's hyper-parameters, plus where the run folder goes."""

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3  # Adam's default, as in the tutorial
    # Not in the tutorial: clip each gradient's global norm. Over 500 steps the LSTM's gradients
    # sometimes explode late in training (measured: epoch-3 loss rising, test accuracy 82 % instead
    # of 87 %); clipping keeps the run stable. 0 turns it off (the tutorial exactly).
    clipnorm: float = 1.0
    # Not in the tutorial: raise the learning rate linearly from learning_rate / steps to learning_rate
    # over the first warmup_epochs epochs (a fraction is fine), which large global batches tend to need
    # (toolkit.training.schedule). 0: the full rate from the first step, as in the tutorial.
    warmup_epochs: float = 0.0
    seed: int = 7
    run_name: Optional[str] = None  # None: imdb-lstm-<timestamp>
    exports_dir: str = "exports"
    overwrite: bool = False
    eval_batch_size: int = 512
    # Not in the tutorial: batches of reviews of similar length, each trimmed to its longest review
    # (toolkit.training.buckets). Needs ModelConfig.mask_padding. False: shuffled fixed-length batches.
    length_buckets: bool = True
    steps_per_epoch: Optional[int] = None  # at most this many batches per epoch (smoke runs, benchmarks)

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _require(
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            f"steps per epoch must be >= 1, got {self.steps_per_epoch}",
        )
        _require(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        _require(
            self.learning_rate > 0 and math.isfinite(self.learning_rate),
            f"learning rate must be a finite number > 0, got {self.learning_rate}",
        )
        _require(
            self.clipnorm >= 0 and math.isfinite(self.clipnorm),
            f"clipnorm must be a finite number >= 0 (0 turns clipping off), got {self.clipnorm}",
        )
        _require(
            0 <= self.warmup_epochs <= self.epochs and math.isfinite(self.warmup_epochs),
            f"warm-up epochs must be between 0 and the epochs ({self.epochs}), got {self.warmup_epochs:g}",
        )
        _require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        _require(self.eval_batch_size >= 1, f"eval batch size must be >= 1, got {self.eval_batch_size}")
        if self.run_name is not None:
            check_folder_name(self.run_name, "run name")


def check_folder_name(name: str, what: str) -> None:
    """A run's or sweep's folder name under --exports-dir: a plain name, not one of the toolkit's own
    folders there, with nothing that would split or disguise the one line that names it."""
    _require(
        bool(name) and "/" not in name and not name.startswith("."),
        f"{what} {name!r} must be a plain folder name (no '/', not starting with '.')",
    )
    _require(
        name not in RESERVED_NAMES,
        f"{what} {name!r} is taken by the toolkit's own folder under --exports-dir ({', '.join(RESERVED_NAMES)}): "
        "pick another",
    )
    bad = next((c for c in name if unicodedata.category(c) in UNPRINTABLE_IN_NAMES), None)
    _require(
        bad is None,
        f"{what} {name!r} holds the control character {bad!r}: it is shown in one line (the result line, "
        "errors), leave it out",
    )


COLLECTIVES = ("auto", "nccl", "ring")
CPUS_PER_GPU = 2  # default CPUs of a GPU worker, per GPU (see ClusterConfig.worker_cpus)


@dataclass(frozen=True)
class ClusterConfig:
    """Where training runs: one process (``workers == 0``) or Ray Train workers.

    ``workers == 0`` is the default on purpose: on a machine without GPUs, single-process training
    was measured faster than Ray with 1 or 2 workers (see the README's figures)."""

    workers: int = 0
    # GPUs per worker: 0, a fraction below 1 (workers share a GPU: 0.5 = two per GPU) or a whole number
    gpus_per_worker: float = 0
    cpus_per_worker: Optional[int] = None  # None: 1 without GPUs, CPUS_PER_GPU per GPU (at least 2) with
    collective: str = "auto"  # all-reduce between workers: "auto", "nccl" or "ring" (see resolved_collective)
    address: Optional[str] = None  # None: an embedded local Ray; "auto" or "ray://host:10001": join a cluster
    storage: Optional[str] = None  # checkpoints; None: <exports_dir>/ray (use a shared path or URI on clusters)
    max_failures: int = 2
    start_timeout_s: float = 30.0  # how long to wait for the cluster before failing with a clear error

    def __post_init__(self) -> None:
        g = self.gpus_per_worker
        _require(self.workers >= 0, f"workers must be >= 0 (0 = single process), got {self.workers}")
        _require(g >= 0 and math.isfinite(g), f"gpus per worker must be a finite number >= 0, got {g}")
        _require(
            g < 1 or float(g).is_integer(),
            f"gpus per worker must be a fraction below 1 (workers share a GPU) or a whole number, got {g:g}",
        )
        _require(
            self.cpus_per_worker is None or self.cpus_per_worker >= 1,
            f"cpus per worker must be >= 1, got {self.cpus_per_worker}",
        )
        _require(
            self.collective in COLLECTIVES,
            f"unknown collective {self.collective!r}: use one of {', '.join(COLLECTIVES)}",
        )
        _require(
            self.collective != "nccl" or g >= 1,
            "--collective nccl needs a GPU of its own for every worker (--gpus-per-worker 1 or more): "
            "NCCL cannot run two replicas on one GPU; use --collective ring or auto",
        )
        _require(self.max_failures >= 0, f"max failures must be >= 0, got {self.max_failures}")
        _require(
            self.workers > 0 or (self.address is None and g == 0),
            "--address and --gpus-per-worker need --workers >= 1 (Ray training)",
        )

    @property
    def worker_cpus(self) -> int:
        """CPUs per worker: as given, else 1 for a CPU worker and ``CPUS_PER_GPU`` per GPU (at least 2)
        for a GPU worker: one core runs the Python input generator (length buckets, trimming,
        right-alignment), the others TensorFlow's host side (kernel launches, tf.data)."""
        if self.cpus_per_worker is not None:
            return self.cpus_per_worker
        return max(2, int(CPUS_PER_GPU * self.gpus_per_worker + 0.999)) if self.gpus_per_worker else 1

    @property
    def resolved_collective(self) -> str:
        """``auto``: NCCL when every replica has a GPU of its own, RING otherwise (CPU workers, or
        workers sharing a GPU: NCCL cannot put two ranks on one device)."""
        if self.collective != "auto":
            return self.collective
        return "nccl" if self.gpus_per_worker >= 1 else "ring"


@dataclass(frozen=True)
class JobConfig:
    """One training job (``toolkit train`` / ``toolkit run``): the configs of every stage of training,
    derived and checked together here, once.

    ``model`` defaults to the seed architecture for ``data``'s vocabulary size and review length (it
    must agree with them when given); a missing run name is fixed once, when training starts
    (``training.prepare.named``: ``imdb-lstm-<timestamp>``), so two equal configs are equal.
    :meth:`create` adds ``faithful``: the tutorial's model and input exactly."""

    data: DataConfig = field(default_factory=DataConfig)
    model: Optional[ModelConfig] = None
    train: TrainConfig = field(default_factory=TrainConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def __post_init__(self) -> None:
        model = self.model or ModelConfig(num_words=self.data.num_words, maxlen=self.data.maxlen)
        _require(
            (model.num_words, model.maxlen) == (self.data.num_words, self.data.maxlen),
            f"the model's num_words {model.num_words} and maxlen {model.maxlen} must be the data's "
            f"({self.data.num_words} and {self.data.maxlen})",
        )
        _require(
            model.mask_padding or not self.train.length_buckets,
            "length buckets need a model that masks its padding (ModelConfig.mask_padding); --faithful sets neither",
        )
        object.__setattr__(self, "model", model)

    @classmethod
    def create(
        cls,
        data: DataConfig,
        train: TrainConfig,
        cluster: Optional[ClusterConfig] = None,
        faithful: bool = False,
        dropout: float = ModelConfig.dropout,
    ) -> "JobConfig":
        """The job for these settings; ``faithful``: the tutorial's fixed-length model without masking,
        fed shuffled fixed-length batches (default: masked padding, length buckets); ``dropout``: the
        model's two dropout rates."""
        model = ModelConfig(num_words=data.num_words, maxlen=data.maxlen, mask_padding=not faithful, dropout=dropout)
        return cls(data, model, replace(train, length_buckets=not faithful), cluster or ClusterConfig())

    @property
    def run_dir(self) -> Path:
        """Where the run folder goes: ``<exports_dir>/<run_name>`` (once the run is named)."""
        _require(self.train.run_name is not None, "the run has no name yet: training.prepare.named fixes it")
        return Path(self.train.exports_dir) / str(self.train.run_name)
