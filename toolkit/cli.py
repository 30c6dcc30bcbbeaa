"""The command line: one parser, thin subcommands.

Each subcommand turns its flags into config dataclasses and calls one library function. TensorFlow is
imported only inside the commands that need it, so ``--help`` and bad-flag errors are instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Optional, Sequence

from . import __version__
from .config import ClusterConfig, DataConfig, ModelConfig, TrainConfig
from .errors import ToolkitError

PROG = "toolkit"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``toolkit train: error: ... (see --help)``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    d_data, d_train, d_cluster = DataConfig(), TrainConfig(), ClusterConfig()
    parser = _Parser(
        prog=PROG,
        description="Train, export and verify an LSTM sentiment classifier on IMDB reviews.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train the LSTM and write a run folder",
                       description="Train the seed LSTM on IMDB reviews and write exports/<run-name>/ "
                                   "(model.keras, vocab.json, config.json, metrics.json).")
    p.add_argument("--data", metavar="PATH",
                   help="aclImdb_v1.tar.gz, aclImdb_v1_train_test.tar.gz or an extracted aclImdb/ folder "
                        "(default: $TOOLKIT_DATA, then the cache folder, then download the official tarball)")
    p.add_argument("--source", choices=("aclimdb", "keras"), default=d_data.source,
                   help="'aclimdb': raw reviews, tokenised by toolkit.text (default); "
                        "'keras': keras.datasets.imdb's pre-tokenised imdb.npz from $KERAS_HOME/datasets")
    p.add_argument("--epochs", type=_int_at_least(1), default=d_train.epochs, help=f"passes over the training split (default {d_train.epochs})")
    p.add_argument("--batch-size", type=_int_at_least(1), default=d_train.batch_size,
                   help=f"global batch size, split evenly across replicas (default {d_train.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d_train.learning_rate, help=f"Adam learning rate (default {d_train.learning_rate})")
    p.add_argument("--clipnorm", type=float, default=d_train.clipnorm,
                   help=f"clip the gradients' global norm at this value, 0 turns it off (default {d_train.clipnorm}; not in the tutorial)")
    p.add_argument("--seed", type=int, default=d_train.seed, help=f"random seed for weights, shuffling and --limit (default {d_train.seed})")
    p.add_argument("--limit", type=_int_at_least(2), metavar="N",
                   help="use a class-balanced subset of N reviews from each split (smoke runs); default: all")
    p.add_argument("--maxlen", type=_int_at_least(1), default=d_data.maxlen,
                   help=f"tokens per review, longer reviews keep their end, shorter ones are pre-padded (default {d_data.maxlen})")
    p.add_argument("--num-words", type=_int_at_least(4), default=d_data.num_words,
                   help=f"vocabulary size including ids 0 pad, 1 start, 2 out-of-vocabulary (default {d_data.num_words})")
    p.add_argument("--workers", type=_int_at_least(0), default=d_cluster.workers,
                   help=f"Ray Train workers; 0 trains in this process without Ray (default {d_cluster.workers}: "
                        "measured fastest on a machine without GPUs)")
    p.add_argument("--gpus-per-worker", type=_int_at_least(0), default=d_cluster.gpus_per_worker, metavar="G",
                   help=f"GPUs per Ray worker; a worker replicates over its G GPUs (default {d_cluster.gpus_per_worker})")
    p.add_argument("--cpus-per-worker", type=_int_at_least(1), default=d_cluster.cpus_per_worker, metavar="C",
                   help=f"CPUs per Ray worker, also its TensorFlow thread count (default {d_cluster.cpus_per_worker})")
    p.add_argument("--address", metavar="ADDR",
                   help="join an existing Ray cluster: 'auto' (on a cluster node) or ray://HOST:10001; "
                        "default: start an embedded local Ray bound to 127.0.0.1")
    p.add_argument("--storage", metavar="PATH_OR_URI",
                   help="where Ray Train keeps checkpoints (a shared path or s3://, gs:// URI on multi-node "
                        "clusters); re-running with the same --storage and --run-name resumes (default EXPORTS_DIR/ray)")
    p.add_argument("--max-failures", type=_int_at_least(0), default=d_cluster.max_failures, metavar="K",
                   help=f"restart the workers from the last checkpoint up to K times after a failure (default {d_cluster.max_failures})")
    p.add_argument("--run-name", metavar="NAME", help="run folder name under --exports-dir (default imdb-lstm-<timestamp>)")
    p.add_argument("--exports-dir", metavar="DIR", default=d_train.exports_dir, help=f"where run folders go (default {d_train.exports_dir}/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="cache for the downloaded tarball and encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading when no local data is found")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run folder's model on the test split",
                       description="Load a run folder's model and report its loss and accuracy on the test split "
                                   "of the data it was trained on.")
    p.add_argument("run", metavar="RUN", help="a run folder written by 'toolkit train' (e.g. exports/imdb-lstm-...)")
    p.add_argument("--data", metavar="PATH", help="read the reviews from here instead of the path recorded in the run")
    p.add_argument("--batch-size", type=_int_at_least(1), default=d_train.eval_batch_size,
                   help=f"evaluation batch size (default {d_train.eval_batch_size})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)
    return parser


def configs_from_args(args: argparse.Namespace) -> tuple[DataConfig, ModelConfig, TrainConfig, ClusterConfig]:
    """The one place where train flags become configs."""
    data = DataConfig(path=args.data, source=args.source, num_words=args.num_words, maxlen=args.maxlen,
                      limit=args.limit, seed=args.seed, cache_dir=args.cache_dir, download=not args.no_download)
    model = ModelConfig(num_words=args.num_words, maxlen=args.maxlen)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        clipnorm=args.clipnorm, seed=args.seed, run_name=args.run_name, exports_dir=args.exports_dir, overwrite=args.overwrite)
    cluster = ClusterConfig(workers=args.workers, gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                            address=args.address, storage=args.storage, max_failures=args.max_failures)
    return data, model, train, cluster


def cmd_train(args: argparse.Namespace) -> int:
    data_cfg, model_cfg, train_cfg, cluster = configs_from_args(args)
    # Check the run folder and read the reviews before TensorFlow loads: bad input fails in a second.
    from .data import load_imdb
    from .rundir import check_writable, run_path

    train_cfg = replace(train_cfg, run_name=run_path(train_cfg.exports_dir, train_cfg.run_name).name)
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
        print(f"test accuracy {result['accuracy']:.4f}  loss {result['loss']:.4f}  ({result['reviews']:,} reviews, {result['seconds']:.1f} s)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ToolkitError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
