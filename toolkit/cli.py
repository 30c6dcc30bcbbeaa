"""The command line: one parser, thin subcommands.

Each subcommand turns its flags into config dataclasses and calls one library function. TensorFlow is
imported only inside the commands that need it, so ``--help`` and bad-flag errors are instant.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from dataclasses import replace
from typing import Optional, Sequence

from . import __version__
from .bench import DEFAULT_BATCHES
from .config import (
    COLLECTIVES,
    CPUS_PER_GPU,
    MAX_MAXLEN,
    MAX_NUM_WORDS,
    ClusterConfig,
    DataConfig,
    ModelConfig,
    Tolerances,
    TrainConfig,
)
from .errors import ToolkitError
from .export import DEFAULT_OPSET, OPSETS
from .files import describe

MAX_THREADS = 1024

PROG = "toolkit"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``toolkit train: error: ... (see --help)``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int, maximum: Optional[int] = None):
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

    return parse


def _float_in(low: float, high: float = float("inf"), low_open: bool = False):
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

    return parse


def _add_train_args(p: argparse.ArgumentParser) -> None:
    """The training flags, shared by 'train' and 'run'."""
    d_data, d_train, d_cluster = DataConfig(), TrainConfig(), ClusterConfig()
    p.add_argument(
        "--data",
        metavar="PATH",
        help="aclImdb_v1.tar.gz, aclImdb_v1_train_test.tar.gz or an extracted aclImdb/ folder "
        "(default: $TOOLKIT_DATA, then the cache folder, then download the official tarball)",
    )
    p.add_argument(
        "--source",
        choices=("aclimdb", "keras"),
        default=d_data.source,
        help="'aclimdb': raw reviews, tokenised by toolkit.text (default); "
        "'keras': keras.datasets.imdb's pre-tokenised imdb.npz from $KERAS_HOME/datasets",
    )
    p.add_argument(
        "--epochs",
        type=_int_at_least(1),
        default=d_train.epochs,
        help=f"passes over the training split (default {d_train.epochs})",
    )
    p.add_argument(
        "--batch-size",
        type=_int_at_least(1),
        default=d_train.batch_size,
        help=f"global batch size, split evenly across replicas (default {d_train.batch_size})",
    )
    p.add_argument(
        "--learning-rate",
        type=_float_in(0, low_open=True),
        default=d_train.learning_rate,
        help=f"Adam learning rate, a finite number > 0 (default {d_train.learning_rate})",
    )
    p.add_argument(
        "--clipnorm",
        type=_float_in(0),
        default=d_train.clipnorm,
        help=f"clip the gradients' global norm at this value, 0 turns it off (default {d_train.clipnorm}; not in the tutorial)",
    )
    p.add_argument(
        "--faithful",
        action="store_true",
        help="the tutorial's model and input exactly: fixed --maxlen tokens, padding not masked, shuffled "
        "batches (default: padding masked, batches of similar length trimmed to their longest review, "
        "about 2x faster with the same accuracy; see the README's figures)",
    )
    p.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=d_train.seed,
        help=f"random seed for weights, shuffling and --limit (default {d_train.seed})",
    )
    p.add_argument(
        "--limit",
        type=_int_at_least(2),
        metavar="N",
        help="use a class-balanced subset of N reviews from each split (smoke runs); default: all",
    )
    p.add_argument(
        "--maxlen",
        type=_int_at_least(1, MAX_MAXLEN),
        default=d_data.maxlen,
        help=f"tokens per review, longer reviews keep their end, shorter ones are pre-padded (default {d_data.maxlen})",
    )
    p.add_argument(
        "--num-words",
        type=_int_at_least(4, MAX_NUM_WORDS),
        default=d_data.num_words,
        help=f"vocabulary size including ids 0 pad, 1 start, 2 out-of-vocabulary (default {d_data.num_words})",
    )
    p.add_argument(
        "--workers",
        type=_int_at_least(0),
        default=d_cluster.workers,
        help=f"Ray Train workers; 0 trains in this process without Ray (default {d_cluster.workers}: "
        "measured fastest on a machine without GPUs)",
    )
    _add_gpus_per_worker(p)
    p.add_argument(
        "--cpus-per-worker",
        type=_int_at_least(1),
        default=d_cluster.cpus_per_worker,
        metavar="C",
        help=f"CPUs per Ray worker, also its TensorFlow thread count (default: 1 without GPUs, "
        f"{CPUS_PER_GPU} per GPU and at least 2 with: one feeds the input, the rest run TensorFlow's host side)",
    )
    p.add_argument(
        "--collective",
        choices=COLLECTIVES,
        default=d_cluster.collective,
        help="all-reduce between Ray workers: nccl, ring, or auto = NCCL when every worker has a GPU of its "
        "own, RING otherwise (CPU workers, workers sharing a GPU) (default auto)",
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
        "--max-failures",
        type=_int_at_least(0),
        default=d_cluster.max_failures,
        metavar="K",
        help=f"restart the workers from the last checkpoint up to K times after a failure (default {d_cluster.max_failures})",
    )
    p.add_argument(
        "--run-name", metavar="NAME", help="run folder name under --exports-dir (default imdb-lstm-<timestamp>)"
    )
    p.add_argument(
        "--exports-dir",
        metavar="DIR",
        default=d_train.exports_dir,
        help=f"where run folders go (default {d_train.exports_dir}/)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache for the downloaded tarball and encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)",
    )
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading when no local data is found")


def _gpu_count(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs, got {text!r}") from None
    if not (0 <= value < float("inf")) or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(
            f"must be 0, a fraction below 1 (workers share a GPU) or a whole number, got {text!r}"
        )
    return value


def _add_gpus_per_worker(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gpus-per-worker",
        type=_gpu_count,
        default=ClusterConfig().gpus_per_worker,
        metavar="G",
        help="GPUs per Ray worker: a whole number (the worker replicates over its G GPUs) or a fraction "
        "below 1 (workers share a GPU: 0.5 = two workers per GPU); workers that ask for none see "
        "no GPU (default 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    d_train = TrainConfig()
    parser = _Parser(
        prog=PROG,
        description="Train, export and verify an LSTM sentiment classifier on IMDB reviews.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, help="what to do")
    sub.required = True

    p = sub.add_parser(
        "train",
        help="train the LSTM and write a run folder",
        description="Train the seed LSTM on IMDB reviews and write exports/<run-name>/ "
        "(model.keras, vocab.json, config.json, metrics.json).",
    )
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a run folder's model on the test split",
        description="Load a run folder's model and report its loss and accuracy on the test split "
        "of the data it was trained on.",
    )
    p.add_argument("run", metavar="RUN", help="a run folder written by 'toolkit train' (e.g. exports/imdb-lstm-...)")
    p.add_argument("--data", metavar="PATH", help="read the reviews from here instead of the path recorded in the run")
    p.add_argument(
        "--batch-size",
        type=_int_at_least(1),
        default=d_train.eval_batch_size,
        help=f"evaluation batch size (default {d_train.eval_batch_size})",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export",
        help="export a run's model to ONNX (plus quantised variants)",
        description="Convert RUN/model.keras to ONNX with tf2onnx (traced on the CPU) and write an export "
        "folder: model.onnx, vocab.json, README.md (model card), model.int8.onnx with --quantize int8.",
    )
    p.add_argument("run", metavar="RUN", help="a run folder written by 'toolkit train'")
    p.add_argument("--out", metavar="DIR", help="export folder (default RUN/onnx); must not exist, unless --overwrite")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export folder written by toolkit (any other existing path is refused)",
    )
    p.add_argument(
        "--opset",
        type=_int_at_least(OPSETS.start, OPSETS.stop - 1),
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {OPSETS.start} to {OPSETS.stop - 1} (default {DEFAULT_OPSET})",
    )
    p.add_argument(
        "--quantize",
        action="append",
        choices=("int8",),
        default=[],
        help="also write a quantised variant: int8 (onnxruntime dynamic quantisation); repeatable",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "verify",
        help="check that ONNX predicts like Keras on every review of a split",
        description="Run the Keras model and onnxruntime over the whole split, compare probabilities, labels "
        "and accuracy, write parity.json, parity.md and parity.png into EXPORT. Exit 1 when a "
        "tolerance is violated.",
    )
    _add_verify_args(p)
    p.add_argument("export", metavar="EXPORT", help="an export folder written by 'toolkit export'")
    p.add_argument(
        "--split", choices=("test", "train"), default="test", help="which split to compare on (default test)"
    )
    p.add_argument("--data", metavar="PATH", help="read the reviews from here instead of the path recorded in the run")
    p.add_argument(
        "--run",
        metavar="RUN",
        help="the run folder the export was made from (default: the path the export records); its "
        "model.keras must have the checksum the export records either way",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "predict",
        help="classify raw review text with an ONNX export (no TensorFlow)",
        description="Classify reviews given as arguments, in --file (.txt one per line, .jsonl, .csv) or on "
        "stdin. Uses only onnxruntime and NumPy.",
    )
    p.add_argument("export", metavar="EXPORT", help="an export folder written by 'toolkit export'")
    p.add_argument("texts", metavar="TEXT", nargs="*", help="reviews to classify")
    p.add_argument(
        "--file", metavar="FILE", help="read reviews from FILE: .txt (one per line), .jsonl or .csv ('-' for stdin)"
    )
    p.add_argument(
        "--variant",
        choices=("auto", "fp32", "int8", "text", "text-int8"),
        default="auto",
        help="which model of the export to use: text / text-int8 tokenise inside the graph, fp32 / int8 take "
        "token ids from toolkit.text (default auto: text when the export has it, else fp32)",
    )
    p.add_argument(
        "--threads",
        type=_int_at_least(0, MAX_THREADS),
        default=0,
        metavar="N",
        help="onnxruntime intra-op threads; 0: one per core (default; fastest for batches), 1: lowest latency "
        "for a single review on a small CPU (see the README's inference figures)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array of {label, probability}")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "bench",
        help="measure speed (figures written to a JSON file)",
        description="Benchmarks. Each backend runs in its own process; figures are medians of the repeats.",
    )
    bench = p.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=_Parser, help="what to measure")
    bench.required = True
    p = bench.add_parser(
        "infer",
        help="Keras vs onnxruntime fp32 / int8 on real test reviews",
        description="Reviews per second, latency p50/p99 per batch, peak memory and model size of Keras, "
        "onnxruntime fp32 and int8 (when exported) at each batch size, with ratios to Keras.",
    )
    p.add_argument(
        "export", metavar="EXPORT", help="an export folder written by 'toolkit export' (with --quantize int8 for int8)"
    )
    p.add_argument(
        "--batch-sizes",
        type=_int_list,
        default=",".join(map(str, DEFAULT_BATCHES)),
        metavar="B1,B2,...",
        help="batch sizes to measure (default 1,64,256)",
    )
    p.add_argument(
        "--reviews", type=_int_at_least(1), default=1024, help="real test reviews to run through (default 1024)"
    )
    p.add_argument(
        "--repeats",
        type=_int_at_least(1),
        default=3,
        help="passes per setting; the median rate is reported (default 3)",
    )
    p.add_argument("--max-batches", type=_int_at_least(1), default=200, help="batches per pass at most (default 200)")
    p.add_argument(
        "--threads",
        type=_int_list_from(0),
        default="0",
        metavar="T1,T2,...",
        help="onnxruntime intra-op threads to measure, 0 = onnxruntime's default of one per core (default 0)",
    )
    p.add_argument(
        "--litert",
        action="store_true",
        help="also measure LiteRT: the same weights through TFLiteConverter (one model per batch size) "
        "and the ai-edge-litert interpreter (pip install -e '.[litert]')",
    )
    p.add_argument(
        "--out", metavar="FILE", default="bench-infer.json", help="JSON file for the figures (default bench-infer.json)"
    )
    p.set_defaults(func=cmd_bench_infer)
    d_data = DataConfig()
    p = bench.add_parser(
        "train",
        help="training reviews/s: tutorial-faithful vs fast, 1 process vs Ray workers",
        description="Train each setup ('faithful': fixed 500 tokens, no masking; 'fast': masked padding, "
        "length buckets) in one process and on Ray workers over the same real training reviews: "
        "one warm-up epoch, then the median of --repeats epochs, with ratios to the faithful "
        "single-process figure.",
    )
    p.add_argument(
        "--data",
        metavar="PATH",
        help="the reviews, as for 'toolkit train' (default: $TOOLKIT_DATA, the cache, a download)",
    )
    p.add_argument(
        "--steps",
        type=_int_at_least(1),
        default=40,
        metavar="N",
        help="batches per timed epoch; N x batch-size training reviews are used (default 40)",
    )
    p.add_argument(
        "--batch-size", type=_int_at_least(1), default=TrainConfig().batch_size, help="global batch size (default 64)"
    )
    p.add_argument(
        "--repeats",
        type=_int_at_least(1),
        default=3,
        help="timed epochs per setting; the median is reported (default 3)",
    )
    p.add_argument(
        "--workers",
        type=_int_list_from(0),
        default="0,1,2",
        metavar="W1,W2,...",
        help="0 = one process without Ray, N = N Ray workers sharing the machine's CPUs (default 0,1,2)",
    )
    _add_gpus_per_worker(p)
    p.add_argument(
        "--setups",
        type=_name_list,
        default="faithful,fast",
        metavar="S1,S2",
        help="setups to measure: faithful, fast (default both)",
    )
    p.add_argument(
        "--maxlen", type=_int_at_least(1), default=d_data.maxlen, help=f"tokens per review (default {d_data.maxlen})"
    )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="cache for the encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)"
    )
    p.add_argument(
        "--out", metavar="FILE", default="bench-train.json", help="JSON file for the figures (default bench-train.json)"
    )
    p.set_defaults(func=cmd_bench_train)

    p = bench.add_parser(
        "scaling",
        help="estimate seconds per epoch on 1-64 GPUs from a measured step time",
        description="Measure the compute time of one training step here (the default setup, one process, "
        "real reviews; or take --step-ms), then model data-parallel training on N GPUs (8 per "
        "node) with a fixed per-GPU batch: each step computes, then ring-all-reduces the "
        "0.85 MB gradient. Prints seconds per epoch and scaling efficiency per inter-node "
        "bandwidth. A model, not a measurement of a cluster: see the README for its assumptions.",
    )
    p.add_argument(
        "--data",
        metavar="PATH",
        help="the reviews, as for 'toolkit train' (default: $TOOLKIT_DATA, the cache, a download)",
    )
    p.add_argument(
        "--step-ms", type=_positive_float, metavar="MS", help="use this compute time per step instead of measuring one"
    )
    p.add_argument(
        "--steps",
        type=_int_at_least(1),
        default=20,
        metavar="N",
        help="batches per timed epoch when measuring (default 20)",
    )
    p.add_argument(
        "--repeats",
        type=_int_at_least(1),
        default=3,
        help="timed epochs when measuring; the median is used (default 3)",
    )
    p.add_argument(
        "--per-gpu-batch",
        type=_int_at_least(1),
        default=TrainConfig().batch_size,
        help="reviews per GPU per step; the global batch is GPUs x this (default 64)",
    )
    p.add_argument(
        "--gpus",
        type=_int_list,
        default="1,2,4,8,16,32,64",
        metavar="N1,N2,...",
        help="GPU counts to model (default 1,2,4,8,16,32,64)",
    )
    p.add_argument(
        "--gbps",
        type=_float_list,
        default="25,100",
        metavar="B1,B2",
        help="inter-node bandwidths in Gb/s (default 25,100)",
    )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="cache for the encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)"
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        default="bench-scaling.json",
        help="JSON file for the figures (default bench-scaling.json)",
    )
    p.set_defaults(func=cmd_bench_scaling)

    p = sub.add_parser(
        "run",
        help="the whole job: train, export, verify, summary",
        description="Train (same flags as 'toolkit train'), export to ONNX with an int8 variant, verify "
        "parity on the test split, and print a summary. Exit 1 if parity fails.",
    )
    _add_train_args(p)
    _add_verify_args(p)
    p.set_defaults(func=cmd_run)
    return parser


def _int_list_from(minimum: int):
    def parse(text) -> tuple[int, ...]:
        if isinstance(text, tuple):
            return text
        try:
            values = tuple(int(v) for v in str(text).split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
        if min(values) < minimum:
            raise argparse.ArgumentTypeError(f"values must be at least {minimum}, got {text!r}")
        return tuple(dict.fromkeys(values))

    return parse


_int_list = _int_list_from(1)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _float_list(text) -> tuple[float, ...]:
    if isinstance(text, tuple):
        return text
    return tuple(_positive_float(v) for v in str(text).split(","))


def _name_list(text) -> tuple[str, ...]:
    if isinstance(text, tuple):
        return text
    from .bench import TRAIN_SETUPS

    names = tuple(dict.fromkeys(v.strip() for v in str(text).split(",") if v.strip()))
    if not names or set(names) - set(TRAIN_SETUPS):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(TRAIN_SETUPS)}, got {text!r}")
    return names


def _add_verify_args(p: argparse.ArgumentParser) -> None:
    d = Tolerances()
    p.add_argument(
        "--atol", type=_float_in(0), default=d.atol, help=f"fp32: allowed |p_keras - p_onnx| (default {d.atol:g})"
    )
    p.add_argument(
        "--rtol",
        type=_float_in(0),
        default=d.rtol,
        help=f"fp32: allowed extra difference relative to |p_keras| (default {d.rtol:g})",
    )
    p.add_argument(
        "--max-label-flips",
        type=_int_at_least(0),
        default=d.max_label_flips,
        help=f"fp32: allowed number of reviews whose label differs (default {d.max_label_flips})",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=_float_in(0, 100),
        default=d.max_accuracy_drop * 100,
        metavar="POINTS",
        help=f"quantised variants: allowed test-accuracy loss in points (default {d.max_accuracy_drop * 100:g})",
    )
    p.add_argument(
        "--min-label-agreement",
        type=_float_in(0, 100),
        default=d.min_label_agreement * 100,
        metavar="PERCENT",
        help=f"quantised variants: share of reviews that must keep Keras' label (default {d.min_label_agreement * 100:g})",
    )


def _tolerances(args: argparse.Namespace) -> "Tolerances":
    return Tolerances(
        atol=args.atol,
        rtol=args.rtol,
        max_label_flips=args.max_label_flips,
        max_accuracy_drop=args.max_accuracy_drop / 100,
        min_label_agreement=args.min_label_agreement / 100,
    )


def configs_from_args(args: argparse.Namespace) -> tuple[DataConfig, ModelConfig, TrainConfig, ClusterConfig]:
    """The one place where train flags become configs."""
    data = DataConfig(
        path=args.data,
        source=args.source,
        num_words=args.num_words,
        maxlen=args.maxlen,
        limit=args.limit,
        seed=args.seed,
        cache_dir=args.cache_dir,
        download=not args.no_download,
    )
    model = ModelConfig(num_words=args.num_words, maxlen=args.maxlen, mask_padding=not args.faithful)
    train = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        clipnorm=args.clipnorm,
        seed=args.seed,
        run_name=args.run_name,
        exports_dir=args.exports_dir,
        overwrite=args.overwrite,
        length_buckets=not args.faithful,
    )
    cluster = ClusterConfig(
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        collective=args.collective,
        address=args.address,
        storage=args.storage,
        max_failures=args.max_failures,
    )
    return data, model, train, cluster


def cmd_train(args: argparse.Namespace) -> int:
    data_cfg, model_cfg, train_cfg, cluster = configs_from_args(args)
    # Check the run folder and read the reviews before TensorFlow loads: bad input fails in a second.
    from .data import load_imdb
    from .rundir import check_writable, run_path

    train_cfg = replace(train_cfg, run_name=run_path(train_cfg.exports_dir, train_cfg.run_name).name)
    args.run_name = train_cfg.run_name  # 'toolkit run' exports this same folder
    check_writable(run_path(train_cfg.exports_dir, train_cfg.run_name), train_cfg.overwrite)
    data = load_imdb(data_cfg)
    if cluster.workers:
        from .distributed import train_on_ray

        result = train_on_ray(data_cfg, model_cfg, train_cfg, cluster, data=data)
    else:
        from .train import train

        result = train(data_cfg, model_cfg, train_cfg, data=data)
    test = result.metrics["test"]
    print(f"{result.run_dir}\ttest accuracy {test['accuracy']:.4f}\ttest loss {test['loss']:.4f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .rundir import read_run

    read_run(args.run)  # a missing or incomplete run folder fails before TensorFlow loads
    from .train import evaluate_run

    result = evaluate_run(args.run, data_path=args.data, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"test accuracy {result['accuracy']:.4f}  loss {result['loss']:.4f}  ({result['reviews']:,} reviews, {result['seconds']:.1f} s)"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run
    from .rundir import read_run

    read_run(args.run)  # a missing or incomplete run folder fails before TensorFlow loads
    result = export_run(args.run, out=args.out, opset=args.opset, quantize=args.quantize, overwrite=args.overwrite)
    for variant, name in result.files.items():
        print(f"{result.path / name}\t{variant}\t{result.sizes[variant] / 1e6:.2f} MB")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .export import open_export

    open_export(args.export)  # a missing, truncated or mismatched export fails before TensorFlow loads
    from .verify import verify_export

    report = verify_export(args.export, split=args.split, tol=_tolerances(args), data_path=args.data, run_dir=args.run)
    print(json.dumps(report, indent=2) if args.json else parity_table(report))
    return 0 if report["passed"] else 1


def parity_table(report: dict) -> str:
    lines = [
        f"parity on {report['reviews']:,} {report['split']} reviews: {'PASS' if report['passed'] else 'FAIL'}",
        f"{'variant':<9} {'size':>8} {'max|dp|':>10} {'mean|dp|':>10} {'p99|dp|':>10} {'labels equal':>20} "
        f"{'keras acc':>9} {'onnx acc':>9}  result",
    ]
    for v, r in report["variants"].items():
        lines.append(
            f"{v:<9} {r['size_bytes'] / 1e6:>6.2f}MB {r['max_abs_diff']:>10.2e} {r['mean_abs_diff']:>10.2e} "
            f"{r['p99_abs_diff']:>10.2e} {r['labels_equal']:>10,}/{r['reviews']:<9,} {r['keras_accuracy']:>9.4f} "
            f"{r['onnx_accuracy']:>9.4f}  {'pass' if r['passed'] else 'FAIL: ' + r['failure']}"
        )
        for f in r["flipped"][:20]:
            lines.append(f"  flipped {f['id']}: label {f['label']}, keras {f['keras']:.6f}, onnx {f['onnx']:.6f}")
    if report.get("text_preprocessing"):
        lines.append(text_preprocessing_line(report["text_preprocessing"]))
    lines.append(f"reports: {report['export']}/parity.json, parity.md, parity.png")
    return "\n".join(lines)


def text_preprocessing_line(t: dict) -> str:
    h = t["hard_strings"]
    return (
        f"text preprocessing in the graph: ids equal to toolkit.text on {t['equal']:,} of {t['reviews']:,} reviews "
        f"and {h['equal']} of {h['total']} hard strings: {'pass' if t['passed'] else 'FAIL'}"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import Classifier, PredictError, format_table, read_lines, read_reviews_file

    if args.file and args.texts:
        raise PredictError("give reviews as arguments or with --file, not both")
    if args.file and args.file != "-":
        texts = read_reviews_file(args.file)
    elif args.texts:
        texts = args.texts
    elif args.file == "-" or not sys.stdin.isatty():
        try:
            texts = read_lines(sys.stdin.buffer.read().decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise PredictError("stdin is not UTF-8 text") from None
        if not texts:
            raise PredictError("no reviews on stdin")
    else:
        raise PredictError("no reviews: pass them as arguments, with --file FILE, or on stdin")
    predictions = Classifier.load(args.export, variant=args.variant, threads=args.threads).predict(texts)
    if args.json:
        print(json.dumps([{"label": p.label, "probability": round(p.probability, 6)} for p in predictions]))
    else:
        print(format_table(texts, predictions))
    return 0


def cmd_bench_infer(args: argparse.Namespace) -> int:
    from .bench import bench_infer, infer_table

    report = bench_infer(
        args.export,
        batch_sizes=args.batch_sizes,
        reviews=args.reviews,
        repeats=args.repeats,
        max_batches=args.max_batches,
        threads=args.threads,
        out=args.out,
        litert=args.litert,
    )
    print(infer_table(report))
    print(f"figures: {args.out}")
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from .bench import bench_train, train_table

    data_cfg = DataConfig(path=args.data, maxlen=args.maxlen, cache_dir=args.cache_dir)
    report = bench_train(
        data_cfg,
        steps=args.steps,
        repeats=args.repeats,
        workers=args.workers,
        setups=args.setups,
        batch_size=args.batch_size,
        out=args.out,
        gpus_per_worker=args.gpus_per_worker,
    )
    print(train_table(report))
    print(f"figures: {args.out}")
    return 0


def cmd_bench_scaling(args: argparse.Namespace) -> int:
    from .bench import bench_scaling, scaling_table_text

    data_cfg = None if args.step_ms is not None else DataConfig(path=args.data, cache_dir=args.cache_dir)
    report = bench_scaling(
        data_cfg,
        step_ms=args.step_ms,
        steps=args.steps,
        repeats=args.repeats,
        per_gpu_batch=args.per_gpu_batch,
        gpus=args.gpus,
        gbps=args.gbps,
        out=args.out,
    )
    print(scaling_table_text(report))
    print(f"figures: {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    tolerances = _tolerances(args)  # every flag checked before hours of training
    cmd_train(args)
    from .export import export_run
    from .rundir import run_path
    from .verify import verify_export

    run_dir = run_path(args.exports_dir, args.run_name)
    exported = export_run(run_dir, quantize=["int8"])
    report = verify_export(exported.path, tol=tolerances)
    print(run_summary(run_dir, exported.path, report))
    return 0 if report["passed"] else 1


def run_summary(run_dir, export_dir, report: dict) -> str:
    from .rundir import read_run

    metrics = read_run(run_dir).metrics
    seconds = sorted(e["seconds"] for e in metrics["epochs"])
    fp32 = report["variants"]["fp32"]
    rows = [
        ("test accuracy (Keras)", f"{metrics['test']['accuracy']:.4f} on {metrics['test']['reviews']:,} reviews"),
        (
            "seconds per epoch (median)",
            f"{seconds[len(seconds) // 2]:.1f} s over {len(seconds)} epoch(s), {metrics['mode']}",
        ),
        (
            "parity fp32",
            f"{fp32['labels_equal']:,}/{fp32['reviews']:,} labels equal, max |dp| {fp32['max_abs_diff']:.2e}",
        ),
    ]
    for v, r in report["variants"].items():
        rows.append(
            (
                f"{v} model",
                f"{r['size_bytes'] / 1e6:.2f} MB, accuracy {r['onnx_accuracy']:.4f}, {'pass' if r['passed'] else 'FAIL'}",
            )
        )
    if report.get("text_preprocessing"):
        rows.append(("text preprocessing", text_preprocessing_line(report["text_preprocessing"]).split(": ", 1)[1]))
    rows += [
        ("run folder", str(run_dir)),
        ("export folder", str(export_dir)),
        ("parity", "PASS" if report["passed"] else "FAIL"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # 'predict EXPORT --json "text"': argparse leaves reviews after an option unparsed
        if args.command == "predict" and not any(e.startswith("-") for e in extra):
            args.texts += extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # SIGTERM cleans up (staging folders, Ray) as Ctrl-C does; both are remembered, because an
    # interrupt that lands inside a C extension's import (onnxruntime) surfaces as an ImportError.
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    _received.clear()
    try:
        return args.func(args)
    except ToolkitError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permission denied, name too long: the environment, not a bug
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{PROG}: error: {describe(exc)}{where}", file=sys.stderr)
        return 1
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        if _received:  # the signal interrupted a module's initialisation
            print(f"{PROG}: {'terminated' if signal.SIGTERM in _received else 'interrupted'}", file=sys.stderr)
            return 143 if signal.SIGTERM in _received else 130
        print(
            f"{PROG}: error: cannot import {exc.name or 'a module'} ({exc}): reinstall the toolkit (pip install -e .)",
            file=sys.stderr,
        )
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` (staging folders, Ray) runs."""


_received: set = set()


def _on_signal(signum, frame) -> None:
    _received.add(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


if __name__ == "__main__":
    sys.exit(main())
