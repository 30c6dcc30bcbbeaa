"""Parity between the Keras model and its ONNX export, over a whole split (25,000 test reviews).

``verify_export(export_dir)`` runs both on every review of the split, batched, and reports max, mean
and 99th-percentile |Δp|, label agreement, both accuracies and every review whose label flipped.
``check`` raises a typed :class:`ParityError` when a tolerance is violated; the CLI turns that into
exit status 1. Reports go next to the model: ``parity.json`` (for machines), ``parity.md`` (for
people) and ``parity.png`` (|Δp| histogram on a log scale; Keras vs ONNX probabilities).

The Keras reference always runs on the CPU (``REFERENCE_DEVICE``), so the gate means the same on a GPU
machine. Tolerances: fp32 must match to ``atol + rtol * |p_keras|`` (default 1e-5) with at most
``max_label_flips`` flipped labels (default 0). A quantised variant is judged by accuracy instead:
its test accuracy within ``max_accuracy_drop`` (default 0.5 points) of Keras.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import batching
from .config import DataConfig, Tolerances, from_dict, to_dict
from .errors import ToolkitError
from .export import (
    CARD_FILE,
    DERIVED_FROM,
    TEXT_FILES,
    VARIANT_FILES,
    ExportError,
    check_derived,
    model_card,
    open_export,
)
from .export import variable_length as is_variable_length
from .files import WriteError, atomic_write_text, check_can_write, sha256_file
from .progress import Progress, log
from .rundir import Run, read_run

REPORT_JSON, REPORT_MD, REPORT_PNG = "parity.json", "parity.md", "parity.png"
FULL_PRECISION = ("fp32", "text")  # judged by |dp| and flips; the others (int8) by accuracy and agreement
REFERENCE_DEVICE = "/CPU:0"  # where the Keras reference runs (see keras_probabilities)


class ParityError(ToolkitError):
    """ONNX does not behave like Keras within the tolerances."""


class ProbabilityMismatch(ParityError):
    """Some probabilities differ by more than atol + rtol * |p|."""


class LabelFlips(ParityError):
    """More labels differ than allowed."""


class AccuracyDrop(ParityError):
    """A quantised variant lost more accuracy than allowed."""


class LabelDisagreement(ParityError):
    """A quantised variant gives Keras' label on too few reviews."""


class NonFiniteProbabilities(ParityError):
    """Keras or ONNX gave NaN or infinite probabilities: the model is broken, whatever the differences."""


@dataclass
class VariantParity:
    variant: str
    file: str
    size_bytes: int
    reviews: int
    max_abs_diff: float
    mean_abs_diff: float
    p99_abs_diff: float
    over_tolerance: int
    non_finite: int
    labels_equal: int
    label_agreement: float
    keras_accuracy: float
    onnx_accuracy: float
    flipped: list = field(default_factory=list)  # [{"id", "label", "keras", "onnx"}]
    seconds: float = 0.0
    passed: bool = True
    failure: str = ""


def _positive(p: np.ndarray) -> np.ndarray:
    return (p >= 0.5).astype(np.int32)


def compare(
    variant: str,
    file: str,
    size: int,
    keras_p: np.ndarray,
    onnx_p: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray,
    tol: Tolerances,
    seconds: float = 0.0,
) -> VariantParity:
    """The parity figures of one variant, and whether they meet the tolerances."""
    with np.errstate(invalid="ignore"):  # NaN probabilities: counted as non-finite, not warned about
        return _compare(variant, file, size, keras_p, onnx_p, y, ids, tol, seconds)


def _compare(variant, file, size, keras_p, onnx_p, y, ids, tol, seconds) -> VariantParity:
    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    non_finite = int((~np.isfinite(keras_p) | ~np.isfinite(onnx_p)).sum())
    diff[~np.isfinite(diff)] = np.inf  # NaN compares false with every tolerance: count it as infinitely far
    lk, lo = _positive(keras_p), _positive(onnx_p)
    flips = np.flatnonzero(lk != lo)
    over = int((diff > tol.atol + tol.rtol * np.abs(keras_p)).sum())
    result = VariantParity(
        variant=variant,
        file=file,
        size_bytes=size,
        reviews=len(y),
        max_abs_diff=float(diff.max(initial=0.0)),
        mean_abs_diff=float(diff.mean()) if len(diff) else 0.0,
        p99_abs_diff=float(np.percentile(diff, 99)) if len(diff) else 0.0,
        over_tolerance=over,
        non_finite=non_finite,
        labels_equal=int((lk == lo).sum()),
        label_agreement=float((lk == lo).mean()) if len(y) else 1.0,
        keras_accuracy=float((lk == y).mean()),
        onnx_accuracy=float((lo == y).mean()),
        flipped=[
            {"id": str(ids[i]), "label": int(y[i]), "keras": float(keras_p[i]), "onnx": float(onnx_p[i])} for i in flips
        ],
        seconds=round(seconds, 3),
    )
    try:
        check(result, tol)
    except ParityError as exc:
        result.passed, result.failure = False, str(exc)
    return result


