"""The CLI's argument types and the flag groups several subcommands share. Defaults and the defaults
quoted in help texts are read from the config dataclasses (``toolkit.config``), never written here."""

from __future__ import annotations

import argparse
import math
from typing import Optional

from toolkit.config import (
    COLLECTIVES,
    CPUS_PER_GPU,
    MAX_MAXLEN,
    MAX_NUM_WORDS,
    ROWS_PER_SHARD,
    SEARCHABLE,
    TRAIN_SETUPS,
    ClusterConfig,
    DataConfig,
    ModelConfig,
    Space,
    SweepConfig,
    Tolerances,
    TrainConfig,
    parse_space,
)
from toolkit.core.errors import ConfigError, one_line


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, exit 2: ``toolkit: error: ... (see 'toolkit train --help')``,
    the same prefix as every other error (argparse's own would be ``toolkit train: error:``), with the
    user's arguments escaped (:func:`one_line`) so that a newline in one cannot split the line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        tool = self.prog.split(" ")[0]  # "toolkit" for every subcommand's parser ("toolkit bench infer")
        self.exit(2, f"{tool}: error: {one_line(message)} (see '{self.prog} --help')\n")


class Section:
    """A group of flags that is also a table of a config file (``[train]``): ``add_argument`` as on a
    parser (the flags show under ``title`` in ``--help``), and the actions it added are kept, so that
    ``toolkit.cli.configfile`` can check a file's keys against them. ``prefix``: what a flag's name
    starts with that its key leaves out (``--tune-dropout`` is ``dropout`` in ``[tune]``)."""

    def __init__(self, parser: argparse.ArgumentParser, title: str, description: str = "", prefix: str = "") -> None:
        self.title, self.prefix = title, prefix
        self._group = parser.add_argument_group(title, description or None)
        self.actions: list[argparse.Action] = []
        sections = getattr(parser, "sections", None)
        if sections is None:
            sections = {}
            parser.sections = sections  # type: ignore[attr-defined]
        sections[title] = self

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = self._group.add_argument(*args, **kwargs)
        self.actions.append(action)
        return action

    def key(self, action: argparse.Action) -> str:
        """The config file's key of a flag: its long name without dashes and ``prefix``, ``_`` for ``-``."""
        name = max(action.option_strings, key=len).lstrip("-")
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix) :]
        return name.replace("-", "_")


def add_config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from this TOML file: tables [data], [train], [cluster] (and [tune] / [verify] "
        "where they apply), keys named like the flags (batch_size = 512); flags given on the command line "
        "override the file; every run folder holds its resolved config.toml",
    )


# --- argument types ---------------------------------------------------------------------------------
def int_at_least(minimum: int, maximum: Optional[int] = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
        return value

    parse.toml = int  # type: ignore[attr-defined]  # what a config file must hold (toolkit.cli.configfile)
    return parse


def float_in(low: float, high: float = math.inf, low_open: bool = False):
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            upper = f" and <= {high:g}" if math.isfinite(high) else ""
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}{upper}, got {text!r}")
        return value

    parse.toml = float  # type: ignore[attr-defined]
    return parse


def int_list(minimum: int = 1):
    """Whole numbers separated by commas (duplicates dropped, order kept)."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in str(text).split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
        if min(values) < minimum:
            raise argparse.ArgumentTypeError(f"values must be at least {minimum}, got {text!r}")
        return tuple(dict.fromkeys(values))

    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def float_list(text: str) -> tuple[float, ...]:
    """Positive numbers separated by commas."""
    return tuple(positive_float(v) for v in str(text).split(","))


def choice_list(choices: tuple[str, ...]):
    """Names from ``choices`` separated by commas (duplicates dropped, order kept)."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(v.strip() for v in str(text).split(",") if v.strip()))
        if not names or set(names) - set(choices):
            raise argparse.ArgumentTypeError(f"expected some of {', '.join(choices)}, got {text!r}")
        return names

    return parse


setup_list = choice_list(TRAIN_SETUPS)


def gpu_count(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs, got {text!r}") from None
    if not (0 <= value < math.inf) or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(
            f"must be 0, a fraction below 1 (workers share a GPU) or a whole number, got {text!r}"
        )
    return value


gpu_count.toml = float  # type: ignore[attr-defined]


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.2, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text!r}")
    return value


fraction.toml = float  # type: ignore[attr-defined]


def class_names(text: str) -> tuple[str, ...]:
    """Class names separated by commas: at least two, distinct, none empty."""
    names = tuple(n.strip() for n in str(text).split(","))
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected two or more distinct class names separated by commas, got {text!r}")
    return names


class_names.toml = list  # type: ignore[attr-defined]


def joined(values) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


