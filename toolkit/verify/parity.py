"""Parity figures of one model variant against Keras, and the tolerance gate (pure NumPy).

``compare`` computes max, mean and 99th-percentile |Δp|, label agreement, both accuracies, every
review whose label flipped, and each class's accuracy and the confusion matrix
(``toolkit.verify.classes``); ``check`` raises the typed :class:`~toolkit.core.errors.ParityError`
subclass of the first violated tolerance. fp32 (and the text model, same weights) must match to
``atol + rtol * |p_keras|`` with at most ``max_label_flips`` flipped labels; a quantised variant is
judged by accuracy and label agreement instead.

Two classes: probabilities ``[n]`` (of the second class), label by ``contract.THRESHOLD``. K > 2
classes: ``[n, K]``, label = argmax; a review's |Δp| is its largest over the classes, and it is over the
tolerance when any class is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

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
from toolkit.edge.contract import FULL_PRECISION, predicted
from toolkit.verify import classes as by_class


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
    flipped: list = field(default_factory=list)  # classes.flipped's entries
    seconds: float = 0.0
    passed: bool = True
    failure: str = ""
    num_classes: int = 2
    # [{"name", "reviews", "keras_accuracy", "onnx_accuracy"}] per class, in the classes' order
    per_class: list = field(default_factory=list)
    confusion: list = field(default_factory=list)  # this variant's K x K counts: row true, column predicted


def compare(
    variant: str,
    keras_p: np.ndarray,
    onnx_p: np.ndarray,
    y: np.ndarray,
    review_ids: np.ndarray,
    tol: Tolerances,
    classes: Optional[Sequence[str]] = None,
) -> VariantParity:
    """The parity figures of one variant over the same reviews (class indexes ``y``), and whether they
    meet ``tol`` (``passed``, and ``failure``: the message of the error :func:`check` raises).
    ``keras_p`` and ``onnx_p``: the same shape, ``[n]`` or ``[n, K]``; ``classes``: the K names
    (default ``contract.LABELS`` for two). A shape or label that does not fit is a ValueError."""
    keras_p, onnx_p = by_class.as_probabilities(keras_p), by_class.as_probabilities(onnx_p)
    if keras_p.shape != onnx_p.shape or len(keras_p) != len(y) or len(y) != len(review_ids):
        raise ValueError(
            f"{variant}: Keras gives probabilities of shape {keras_p.shape}, ONNX {onnx_p.shape}, for "
            f"{len(y)} labels and {len(review_ids)} review ids"
        )
    with np.errstate(invalid="ignore"):  # NaN probabilities: counted as non-finite, not warned about
        result = _figures(variant, keras_p, onnx_p, np.asarray(y), review_ids, tol, classes)
    try:
        check(result, tol)
    except ParityError as exc:
        return replace(result, passed=False, failure=str(exc))
    return result


def check(p: VariantParity, tol: Tolerances) -> None:
    """Raise the typed error for the first violated tolerance."""
    rows = "probabilities" if p.num_classes == 2 else "reviews' probabilities"  # K: a review is one row
    if p.non_finite:
        raise NonFiniteProbabilities(
            f"{p.variant}: {p.non_finite:,} of {p.reviews:,} {rows} are NaN or infinite "
            "(Keras or ONNX): the model is broken; train it again"
        )
    if p.variant in FULL_PRECISION:
        if p.over_tolerance:
            raise ProbabilityMismatch(
                f"{p.variant}: {p.over_tolerance:,} of {p.reviews:,} {rows} differ by more than "
                f"atol {tol.atol:g} + rtol {tol.rtol:g} (max |dp| {p.max_abs_diff:.3g})"
            )
        if len(p.flipped) > tol.max_label_flips:
            raise LabelFlips(f"{p.variant}: {len(p.flipped):,} labels flipped (allowed {tol.max_label_flips})")
        return
    # judged in reviews, not in float fractions: 0.5150 - 0.5100 on 400 reviews is 2 reviews, exactly the
    # 0.5 points allowed, though 0.515 - 0.51 > 0.005 as floats
    drop = p.keras_accuracy - p.onnx_accuracy
    if round(drop * p.reviews) > tol.max_accuracy_drop * p.reviews + 1e-9:
        raise AccuracyDrop(
            f"{p.variant}: accuracy {p.onnx_accuracy:.4f} is {drop * 100:.2f} points below Keras "
            f"{p.keras_accuracy:.4f} (allowed {tol.max_accuracy_drop * 100:.2f})"
        )
    if p.labels_equal < tol.min_label_agreement * p.reviews - 1e-9:
        raise LabelDisagreement(
            f"{p.variant}: Keras' label on {p.label_agreement:.2%} of reviews "
            f"({p.labels_equal:,} of {p.reviews:,}; required {tol.min_label_agreement:.2%})"
        )


def _figures(variant, keras_p, onnx_p, y, review_ids, tol: Tolerances, classes) -> VariantParity:
    k = by_class.class_count(keras_p)
    names = by_class.class_names(classes, k)
    y = by_class.check_labels(y, k)
    diff, over, bad = (_differences if keras_p.ndim == 1 else _row_differences)(keras_p, onnx_p, tol)
    lk, lo = predicted(keras_p), predicted(onnx_p)
    n = len(y)
    return VariantParity(
        variant=variant,
        reviews=n,
        max_abs_diff=float(diff.max(initial=0.0)),
        mean_abs_diff=float(diff.mean()) if n else 0.0,
        p99_abs_diff=float(np.percentile(diff, 99)) if n else 0.0,
        over_tolerance=int(over.sum()),
        non_finite=int(bad.sum()),
        labels_equal=int((lk == lo).sum()),
        label_agreement=float((lk == lo).mean()) if n else 1.0,
        keras_accuracy=float((lk == y).mean()) if n else 0.0,
        onnx_accuracy=float((lo == y).mean()) if n else 0.0,
        flipped=by_class.flipped(review_ids, y, keras_p, onnx_p, lk, lo),
        num_classes=k,
        per_class=by_class.per_class(y, lk, lo, names),
        confusion=by_class.confusion(y, lo, k),
    )


ROWS = 4096  # K classes: reviews compared at a time (25,000 x 1,000 float64 at once would take 200 MB)


def _row_differences(keras_p: np.ndarray, onnx_p: np.ndarray, tol: Tolerances):
    """K classes: :func:`_differences` of each review, from its farthest class (any class beyond the
    tolerance, any not finite), ``ROWS`` reviews at a time."""
    n = len(keras_p)
    diff, over, bad = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for i in range(0, n, ROWS):
        d, o, b = _differences(keras_p[i : i + ROWS], onnx_p[i : i + ROWS], tol)
        diff[i : i + ROWS], over[i : i + ROWS], bad[i : i + ROWS] = d.max(axis=1), o.any(axis=1), b.any(axis=1)
    return diff, over, bad


def _differences(keras_p: np.ndarray, onnx_p: np.ndarray, tol: Tolerances):
    """|Δp| (float64; NaN or infinite: inf), whether it is beyond the tolerance, and whether either side
    is not finite, for each probability."""
    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    diff[~np.isfinite(diff)] = np.inf  # NaN compares false with every tolerance: count it as infinitely far
    over = diff > tol.atol + tol.rtol * np.abs(keras_p)
    return diff, over, ~np.isfinite(keras_p) | ~np.isfinite(onnx_p)