def check(p: VariantParity, tol: Tolerances) -> None:
    """Raise the typed error for the first violated tolerance."""
    if p.non_finite:
        raise NonFiniteProbabilities(
            f"{p.variant}: {p.non_finite:,} of {p.reviews:,} probabilities are NaN or infinite "
            "(Keras or ONNX): the model is broken; train it again"
        )
    if p.variant in FULL_PRECISION:
        if p.over_tolerance:
            raise ProbabilityMismatch(
                f"fp32: {p.over_tolerance:,} of {p.reviews:,} probabilities differ by more than "
                f"atol {tol.atol:g} + rtol {tol.rtol:g} (max |dp| {p.max_abs_diff:.3g})"
            )
        if len(p.flipped) > tol.max_label_flips:
            raise LabelFlips(f"fp32: {len(p.flipped):,} labels flipped (allowed {tol.max_label_flips})")
    else:
        drop = p.keras_accuracy - p.onnx_accuracy
        if drop > tol.max_accuracy_drop:
            raise AccuracyDrop(
                f"{p.variant}: accuracy {p.onnx_accuracy:.4f} is {drop * 100:.2f} points below Keras "
                f"{p.keras_accuracy:.4f} (allowed {tol.max_accuracy_drop * 100:.2f})"
            )
        if p.label_agreement < tol.min_label_agreement:
            raise LabelDisagreement(
                f"{p.variant}: Keras' label on {p.label_agreement:.2%} of reviews "
                f"({p.labels_equal:,} of {p.reviews:,}; required {tol.min_label_agreement:.2%})"
            )


# --- probabilities from both sides ----------------------------------------------------------------
def _probabilities(
    run_batch, x: np.ndarray, batch_size: int, variable_length: bool, label: str, right_padded: bool = False
) -> np.ndarray:
    out = np.empty(len(x), dtype=np.float32)
    bar = Progress(len(x), label, unit=" reviews")
    done = 0
    for rows, ids in batching.inference_batches(x, batch_size, variable_length, right_padded):
        out[rows] = run_batch(ids)
        done += len(ids)
        bar.update(done)
    bar.close()
    return out


def text_probabilities(export_dir: Path, variant: str, texts: list[str], batch_size: int) -> np.ndarray:
    from .predict import run_text_model

    session, _, _ = open_export(export_dir, variant)
    bar = Progress(len(texts), f"onnx {variant}", unit=" reviews")
    out = run_text_model(session, texts, batch_size, bar.update)
    bar.close()
    return out


def check_text_preprocessing(export_dir: Path, vocab, raw: dict) -> dict:
    """The in-graph preprocessing of ``model.text.onnx`` against ``text.py`` on every review of both
    splits (``raw``: {split: [texts]}) and on ``HARD_STRINGS``: equal ids, or the reviews that differ."""
    from .textgraph import HARD_STRINGS, id_mismatches, preprocessing_session

    session = preprocessing_session(export_dir / TEXT_FILES["text"])
    result = {"file": TEXT_FILES["text"], "reviews": 0, "equal": 0, "mismatched": []}
    for split, texts in raw.items():
        log(f"text preprocessing: in-graph ids vs toolkit.text on {len(texts):,} {split} reviews ...")
        bad = id_mismatches(session, vocab, texts)
        result["reviews"] += len(texts)
        result["equal"] += len(texts) - len(bad)
        result["mismatched"] += [f"{split}:{i}" for i in bad[:50]]
    bad = id_mismatches(session, vocab, HARD_STRINGS)
    result["hard_strings"] = {
        "total": len(HARD_STRINGS),
        "equal": len(HARD_STRINGS) - len(bad),
        "mismatched": [repr(HARD_STRINGS[i][:40]) for i in bad],
    }
    result["passed"] = result["equal"] == result["reviews"] and not bad
    return result