# --- flag groups ------------------------------------------------------------------------------------
def add_data_flags(p: argparse.ArgumentParser) -> None:
    """Where the reviews come from and how they are encoded ('train', 'run')."""
    d = DataConfig()
    p.add_argument(
        "--data",
        metavar="PATH",
        help="your labelled text: .csv, .tsv, .jsonl/.json (JSON lines) or .parquet files (optionally .gz/.zst), "
        "a file, a folder of them or a quoted glob; or the IMDB reviews: aclImdb_v1.tar.gz, "
        "aclImdb_v1_train_test.tar.gz or an extracted aclImdb/ folder; or data written by 'toolkit prepare' "
        "(a path or URI such as s3://bucket/prepared: Ray workers stream it) (default: $TOOLKIT_DATA, then the "
        "cache folder, then download the official IMDB tarball)",
    )
    add_column_flags(p)
    p.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="F",
        help="tabular data without a test split: hold out this fraction of the rows, seeded and stratified by "
        "class (default 0.2)",
    )
    p.add_argument(
        "--validation-fraction",
        type=float_in(0, 0.99),
        default=d.validation_fraction,
        metavar="F",
        help="hold out this fraction of the training split for validation metrics after every epoch "
        "(never the test set; default: none, toolkit tune 0.1; 0: none, e.g. over a config file's value)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad row (empty text, missing or unknown label, too long, not UTF-8, a ragged "
        "CSV line) instead of skipping it and counting it in one summary line",
    )
    p.add_argument(
        "--source",
        choices=("aclimdb", "keras"),
        default=d.source,
        help="'aclimdb': raw reviews, tokenised by toolkit.edge.text (default); "
        "'keras': keras.datasets.imdb's pre-tokenised imdb.npz from $KERAS_HOME/datasets",
    )
    p.add_argument(
        "--limit",
        type=int_at_least(2),
        metavar="N",
        help="use a class-balanced subset of N reviews from each split (smoke runs); default: all",
    )
    add_encoding_flags(p)
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache for the downloaded tarball and encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)",
    )
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading when no local data is found")


def add_column_flags(p: argparse.ArgumentParser) -> None:
    """Which columns and splits of tabular files ('train', 'run', 'prepare')."""
    p.add_argument(
        "--text-column",
        metavar="NAME",
        help="tabular data: the column of texts (default: detected: text, review, sentence, content, ...)",
    )
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="tabular data: the column of labels, integers or strings (default: detected: label, sentiment, "
        "stars, class, category, target, ...)",
    )
    p.add_argument(
        "--split-column",
        metavar="NAME",
        help="tabular data: a column whose values 'train'/'test' split the rows (default: a column named split)",
    )
    p.add_argument(
        "--test-data",
        dest="test_path",
        metavar="PATH",
        help="tabular data: the test set's files (default: files named test* beside train*, else a split column, "
        "else --test-fraction of the rows)",
    )
    p.add_argument(
        "--labels",
        type=class_names,
        metavar="A,B,...",
        help="the class names in the model's order (default: the labels found, sorted; numerically when they "
        "are integers); a row with another label is skipped (an error with --strict)",
    )


def add_encoding_flags(p: argparse.ArgumentParser) -> None:
    """The vocabulary size and review length ('train', 'run', 'prepare')."""
    d = DataConfig()
    p.add_argument(
        "--maxlen",
        type=int_at_least(1, MAX_MAXLEN),
        default=d.maxlen,
        help=f"tokens per review, longer reviews keep their end, shorter ones are pre-padded (default {d.maxlen})",
    )
    p.add_argument(
        "--num-words",
        type=int_at_least(4, MAX_NUM_WORDS),
        default=d.num_words,
        help=f"vocabulary size including ids 0 pad, 1 start, 2 out-of-vocabulary (default {d.num_words})",
    )


