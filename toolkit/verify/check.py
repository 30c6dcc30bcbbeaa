"""Parity between the Keras model and its ONNX export, over a whole split (25,000 test reviews).

``verify_export(export_dir)`` runs both on every review of the split, batched, compares them variant
by variant (``toolkit.verify.parity``: probabilities ``[n]`` for two classes, ``[n, K]`` for K), checks
the in-graph preprocessing of a text model against ``toolkit.edge.text`` on every review of both
splits, and writes the reports next to the model (``toolkit.verify.reports``). The CLI turns a failed
gate into exit status 1.

The Keras reference always runs on the CPU (``REFERENCE_DEVICE``), so the gate means the same on a GPU
machine. The Keras side is the run folder the export was converted from, proven by checksum.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from pathlib import Path

from toolkit.artifacts.runs import Run
from toolkit.config import VerifyConfig
from toolkit.core.errors import ExportError, WriteError
from toolkit.core.files import check_can_write, sha256_file
from toolkit.core.progress import Progress, log
from toolkit.data.dataset import load_data
from toolkit.edge.contract import TEXT_FILES, VARIANT_FILES, VOCAB_FILE, predicted
from toolkit.edge.sessions import (
    load_session,
    open_export,
    texts_probabilities,
    tokens_probabilities,
    variable_length,
)
from toolkit.verify.classes import class_count, confusion
from toolkit.verify.parity import VariantParity, compare
from toolkit.verify.reference import REFERENCE_DEVICE, keras_probabilities, matching_run
from toolkit.verify.reports import write_reports
from toolkit.verify.textcheck import check_text_models


def verify_export(export_dir: str | os.PathLike, cfg: VerifyConfig = VerifyConfig()) -> dict:
    """Keras vs onnxruntime on every review of ``cfg.split``; reports written; returns the report dict.

    The Keras side is ``cfg.run_dir``, else the run folder the export records
    (``provenance.run_dir``). Either way the run's ``model.keras`` must have the sha256 the export
    records, and every derived variant must have been made from the files beside it."""
    export_dir = Path(export_dir)
    # what is checked next: the reports are written only if it still stands at the end
    state = export_state(export_dir) if export_dir.is_dir() else None
    session, meta, vocab = open_export(export_dir)
    run = matching_run(export_dir, meta, cfg.run_dir)
    if run.vocabulary is None or run.vocabulary.sha256 != vocab.sha256:
        raise ExportError(f"the run {run.path} has a different vocabulary than the export: export it again")
    if cfg.write_reports:
        try:
            check_can_write(export_dir)
        except WriteError as exc:
            raise ExportError(f"{exc}: the parity reports go there") from None
    data_cfg = run.data_config(cfg.data_path)
    data = load_data(data_cfg)
    if data.vocabulary is not None and data.vocabulary.sha256 != vocab.sha256:
        raise ExportError(
            "the data encodes with another vocabulary than the export's: pass the --data the run was trained on"
        )
    split = getattr(data, cfg.split)
    classes = tuple(meta.labels)  # the run's too (matching_run)
    if len(split) and not 0 <= int(split.y.min()) <= int(split.y.max()) < len(classes):
        raise ExportError(
            f"the {cfg.split} reviews have labels outside the export's {len(classes):,} classes: pass the --data "
            "the run was trained on"
        )
    log(f"verifying {export_dir} on {len(split):,} {cfg.split} reviews")
    start = time.perf_counter()
    keras_p = keras_probabilities(run, split.x, cfg.batch_size, variable_length(session))
    keras_seconds = time.perf_counter() - start
    if class_count(keras_p) != len(classes):
        raise ExportError(
            f"the Keras model of {run.path} gives {class_count(keras_p):,} classes' probabilities, but the export "
            f"names {len(classes):,} classes: train and export the run again"
        )
    variants = {v: f for v, f in VARIANT_FILES.items() if (export_dir / f).is_file()}
    texts, preprocessing = None, None
    if any(v in TEXT_FILES for v in variants):
        texts, preprocessing = check_text_models(export_dir, vocab, data_cfg, data, cfg.split)
    results, fp32_p = _compare_variants(export_dir, variants, keras_p, split, texts, cfg, classes)
    keras_confusion = confusion(split.y, predicted(keras_p), len(classes))
    report = _report(export_dir, run, cfg, split, results, preprocessing, variable_length(session))
    report.update(classes=list(classes), keras_confusion=keras_confusion)
    report["keras_seconds"] = round(keras_seconds, 3)
    if export_state(export_dir) != state:
        raise ExportError(
            f"{export_dir} changed while it was verified (an export --overwrite to it?): this report would "
            "mix two exports, so none was written; run verify again"
        )
    if cfg.write_reports:  # its own files only: the export's README.md is the export's
        write_reports(export_dir, report, keras_p, fp32_p)
    return report


def export_state(export_dir: Path) -> tuple:
    """The export folder's identity (device, inode: an ``export --overwrite`` puts a new folder in its
    place) and the checksum of every model and vocabulary file in it."""
    info = os.stat(export_dir)
    names = [*VARIANT_FILES.values(), VOCAB_FILE]
    return (info.st_dev, info.st_ino), {n: sha256_file(export_dir / n) for n in names if (export_dir / n).is_file()}


def _report(export_dir: Path, run: Run, cfg: VerifyConfig, split, results: dict, preprocessing, any_length) -> dict:
    """parity.json's content (``classes`` and ``keras_confusion`` added by the caller)."""
    return {
        "export": str(export_dir.resolve()),
        "run": str(run.path.resolve()),
        "split": cfg.split,
        "reviews": len(split),
        "classes": [],  # the class names, in the order of the model's output
        "tolerances": asdict(cfg.tolerances),
        "keras_seconds": 0.0,
        "keras_device": REFERENCE_DEVICE,
        "input": "batches of similar length, each trimmed to its longest review"
        if any_length
        else f"{split.x.shape[1]} tokens per review",
        "passed": all(r.passed for r in results.values()) and (preprocessing is None or preprocessing["passed"]),
        "variants": {v: asdict(r) for v, r in results.items()},
        "keras_confusion": [],  # Keras' K x K counts: row = true class, column = predicted class
        "text_preprocessing": preprocessing,
    }