def onnx_probabilities(
    export_dir: Path, variant: str, x: np.ndarray, batch_size: int, variable_length: bool
) -> np.ndarray:
    session, _, _ = open_export(export_dir, variant)
    run = lambda ids: session.run(["probability"], {"token_ids": np.ascontiguousarray(ids)})[0][:, 0]  # noqa: E731
    return _probabilities(run, x, batch_size, variable_length, f"onnx {variant}")


def keras_probabilities(run: Run, x: np.ndarray, batch_size: int, variable_length: bool) -> np.ndarray:
    """The reference: Keras on the CPU (``REFERENCE_DEVICE``), whatever accelerators are visible. On a
    GPU, cuDNN's kernels and TF32 matmuls (on by default on Ampere and newer) move probabilities by
    more than ``atol`` 1e-5; onnxruntime runs on the CPU, so the reference does too. Batches are
    right-padded, as Keras gets them in training."""
    from ._tf import tf

    with tf.device(REFERENCE_DEVICE):
        model = run.load_model()
        return _probabilities(
            lambda ids: model.predict_on_batch(ids)[:, 0], x, batch_size, variable_length, "keras", right_padded=True
        )


# --- the whole check ------------------------------------------------------------------------------
def verify_export(
    export_dir: str | os.PathLike,
    split: str = "test",
    tol: Tolerances = Tolerances(),
    data_path: Optional[str] = None,
    batch_size: int = 256,
    write_reports: bool = True,
    run_dir: Optional[str | os.PathLike] = None,
) -> dict:
    """Keras vs onnxruntime on every review of ``split``; reports written; returns the report dict.

    The Keras side is the run folder the export was converted from: ``run_dir``, else the path the
    export records (``provenance.run_dir``). Either way the run's ``model.keras`` must have the sha256
    the export records, and an int8 variant must have been made from this ``model.onnx``."""
    import time

    from .data import load_imdb, raw_reviews

    if split not in ("train", "test"):
        raise ParityError(f"unknown split {split!r}: use 'test' or 'train'")
    export_dir = Path(export_dir)
    session, meta, vocab = open_export(export_dir)
    variable_length = is_variable_length(session)
    run = matching_run(export_dir, meta, run_dir)
    if run.vocabulary is None or run.vocabulary.sha256 != vocab.sha256:
        raise ExportError(f"the run {run.path} has a different vocabulary than the export: export it again")
    if write_reports:
        try:
            check_can_write(export_dir)
        except WriteError as exc:
            raise ExportError(f"{exc}: the parity reports go there") from None
    data_cfg = from_dict(DataConfig, run.config.get("data", {}))
    if data_path is not None:
        data_cfg = from_dict(DataConfig, {**to_dict(data_cfg), "path": data_path})
    data = load_imdb(data_cfg)
    if data.vocabulary is not None and data.vocabulary.sha256 != vocab.sha256:
        raise ExportError(
            "the data encodes with another vocabulary than the export's: pass the --data the run was trained on"
        )
    s = getattr(data, split)
    log(f"verifying {export_dir} on {len(s):,} {split} reviews")
    start = time.perf_counter()
    keras_p = keras_probabilities(run, s.x, batch_size, variable_length)
    keras_seconds = time.perf_counter() - start
    variants = {v: f for v, f in VARIANT_FILES.items() if (export_dir / f).is_file()}
    preprocessing, texts = None, None
    if any(v in TEXT_FILES for v in variants):
        raw = raw_reviews(data_cfg)
        preprocessing = check_text_preprocessing(export_dir, vocab, {k: list(v.values()) for k, v in raw.items()})
        texts = [raw[split][i] for i in s.ids]
    results = {}
    for variant, file in variants.items():
        start = time.perf_counter()
        if variant in TEXT_FILES:
            onnx_p = text_probabilities(export_dir, variant, texts, batch_size)
        else:
            onnx_p = onnx_probabilities(export_dir, variant, s.x, batch_size, variable_length)
        results[variant] = compare(
            variant,
            file,
            (export_dir / file).stat().st_size,
            keras_p,
            onnx_p,
            s.y,
            s.ids,
            tol,
            time.perf_counter() - start,
        )
        if variant == "fp32" and write_reports:
            fp32_p = onnx_p
    report = {
        "export": str(export_dir.resolve()),
        "run": str(run.path.resolve()),
        "split": split,
        "reviews": len(s),
        "tolerances": asdict(tol),
        "keras_seconds": round(keras_seconds, 3),
        "keras_device": REFERENCE_DEVICE,
        "input": "batches of similar length, each trimmed to its longest review"
        if variable_length
        else f"{s.x.shape[1]} tokens per review",
        "passed": all(r.passed for r in results.values()) and (preprocessing is None or preprocessing["passed"]),
        "variants": {v: asdict(r) for v, r in results.items()},
        "text_preprocessing": preprocessing,
    }
    if write_reports:
        write_reports_to(export_dir, report, keras_p, fp32_p)
        opset = int(meta.get("provenance.opset", 0))
        sizes = {v: r.size_bytes for v, r in results.items()}
        atomic_write_text(
            export_dir / CARD_FILE, model_card(run, variants, sizes, opset, report["variants"], variable_length)
        )
    return report


