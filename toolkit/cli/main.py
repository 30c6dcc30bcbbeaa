"""The command line: one parser (built here from one small function per subcommand), thin subcommands
(``toolkit.cli.commands``, ``toolkit.cli.bench``), one-line errors.

A ``ToolkitError`` (and an ``OSError``: disk full, permission denied) is printed as one line with exit
status 1; Ctrl-C and SIGTERM clean up (staging folders, Ray) and exit 130 / 143.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from toolkit import __version__
from toolkit.cli.bench import add_bench_parser
from toolkit.cli.commands import (
    cmd_evaluate,
    cmd_export,
    cmd_predict,
    cmd_prepare,
    cmd_run,
    cmd_train,
    cmd_tune,
    cmd_verify,
    cmd_web,
)
from toolkit.cli.configfile import apply_config
from toolkit.cli.flags import (
    Parser,
    Section,
    add_cluster_flags,
    add_config_flag,
    add_data_flags,
    add_prepare_flags,
    add_tolerance_flags,
    add_training_flags,
    add_tune_flags,
    int_at_least,
)
from toolkit.config import (
    DEFAULT_OPSET,
    MAX_THREADS,
    OPSETS,
    PREDICT_VARIANTS,
    QUANTIZATIONS,
    SPLITS,
    TrainConfig,
    VerifyConfig,
    WebConfig,
)
from toolkit.core.errors import ToolkitError, one_line
from toolkit.core.files import describe

PROG = "toolkit"
EXPORT_HELP = "an export folder written by 'toolkit export'"
DATA_HELP = "read the reviews from here instead of the path recorded in the run"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Train, export and verify an LSTM sentiment classifier on IMDB reviews.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, help="what to do")
    sub.required = True
    commands = (_add_prepare, _add_train, _add_evaluate, _add_export, _add_verify, _add_predict, _add_web)
    commands += (add_bench_parser,)
    for add in (*commands, _add_run, _add_tune):
        add(sub)
    parser.commands = sub.choices  # type: ignore[attr-defined]  # --config sets a subcommand's defaults
    return parser


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="encode tabular data with Ray Data into shards that Ray workers stream",
        description="Read tabular reviews (local or object storage), build the vocabulary and encode every "
        "review in parallel with Ray Data, and write encoded parquet shards, vocab.json and manifest.json "
        "(last) to --out. 'toolkit train --workers N --data OUT' streams them.",
    )
    add_prepare_flags(p)
    p.set_defaults(func=cmd_prepare)


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the LSTM and write a run folder",
        description="Train the seed LSTM on labelled text (your files, or the IMDB reviews) and write "
        "exports/<run-name>/ (model.keras, vocab.json, config.json, metrics.json).",
    )
    _add_job_flags(p)
    p.set_defaults(func=cmd_train)


def _add_job_flags(p) -> None:
    add_config_flag(p)
    add_data_flags(Section(p, "data", "where the reviews come from and how they are encoded ([data] in --config)"))
    add_training_flags(Section(p, "train", "the model, the optimisation and the run folder ([train] in --config)"))
    add_cluster_flags(Section(p, "cluster", "Ray Train ([cluster] in --config)"))


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run folder's model on the test split",
        description="Load a run folder's model and report its loss and accuracy on the test split "
        "of the data it was trained on.",
    )
    p.add_argument("run", metavar="RUN", help="a run folder written by 'toolkit train' (e.g. exports/imdb-lstm-...)")
    p.add_argument("--data", metavar="PATH", help=DATA_HELP)
    default = TrainConfig().eval_batch_size
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=default, help=f"evaluation batch size (default {default})"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)


def _add_export(sub) -> None:
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
        type=int_at_least(OPSETS.start, OPSETS.stop - 1),
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {OPSETS.start} to {OPSETS.stop - 1} (default {DEFAULT_OPSET})",
    )
    p.add_argument(
        "--quantize",
        action="append",
        choices=QUANTIZATIONS,
        default=[],
        help="also write a quantised variant: int8 (onnxruntime dynamic quantisation); repeatable",
    )
    p.set_defaults(func=cmd_export)


def _add_verify(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check that ONNX predicts like Keras on every review of a split",
        description="Run the Keras model and onnxruntime over the whole split, compare probabilities, labels "
        "and accuracy, write parity.json, parity.md, parity.png and confusion.png into EXPORT. Exit 1 when a "
        "tolerance is violated.",
    )
    add_tolerance_flags(p)
    p.add_argument("export", metavar="EXPORT", help=EXPORT_HELP)
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=VerifyConfig.split,
        help=f"which split to compare on (default {VerifyConfig.split})",
    )
    p.add_argument("--data", metavar="PATH", help=DATA_HELP)
    p.add_argument(
        "--run",
        metavar="RUN",
        help="the run folder the export was made from (default: the path the export records); its "
        "model.keras must have the checksum the export records either way",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify raw review text with an ONNX export (no TensorFlow)",
        description="Classify reviews given as arguments, in --file (.txt one per line, .jsonl, .csv) or on "
        "stdin. Uses only onnxruntime and NumPy.",
    )
    p.add_argument("export", metavar="EXPORT", help=EXPORT_HELP)
    p.add_argument("texts", metavar="TEXT", nargs="*", help="reviews to classify")
    p.add_argument(
        "--file", metavar="FILE", help="read reviews from FILE: .txt (one per line), .jsonl or .csv ('-' for stdin)"
    )
    p.add_argument(
        "--variant",
        choices=PREDICT_VARIANTS,
        default="auto",
        help="which model of the export to use: text / text-int8 tokenise inside the graph, fp32 / int8 "
        "take token ids from toolkit.edge.text (default auto: text when the export has it, else fp32)",
    )
    p.add_argument(
        "--threads",
        type=int_at_least(0, MAX_THREADS),
        default=0,
        metavar="N",
        help="onnxruntime intra-op threads; 0: one per core (default; fastest for batches), 1: lowest "
        "latency for a single review on a small CPU (see the README's inference figures)",
    )
    p.add_argument(
        "--top-k",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="also show the N most probable classes of each review and their probabilities (a 'top' "
        "column; --json: a 'top' list); more than the model's classes shows them all, and a two-class "
        "model shows both for any N > 1 (default 1: label and probability only)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array of {label, probability} (two classes: the probability of the second label; "
        "more classes: of the predicted one), with 'top': [{label, probability}, ...] when --top-k > 1",
    )
    p.set_defaults(func=cmd_predict)


def _add_web(sub) -> None:
    d = WebConfig()
    p = sub.add_parser(
        "web",
        help="serve a web page that classifies reviews in the browser (onnxruntime-web)",
        description="Check EXPORT, then serve the page of toolkit/clients/web, the export's models and "
        "onnxruntime-web's WASM files on one origin. The page classifies as you type, in the browser: the "
        "text never leaves it, and once loaded it works offline. onnxruntime-web comes from --ort, or is "
        "installed with npm into the cache on first use. Ctrl-C stops.",
    )
    p.add_argument("export", metavar="EXPORT", help=EXPORT_HELP)
    p.add_argument(
        "--host",
        default=d.host,
        help=f"address to listen on (default {d.host}, this machine only; any other is served with a warning)",
    )
    p.add_argument(
        "--port", type=int_at_least(0, 65535), default=d.port, help=f"port (default {d.port}; 0: any free port)"
    )
    p.add_argument(
        "--isolate",
        action="store_true",
        help="send COOP/COEP headers (a cross-origin isolated page): needed for multi-threaded WASM "
        "(the page's ?threads=N)",
    )
    p.add_argument(
        "--ort",
        metavar="DIR",
        dest="ort_dir",
        help="onnxruntime-web's files: the dist folder of 'npm install onnxruntime-web@VERSION', or the "
        "folder holding its node_modules (default: the cache, installed with npm on first use)",
    )
    p.set_defaults(func=cmd_web)


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="the whole job: train, export, verify, summary",
        description="Train (same flags as 'toolkit train'), export to ONNX with an int8 variant, verify "
        "parity on the test split, and print a summary. Exit 1 if parity fails.",
    )
    _add_job_flags(p)
    add_tolerance_flags(Section(p, "verify", "the parity gates ([verify] in --config)"))
    p.set_defaults(func=cmd_run)


def _add_tune(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="sweep the training settings with Ray Tune (ASHA on validation accuracy)",
        description="Search learning rate, global batch size, dropout, clipnorm and warm-up epochs with Ray "
        "Tune: each trial trains (in one process, or on --workers Ray Train workers) and reports its "
        "validation accuracy after every epoch; ASHA stops the weak ones early. The test split is never "
        "looked at. Writes EXPORTS_DIR/NAME/: results.csv, results.md, trials.png and best.toml (for "
        "'toolkit train --config'). The same command again resumes a sweep whose driver died.",
    )
    _add_job_flags(p)
    add_tune_flags(Section(p, "tune", "the search ([tune] in --config, keys without 'tune_')", prefix="tune-"))
    p.set_defaults(func=cmd_tune)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "config", None):  # the file's settings become defaults; the command line wins
        try:
            apply_config(parser.commands[args.command], args.config)
        except ToolkitError as exc:
            return _fail(f"error: {exc}", 2)
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
        return _fail(f"error: {exc}", 1)
    except OSError as exc:  # disk full, permission denied, name too long: the environment, not a bug
        return _fail(f"error: {describe(exc)}" + (f": {exc.filename}" if exc.filename else ""), 1)
    except Terminated:
        return _fail("terminated", 143)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except ImportError as exc:
        if _received:  # the signal interrupted a module's initialisation
            return _fail("terminated", 143) if signal.SIGTERM in _received else _fail("interrupted", 130)
        return _fail(
            f"error: cannot import {exc.name or 'a module'} ({exc}): reinstall the toolkit (pip install -e .)", 1
        )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _fail(message: str, status: int) -> int:
    """Print ``toolkit: MESSAGE`` as one line: a path or name holding a newline or another control
    character is shown escaped (``\\n``) and cannot split it."""
    print(f"{PROG}: {one_line(message)}", file=sys.stderr)
    return status


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` (staging folders, Ray) runs."""


_received: set = set()


def _on_signal(signum, frame) -> None:
    _received.add(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


if __name__ == "__main__":
    sys.exit(main())
