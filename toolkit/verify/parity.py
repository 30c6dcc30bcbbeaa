"""Parity figures of one model variant against Keras, and the tolerance gate (pure NumPy).

``compare`` computes max, mean and 99th-percentile |Δp|, label agreement, both accuracies and every
review whose label flipped; ``check`` raises the typed :class:`~toolkit.core.errors.ParityError` subclass
of the first violated tolerance. fp32 (and the text model, same weights) must match to
``atol + rtol * |p_keras|`` with at most ``max_label_flips`` flipped labels; a quantised variant is
judged by accuracy and label agreement instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from toolkit.config import Tolerances
from toolkit.core.errors import (
    AccuracyDrop,
    LabelDisagreement,
    LabelFlips,
    NonFiniteProbabilities,
    ParityError,
    ProbabilityMismatch,
)
from toolkit.edge.contract import FULL_PRECISION, positive


@dataclass(frozen=True, kw_only=True)
class VariantParity:
    """One variant's figures (parity.json's ``variants`` entries, in this order)."""

    variant: str
    file: str = ""
    size_bytes: int = 0
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
    flipped: list = field(default_factory=list)  # [{"id": review id, "label", "keras", "onnx"}]
    seconds: float = 0.0
    passed: bool = True
    failure: str = ""


def compare(
    variant: str, keras_p: np.ndarray, onnx_p: np.ndarray, y: np.ndarray, review_ids: np.ndarray, tol: Tolerances
) -> VariantParity:
    """The parity figures of one variant over the same reviews (labels ``y``), and whether they meet
    ``tol`` (``passed``, and ``failure``: the message of the error :func:`check` raises)."""
    with np.errstate(invalid="ignore"):  # NaN probabilities: counted as non-finite, not warned about
        result = _figures(variant, np.asarray(keras_p), np.asarray(onnx_p), y, review_ids, tol)
    try:
        check(result, tol)
    except ParityError as exc:
        return replace(result, passed=False, failure=str(exc))
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
        return
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


def _figures(variant, keras_p, onnx_p, y, review_ids, tol: Tolerances) -> VariantParity:
    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    diff[~np.isfinite(diff)] = np.inf  # NaN compares false with every tolerance: count it as infinitely far
    lk, lo = positive(keras_p), positive(onnx_p)
    n = len(y)
    return VariantParity(
        variant=variant,
        reviews=n,
        max_abs_diff=float(diff.max(initial=0.0)),
        mean_abs_diff=float(diff.mean()) if n else 0.0,
        p99_abs_diff=float(np.percentile(diff, 99)) if n else 0.0,
        over_tolerance=int((diff > tol.atol + tol.rtol * np.abs(keras_p)).sum()),
        non_finite=int((~np.isfinite(keras_p) | ~np.isfinite(onnx_p)).sum()),
        labels_equal=int((lk == lo).sum()),
        label_agreement=float((lk == lo).mean()) if n else 1.0,
        keras_accuracy=float((lk == y).mean()) if n else 0.0,
        onnx_accuracy=float((lo == y).mean()) if n else 0.0,
        flipped=[
            {"id": str(review_ids[i]), "label": int(y[i]), "keras": float(keras_p[i]), "onnx": float(onnx_p[i])}
            for i in np.flatnonzero(lk != lo)
        ],
    )