def add_training_flags(p: argparse.ArgumentParser) -> None:
    """The optimisation and the run folder ('train', 'run')."""
    d = TrainConfig()
    p.add_argument(
        "--epochs", type=int_at_least(1), default=d.epochs, help=f"passes over the training split (default {d.epochs})"
    )
    p.add_argument(
        "--batch-size",
        type=int_at_least(1),
        default=d.batch_size,
        help=f"global batch size, split evenly across replicas (default {d.batch_size})",
    )
    p.add_argument(
        "--learning-rate",
        type=float_in(0, low_open=True),
        default=d.learning_rate,
        help=f"Adam learning rate, a finite number > 0 (default {d.learning_rate})",
    )
    p.add_argument(
        "--clipnorm",
        type=float_in(0),
        default=d.clipnorm,
        help="clip the gradients' global norm at this value, 0 turns it off "
        f"(default {d.clipnorm}; not in the tutorial)",
    )
    p.add_argument(
        "--dropout",
        type=float_in(0, 0.99),
        default=ModelConfig().dropout,
        metavar="P",
        help=f"the dropout rate after the embedding and after the LSTM, in [0, 1) (default {ModelConfig().dropout:g})",
    )
    p.add_argument(
        "--warmup-epochs",
        type=float_in(0),
        default=d.warmup_epochs,
        metavar="E",
        help="raise the learning rate linearly from near 0 to --learning-rate over the first E epochs, a "
        f"fraction is fine (default {d.warmup_epochs:g}: no warm-up; not in the tutorial)",
    )
    p.add_argument(
        "--faithful",
        action="store_true",
        help="the tutorial's model and input exactly: fixed --maxlen tokens, padding not masked, shuffled "
        "batches (default: padding masked, batches of similar length trimmed to their longest review, "
        "faster at the same accuracy; see the README's figures)",
    )
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=d.seed,
        help=f"random seed for weights, shuffling and --limit (default {d.seed})",
    )
    p.add_argument(
        "--steps-per-epoch",
        type=int_at_least(1),
        metavar="N",
        help="at most N batches per epoch (smoke runs and benchmarks; default: the whole training split)",
    )
    p.add_argument(
        "--run-name", metavar="NAME", help="run folder name under --exports-dir (default imdb-lstm-<timestamp>)"
    )
    p.add_argument(
        "--exports-dir", metavar="DIR", default=d.exports_dir, help=f"where run folders go (default {d.exports_dir}/)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder (toolkit tune: sweep folder and experiment) of the same name that "
        "the toolkit wrote; only on the command line, never from --config",
    )