def _compare_variants(export_dir: Path, variants: dict, keras_p, split, texts, cfg: VerifyConfig, classes=None):
    """``({variant: VariantParity}, fp32 probabilities)``; each variant must give Keras' shape (``[n]``
    for two classes, ``[n, K]`` for K)."""
    results: dict[str, VariantParity] = {}
    fp32_p = None
    for variant, file in variants.items():
        start = time.perf_counter()
        session = load_session(export_dir / file)  # open_export and matching_run have checked the files
        bar = Progress(len(split), f"onnx {variant}", unit=" reviews")
        if variant in TEXT_FILES:
            onnx_p = texts_probabilities(session, texts, cfg.batch_size, bar.update)
        else:
            onnx_p = tokens_probabilities(session, split.x, cfg.batch_size, bar.update)
        bar.close()
        if class_count(onnx_p) != class_count(keras_p) or len(onnx_p) != len(keras_p):
            raise ExportError(
                f"{export_dir / file} gives probabilities of shape {onnx_p.shape}, Keras {keras_p.shape}: "
                "it was not exported from this model; export the run again"
            )
        parity = compare(variant, keras_p, onnx_p, split.y, split.review_ids, cfg.tolerances, classes)
        results[variant] = replace(
            parity,
            file=file,
            size_bytes=(export_dir / file).stat().st_size,
            seconds=round(time.perf_counter() - start, 3),
        )
        fp32_p = onnx_p if variant == "fp32" else fp32_p
    return results, fp32_p