def matching_run(export_dir: Path, meta: dict, run_dir: Optional[str | os.PathLike]) -> Run:
    """The run an export came from, proven by checksums rather than trusted by name."""
    expected = meta.get("provenance.keras_sha256")
    if not expected:
        raise ExportError(
            f"{export_dir} records no checksum of its Keras model (an older export): export the run again"
        )
    run = read_run(run_dir if run_dir is not None else meta.get("provenance.run_dir", ""))
    actual = sha256_file(run.model_file)
    if actual != expected:
        raise ExportError(
            f"{run.model_file} is not the model {export_dir} was exported from (sha256 {actual[:12]}..., "
            f"the export records {expected[:12]}...): pass --run with the run folder it came from"
        )
    for variant in DERIVED_FROM:
        if (export_dir / VARIANT_FILES[variant]).is_file():
            check_derived(export_dir, variant)
    return run


def write_reports_to(folder: Path, report: dict, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    atomic_write_text(folder / REPORT_JSON, json.dumps(report, indent=2))
    atomic_write_text(folder / REPORT_MD, markdown(report))
    plot(folder / REPORT_PNG, keras_p, onnx_p)


def markdown(report: dict) -> str:
    lines = [
        f"# Parity: Keras vs onnxruntime on {report['reviews']:,} {report['split']} reviews",
        "",
        f"Result: **{'PASS' if report['passed'] else 'FAIL'}**. Tolerances: {report['tolerances']}. Keras reference "
        f"computed on {report['keras_device']} (cuDNN and TF32 on a GPU would move it by more than the tolerance).",
        "",
        "| variant | size | max abs diff | mean abs diff | p99 abs diff | labels equal | Keras accuracy | ONNX accuracy | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v, r in report["variants"].items():
        lines.append(
            f"| {v} | {r['size_bytes'] / 1e6:.2f} MB | {r['max_abs_diff']:.3e} | {r['mean_abs_diff']:.3e} | {r['p99_abs_diff']:.3e} | "
            f"{r['labels_equal']:,} / {r['reviews']:,} ({r['label_agreement']:.4%}) | {r['keras_accuracy']:.4f} | "
            f"{r['onnx_accuracy']:.4f} | {'pass' if r['passed'] else 'FAIL: ' + r['failure']} |"
        )
    t = report.get("text_preprocessing")
    if t:
        lines += [
            "",
            f"In-graph text preprocessing ({t['file']}) vs toolkit.text: equal token ids on {t['equal']:,} of "
            f"{t['reviews']:,} reviews and on {t['hard_strings']['equal']} of {t['hard_strings']['total']} hard "
            f"strings: **{'pass' if t['passed'] else 'FAIL'}**.",
        ]
    for v, r in report["variants"].items():
        if r["flipped"]:
            lines += [
                "",
                f"## {v}: {len(r['flipped'])} flipped review(s)",
                "",
                "| review | label | Keras p | ONNX p |",
                "| --- | --- | --- | --- |",
            ]
            lines += [f"| {f['id']} | {f['label']} | {f['keras']:.6f} | {f['onnx']:.6f} |" for f in r["flipped"][:200]]
    return "\n".join(lines) + "\n"


def plot(path: Path, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    floor = 1e-10
    bins = np.logspace(np.log10(floor), 0, 60)
    left.hist(np.clip(diff, floor, None), bins=bins, color="#3b6ea8")
    left.set_xscale("log")
    left.set_xlabel(f"|p_keras - p_onnx| (values below {floor:g} shown at {floor:g})")
    left.set_ylabel("reviews")
    left.set_title(f"max {diff.max(initial=0):.2e}, mean {diff.mean() if len(diff) else 0:.2e}")
    right.scatter(keras_p, onnx_p, s=2, alpha=0.3, color="#3b6ea8")
    right.plot([0, 1], [0, 1], color="#c0392b", linewidth=0.8)
    right.set_xlabel("Keras probability")
    right.set_ylabel("ONNX (fp32) probability")
    right.set_title("Keras vs ONNX")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
