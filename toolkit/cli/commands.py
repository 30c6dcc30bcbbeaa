"""The subcommands: each turns its flags into configs and calls one library function. Each imports its
library module when it runs: TensorFlow, Ray, onnx and onnxruntime load only for the commands that use
them (``--help`` and bad flags stay instant, a broken install is a one-line error from ``main``, and a
benchmark's child process carries no framework it does not measure)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from toolkit.artifacts.runs import read_run
from toolkit.config import (
    SEARCHABLE,
    ClusterConfig,
    DataConfig,
    ExportConfig,
    JobConfig,
    PrepareConfig,
    SweepConfig,
    Tolerances,
    TrainConfig,
    VerifyConfig,
    WebConfig,
    parse_space,
)
from toolkit.core.errors import ConfigError, PredictError, one_line
from toolkit.core.progress import log
from toolkit.edge.reviews import read_reviews_file, read_stdin
from toolkit.verify.reports import parity_table, run_summary


def config_from_args(cls, args: argparse.Namespace, **overrides):
    """``cls`` from the flags: a flag's destination is named like the config field it sets (``--batch-size``
    sets ``batch_size``), so every field with a flag is taken from it; ``overrides`` set the rest."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**given, **overrides})


def job_from_args(args: argparse.Namespace) -> JobConfig:
    """The one place where training flags become configs (``--stream``: the data prepared first)."""
    data = config_from_args(DataConfig, args, path=args.data, download=not args.no_download)
    train, cluster = config_from_args(TrainConfig, args), config_from_args(ClusterConfig, args)
    job = JobConfig.create(data, train, cluster, faithful=args.faithful, dropout=args.dropout)
    if args.stream:
        from toolkit.workflow.prepare import stream_job

        return stream_job(job)
    return job


def cmd_prepare(args: argparse.Namespace) -> int:
    from toolkit.workflow.prepare import prepare_job

    data = config_from_args(DataConfig, args, path=args.data)
    cfg = config_from_args(PrepareConfig, args, data=data)
    cluster = ClusterConfig(workers=1, address=args.address)  # where Ray is: the workers are Ray Data's
    prepared = prepare_job(cfg, cluster, cpus=args.cpus)
    rows = "\t".join(
        f"{split} {prepared.rows(split):,}" for split in ("train", "validation", "test") if prepared.has(split)
    )
    print(f"{one_line(prepared.uri)}\t{rows}\tvocab {prepared.vocabulary.sha256[:12]}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from toolkit.training.job import train_job

    _print_trained(train_job(job_from_args(args)))
    return 0


def _print_trained(result) -> None:
    test = result.metrics["test"]
    print(f"{one_line(result.run_dir)}\ttest accuracy {test['accuracy']:.4f}\ttest loss {test['loss']:.4f}")


def cmd_run(args: argparse.Namespace) -> int:
    from toolkit.workflow.run import run_job

    job, tol = job_from_args(args), tolerances(args)  # every flag checked before hours of training
    result = run_job(job, tol, on_trained=_print_trained)
    summary = run_summary(result.run_dir, result.export_dir, result.report)
    for path in (result.run_dir, result.export_dir):  # a newline in a path must not split its row
        summary = summary.replace(str(path), one_line(path))
    print(summary)
    return 0 if result.passed else 1


def cmd_tune(args: argparse.Namespace) -> int:
    if args.stream:
        raise ConfigError("--stream does not apply to toolkit tune: its trials read the reviews from memory")
    spaces = tuple(getattr(args, f"space_{name}") for name in SEARCHABLE if getattr(args, f"space_{name}"))
    if not spaces:
        spaces = DEFAULT_SPACES
        log(f"no --tune-* flag: searching {', '.join(f'{s.name} {s.text()}' for s in spaces)}")
    sweep = config_from_args(SweepConfig, args, spaces=spaces)
    job = job_from_args(args)  # every flag checked before Ray starts

    from toolkit.tune.sweep import sweep_job

    result = sweep_job(job, sweep)
    best = result.best
    settings = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in best.settings.items())
    print(
        f"{one_line(result.path)}\tbest val_accuracy {best.val_accuracy:.4f} ({settings})\t"
        f"{one_line(result.path / 'best.toml')}"
    )
    return 0


DEFAULT_SPACES = (parse_space("learning_rate", "0.0003..0.003"),)


def cmd_evaluate(args: argparse.Namespace) -> int:
    read_run(args.run)  # a missing or incomplete run folder fails before TensorFlow loads
    from toolkit.model.evaluate import evaluate_run

    r = evaluate_run(args.run, data_path=args.data, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(r))
    else:
        print(
            f"test accuracy {r['accuracy']:.4f}  loss {r['loss']:.4f}  ({r['reviews']:,} reviews, {r['seconds']:.1f} s)"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from toolkit.export.convert import export_run

    cfg = config_from_args(ExportConfig, args, quantize=tuple(args.quantize))
    result = export_run(args.run, cfg)
    for variant, name in result.files.items():
        print(f"{one_line(result.path / name)}\t{variant}\t{result.sizes[variant] / 1e6:.2f} MB")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from toolkit.verify.check import verify_export

    cfg = config_from_args(VerifyConfig, args, data_path=args.data, run_dir=args.run, tolerances=tolerances(args))
    report = verify_export(args.export, cfg)
    print(json.dumps(report, indent=2) if args.json else parity_table({**report, "export": one_line(report["export"])}))
    return 0 if report["passed"] else 1


def cmd_predict(args: argparse.Namespace) -> int:
    from toolkit.edge.predict import Classifier, format_table

    texts, top_k = _texts(args), getattr(args, "top_k", 1)
    predictions = Classifier.load(args.export, variant=args.variant, threads=args.threads).predict(texts, top_k)
    if args.json:
        rows = [{"label": p.label, "probability": round(p.probability, 6)} for p in predictions]
        if top_k > 1:
            for row, p in zip(rows, predictions):
                row["top"] = [{"label": name, "probability": round(q, 6)} for name, q in p.top[:top_k]]
        print(json.dumps(rows))
    else:
        print(format_table(texts, predictions, top_k=top_k))
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from toolkit.web.server import serve

    return serve(args.export, config_from_args(WebConfig, args))


def _texts(args: argparse.Namespace) -> list[str]:
    """The reviews to classify: arguments, ``--file`` or stdin (never two of them)."""
    if args.file and args.texts:
        raise PredictError("give reviews as arguments or with --file, not both")
    if args.file and args.file != "-":
        return read_reviews_file(args.file)
    if args.texts:
        return args.texts
    if args.file == "-" or not sys.stdin.isatty():
        return read_stdin()  # bounded like a file: an endless stream is an error, not all of memory
    raise PredictError("no reviews: pass them as arguments, with --file FILE, or on stdin")


def tolerances(args: argparse.Namespace) -> Tolerances:
    """verify's gates from the flags (percentages become fractions)."""
    return Tolerances(
        atol=args.atol,
        rtol=args.rtol,
        max_label_flips=args.max_label_flips,
        max_accuracy_drop=args.max_accuracy_drop / 100,
        min_label_agreement=args.min_label_agreement / 100,
    )