def space_of(name: str):
    """A ``--tune-*`` flag's search space: ``LOW..HIGH`` or ``A,B,C`` (``config.parse_space``)."""

    def parse(text: str) -> Space:
        try:
            return parse_space(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.toml = "spec"  # type: ignore[attr-defined]  # a config file may hold a string, a number or a list
    return parse


SPACE_HELP = {
    "learning_rate": "Adam's learning rate: LOW..HIGH (log-uniform) or A,B,C",
    "batch_size": "the global batch size: choices A,B,C (such as 256,512)",
    "dropout": "the dropout rate: LOW..HIGH (uniform) or A,B,C",
    "clipnorm": "the gradient clipping norm: LOW..HIGH (uniform) or A,B,C (0: no clipping)",
    "warmup_epochs": "the learning-rate warm-up in epochs: LOW..HIGH (uniform) or A,B,C",
}


def add_tune_flags(p) -> None:
    """'tune': the search spaces and the sweep (a ``Section`` with the prefix ``tune-``)."""
    d = SweepConfig()
    for name in SEARCHABLE:
        p.add_argument(
            f"--tune-{name.replace('_', '-')}",
            dest=f"space_{name}",
            type=space_of(name),
            metavar="SPACE",
            help=f"search {SPACE_HELP[name]} (default: not searched, the --{name.replace('_', '-')} value; with no "
            "--tune-* flag at all the learning rate is searched over 0.0003..0.003)",
        )
    p.add_argument(
        "--trials", type=int_at_least(1), default=d.trials, help=f"how many trials to run (default {d.trials})"
    )
    p.add_argument(
        "--max-concurrent",
        type=int_at_least(1),
        default=d.max_concurrent,
        metavar="N",
        help=f"trials running at once (default {d.max_concurrent}); each takes the machine's CPUs / N, or "
        "--workers Ray Train workers",
    )
    p.add_argument(
        "--grace-epochs",
        type=int_at_least(1),
        default=d.grace_epochs,
        metavar="E",
        help=f"ASHA stops no trial before E epochs (default {d.grace_epochs})",
    )
    p.add_argument(
        "--reduction-factor",
        type=int_at_least(2),
        default=d.reduction_factor,
        metavar="K",
        help=f"ASHA keeps the best 1/K of the trials at each rung (default {d.reduction_factor})",
    )
    p.add_argument(
        "--trial-cpus",
        type=int_at_least(1),
        metavar="C",
        help="CPUs of each one-process trial (default: the machine's cores / --max-concurrent)",
    )
    p.add_argument(
        "--trial-gpus",
        type=gpu_count,
        default=d.trial_gpus,
        metavar="G",
        help="GPUs of each one-process trial (default 0; with --workers use --gpus-per-worker)",
    )
    p.add_argument(
        "--name",
        metavar="NAME",
        help="the sweep's name: its results go to EXPORTS_DIR/NAME, Ray Tune's experiment to STORAGE/NAME; "
        "the same command with the same --name again resumes it (default tune-<timestamp>)",
    )


def add_prepare_flags(p: argparse.ArgumentParser) -> None:
    """'prepare': what to read, where the shards go, how many CPUs."""
    p.add_argument(
        "--data",
        metavar="PATH_OR_URI",
        required=True,
        help="tabular files to prepare: a .parquet, .csv, .tsv or .jsonl/.json file (optionally .gz/.bz2/.zst) "
        "or a folder of them, a local path or a URI (s3://bucket/reviews/, gs://..., anything pyarrow opens); "
        "splits from test/ and validation/ folders or test*/validation* names, --test-data or a split column",
    )
    p.add_argument(
        "--out",
        metavar="PATH_OR_URI",
        required=True,
        help="where the encoded shards, vocab.json and manifest.json go (an empty or new folder or prefix; "
        "a re-run with the same inputs and settings reuses it)",
    )
    add_column_flags(p)
    add_encoding_flags(p)
    p.add_argument(
        "--rows-per-shard",
        type=int_at_least(1),
        default=ROWS_PER_SHARD,
        metavar="N",
        help=f"reviews per encoded shard and per Ray Data task (default {ROWS_PER_SHARD:,})",
    )
    p.add_argument(
        "--cpus",
        type=int_at_least(1),
        metavar="N",
        help="CPUs of the embedded local Ray (default: every core); ignored with --address",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="prepare on an existing Ray cluster: 'auto' (on a cluster node) or ray://HOST:10001 "
        "(default: an embedded local Ray bound to 127.0.0.1)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace data the toolkit prepared at --out from other inputs or settings",
    )


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    """Ray Train ('train', 'run')."""
    d = ClusterConfig()
    p.add_argument(
        "--workers",
        type=int_at_least(0),
        default=d.workers,
        help=f"Ray Train workers; 0 trains in this process without Ray (default {d.workers}: "
        "measured fastest on a machine without GPUs)",
    )
    add_gpus_per_worker(p)
    p.add_argument(
        "--cpus-per-worker",
        type=int_at_least(1),
        default=d.cpus_per_worker,
        metavar="C",
        help="CPUs per Ray worker, also its TensorFlow thread count (default: 1 without GPUs, "
        f"{CPUS_PER_GPU} per GPU and at least 2 with: one feeds the input, the rest run TensorFlow's "
        "host side)",
    )
    p.add_argument(
        "--collective",
        choices=COLLECTIVES,
        default=d.collective,
        help="all-reduce between Ray workers: nccl, ring, or auto = NCCL when every worker has a GPU of "
        f"its own, RING otherwise (CPU workers, workers sharing a GPU) (default {d.collective})",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="join an existing Ray cluster: 'auto' (on a cluster node) or ray://HOST:10001; "
        "default: start an embedded local Ray bound to 127.0.0.1",
    )
    p.add_argument(
        "--storage",
        metavar="PATH_OR_URI",
        help="where Ray Train keeps checkpoints (a shared path or s3://, gs:// URI on multi-node "
        "clusters); re-running with the same --storage and --run-name resumes (default EXPORTS_DIR/ray)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="with --workers: prepare the tabular --data with Ray Data into EXPORTS_DIR/prepared/ (reused when "
        "it was, with the same files and settings) and stream it to the workers, as 'toolkit prepare' then "
        "'train --data PREPARED' do",
    )
    p.add_argument(
        "--max-failures",
        type=int_at_least(0),
        default=d.max_failures,
        metavar="K",
        help=f"restart the workers from the last checkpoint up to K times after a failure (default {d.max_failures})",
    )


def add_gpus_per_worker(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gpus-per-worker",
        type=gpu_count,
        default=ClusterConfig().gpus_per_worker,
        metavar="G",
        help="GPUs per Ray worker: a whole number (the worker replicates over its G GPUs) or a fraction "
        "below 1 (workers share a GPU: 0.5 = two workers per GPU); workers that ask for none see "
        "no GPU (default 0)",
    )


def add_tolerance_flags(p: argparse.ArgumentParser) -> None:
    """verify's gates ('verify', 'run')."""
    d = Tolerances()
    p.add_argument(
        "--atol", type=float_in(0), default=d.atol, help=f"fp32: allowed |p_keras - p_onnx| (default {d.atol:g})"
    )
    p.add_argument(
        "--rtol",
        type=float_in(0),
        default=d.rtol,
        help=f"fp32: allowed extra difference relative to |p_keras| (default {d.rtol:g})",
    )
    p.add_argument(
        "--max-label-flips",
        type=int_at_least(0),
        default=d.max_label_flips,
        help=f"fp32: allowed number of reviews whose label differs (default {d.max_label_flips})",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=float_in(0, 100),
        default=d.max_accuracy_drop * 100,
        metavar="POINTS",
        help=f"quantised variants: allowed test-accuracy loss in points (default {d.max_accuracy_drop * 100:g})",
    )
    p.add_argument(
        "--min-label-agreement",
        type=float_in(0, 100),
        default=d.min_label_agreement * 100,
        metavar="PERCENT",
        help="quantised variants: share of reviews that must keep Keras' label "
        f"(default {d.min_label_agreement * 100:g})",
    )
