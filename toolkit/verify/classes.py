"""Per-class parity figures (pure NumPy): how many classes a probability array has, each class's accuracy
(its recall) for Keras and ONNX, the confusion matrix, the reviews whose label flipped and the
most-confused pairs of classes.

Two classes come as float32 ``[n]`` (the probability of the second; ``[n, 1]`` is read the same), K > 2
classes as ``[n, K]`` softmax rows; labels are ``contract.predicted``'s (threshold, or argmax).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from toolkit.edge.contract import LABELS


def as_probabilities(p) -> np.ndarray:
    """``p`` as verify compares it: ``[n]`` for two classes (``[n, 1]`` flattened), ``[n, K]`` for K."""
    p = np.asarray(p)
    if p.ndim == 2 and p.shape[1] == 1:
        return p.reshape(len(p))
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] > 1):
        return p
    raise ValueError(f"probabilities must be [n] or [n, K], got the shape {p.shape}")


def class_count(p) -> int:
    """2 for two-class probabilities (``[n]``, ``[n, 1]``), K for ``[n, K]``."""
    p = np.asarray(p)
    return int(p.shape[1]) if p.ndim == 2 and p.shape[1] > 1 else 2


def class_names(classes: Optional[Sequence[str]], k: int) -> tuple[str, ...]:
    """The names of ``k`` classes: ``classes`` (which must name exactly ``k``), else ``contract.LABELS``
    for two classes and ``class 0``, ``class 1``, ... for more."""
    if classes is None:
        return tuple(LABELS) if k == 2 else tuple(f"class {i}" for i in range(k))
    names = tuple(str(c) for c in classes)
    if len(names) != k:
        raise ValueError(f"the probabilities have {k} classes but {len(names)} class names were given")
    return names


def check_labels(y: np.ndarray, k: int) -> np.ndarray:
    """``y`` as int64 class indexes, each in ``0..k-1`` (else ValueError)."""
    y = np.asarray(y).astype(np.int64, copy=False).reshape(-1)
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"the labels must be class indexes 0 to {k - 1}, got {int(y.min())} to {int(y.max())}")
    return y


def confusion(y: np.ndarray, labels: np.ndarray, k: int) -> list[list[int]]:
    """``k x k`` counts: row = the true class ``y``, column = the predicted class ``labels``."""
    y, labels = check_labels(y, k), np.asarray(labels, dtype=np.int64)
    return np.bincount(y * k + labels, minlength=k * k).reshape(k, k).tolist()


def per_class(y: np.ndarray, keras_labels: np.ndarray, onnx_labels: np.ndarray, names: Sequence[str]) -> list[dict]:
    """For each class: ``name``, ``reviews`` (of that true class), ``keras_accuracy`` and ``onnx_accuracy``
    on those reviews (their recall; None for a class without reviews)."""
    k = len(names)
    y = check_labels(y, k)
    reviews = np.bincount(y, minlength=k)
    right = {
        side: np.bincount(y[np.asarray(labels) == y], minlength=k)
        for side, labels in (("keras", keras_labels), ("onnx", onnx_labels))
    }
    return [
        {
            "name": name,
            "reviews": int(reviews[i]),
            "keras_accuracy": float(right["keras"][i] / reviews[i]) if reviews[i] else None,
            "onnx_accuracy": float(right["onnx"][i] / reviews[i]) if reviews[i] else None,
        }
        for i, name in enumerate(names)
    ]


def flipped(review_ids, y, keras_p: np.ndarray, onnx_p: np.ndarray, keras_labels, onnx_labels) -> list[dict]:
    """The reviews whose ONNX label is not Keras'. Two classes: ``{"id", "label", "keras", "onnx"}`` with
    the probabilities of the second class. K classes: ``{"id", "label", "keras_label", "onnx_label",
    "keras_p", "onnx_p"}``: the true class, each side's class (indexes into the classes) and each side's
    probabilities of ``[keras_label, onnx_label]``."""
    rows = np.flatnonzero(np.asarray(keras_labels) != np.asarray(onnx_labels))
    if keras_p.ndim == 1:
        return [
            {"id": str(review_ids[i]), "label": int(y[i]), "keras": float(keras_p[i]), "onnx": float(onnx_p[i])}
            for i in rows
        ]
    out = []
    for i in rows:
        a, b = int(keras_labels[i]), int(onnx_labels[i])
        out.append(
            {
                "id": str(review_ids[i]),
                "label": int(y[i]),
                "keras_label": a,
                "onnx_label": b,
                "keras_p": [float(keras_p[i, a]), float(keras_p[i, b])],
                "onnx_p": [float(onnx_p[i, a]), float(onnx_p[i, b])],
            }
        )
    return out


def most_confused(matrix, top: int = 20) -> list[tuple[int, int, int]]:
    """The ``top`` largest off-diagonal cells of a confusion matrix as ``(true, predicted, count)``,
    largest first (ties: by true, then predicted class); cells of 0 are left out."""
    m = np.asarray(matrix, dtype=np.int64)
    if m.size == 0:
        return []
    m = m.copy()
    np.fill_diagonal(m, 0)
    flat = m.reshape(-1)
    order = np.lexsort((np.arange(flat.size), -flat))[:top]  # by count descending, then row-major position
    k = m.shape[1]
    return [(int(i // k), int(i % k), int(flat[i])) for i in order if flat[i] > 0]
