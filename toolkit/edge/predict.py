"""Edge inference from an export folder: raw review text in, label and probability out.

Only onnxruntime, NumPy and ``toolkit.edge.text`` (the same preprocessing spec training used): this module
never imports TensorFlow, so it runs where TensorFlow is not installed.

    clf = Classifier.load("exports/my-run/onnx")
    clf.predict(["A wonderful, moving film.", "Dull and far too long."])
    # [Prediction(label='positive', probability=0.97..., top=(('positive', 0.97...), ('negative', 0.03...))),
    #  Prediction(label='negative', probability=0.04..., top=(('negative', 0.96...), ('positive', 0.04...)))]

Two classes (IMDB): ``probability`` is the second label's ("positive"), whatever the label, and the label
is the second when it is >= the export's decision threshold. K > 2 classes: the label is the most
probable class, ``probability`` its probability, ``top`` the ``top_k`` most probable classes.

Text rules: a review longer than ``maxlen`` tokens is judged on its last ``maxlen`` tokens (as in
training); text without a single known word still gets a probability (all out-of-vocabulary ids);
an empty or whitespace-only review is an error (there is nothing to classify).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from toolkit.core.errors import ExportError, PredictError, one_line
from toolkit.edge.contract import class_matrix, predicted
from toolkit.edge.metadata import ExportMetadata
from toolkit.edge.sessions import default_variant, open_export, texts_probabilities, tokens_probabilities


@dataclass(frozen=True)
class Prediction:
    """One review's class. ``label``: the predicted class. ``probability``: two classes: the probability
    of the second label (``labels[1]``, "positive" for IMDB) whichever label was predicted, as ever; K > 2
    classes: the probability of the predicted label. ``top``: ``(label, probability)`` pairs, the most
    probable first (a tie: the predicted label first, then label order): both classes for two, the
    ``top_k`` most probable (at most K) for K > 2."""

    label: str
    probability: float
    top: tuple[tuple[str, float], ...] = ()


class Classifier:
    """An ONNX export ready to classify raw text."""

    def __init__(self, session, vocabulary, metadata: ExportMetadata, batch_size: int = 256) -> None:
        """``metadata``: what ``sessions.open_export`` returns with ``session`` (checked and parsed:
        this class never reads raw metadata strings)."""
        if not isinstance(metadata, ExportMetadata):
            raise TypeError("metadata must be the ExportMetadata sessions.open_export returns with the session")
        self.session, self.vocabulary, self.metadata = session, vocabulary, metadata
        # labels: two or K > 2 class names; threshold: two classes' decision threshold, None for K > 2
        self.labels, self.threshold = metadata.labels, metadata.threshold
        self.batch_size = batch_size
        # A text model (model.text.onnx) tokenises inside the graph; an ids model gets the token ids of
        # text.py (sessions.tokens_probabilities batches them as the export takes them): any length for
        # a masked model, exactly maxlen for the tutorial's.
        self.takes_text, self.variable_length = metadata.takes_text, metadata.variable_length

    @property
    def num_classes(self) -> int:
        """2, or K > 2."""
        return len(self.labels)

    @classmethod
    def load(cls, export_dir: str | os.PathLike, variant: str = "auto", threads: int = 0) -> "Classifier":
        """``variant``: "auto" (the text model when the export has one, else fp32), "fp32", "int8",
        "text" or "text-int8"."""
        if variant == "auto":
            variant = default_variant(export_dir)
        session, metadata, vocabulary = open_export(export_dir, variant, threads)
        return cls(session, vocabulary, metadata)

    def probabilities(self, texts: str | Iterable[str]) -> np.ndarray:
        """float32: two classes ``[n]``, the probability of the second label (for IMDB: that the review
        is positive); K > 2 classes ``[n, K]``, one probability per label (rows sum to 1). ``texts`` is
        a list (or any iterable) of reviews; a single string is one review."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise PredictError(f"review {i + 1} is not text ({type(text).__name__})")
            if not text.strip():
                raise PredictError(f"review {i + 1} is empty: there is nothing to classify")
            if not text.isascii():
                try:  # a lone surrogate (a JSON "\ud800", argv bytes that were not UTF-8) has no UTF-8 form
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise PredictError(
                        f"review {i + 1} holds {text[exc.start]!r}, half of a UTF-16 pair (bytes that were not "
                        "UTF-8?): fix its encoding"
                    ) from None
        if self.takes_text:
            return self._checked(texts_probabilities(self.session, texts, self.batch_size))
        return self.probabilities_of_tokens(self.vocabulary.encode(texts))

    def probabilities_of_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """float32 ``[n]`` (two classes) or ``[n, K]`` for pre-padded token ids ``[n, maxlen]``
        (``Vocabulary.encode``'s output); an ids model only."""
        if self.takes_text:
            raise PredictError("this is a text model: pass the reviews' text to probabilities()")
        return self._checked(tokens_probabilities(self.session, tokens, self.batch_size))

    def predict(self, texts: str | Iterable[str], top_k: int = 1) -> list[Prediction]:
        """One :class:`Prediction` per review (a single string is one review). ``top_k`` (at least 1):
        how many classes each prediction's ``top`` lists for K > 2 classes (more than K: all K); two
        classes always list both."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise PredictError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        return self.predictions(self.probabilities(texts), int(top_k))

    def predictions(self, probabilities: np.ndarray, top_k: int = 1) -> list[Prediction]:
        """:meth:`predict`'s answer from :meth:`probabilities`' output."""
        p, labels = np.asarray(probabilities), self.labels
        chosen = predicted(p, self.threshold) if len(labels) == 2 else predicted(p)
        if len(labels) == 2:
            matrix = class_matrix(p).tolist()  # [1 - p, p]: float32 values as Python floats
            out = []
            for (q0, q1), c in zip(matrix, chosen.tolist()):
                first = 1 if q1 > q0 or (q1 == q0 and c == 1) else 0
                top = ((labels[first], (q0, q1)[first]), (labels[1 - first], (q0, q1)[1 - first]))
                out.append(Prediction(labels[c], q1, top))
            return out
        k = min(top_k, len(labels))
        order = chosen[:, None] if k == 1 else np.argsort(-p, axis=1, kind="stable")[:, :k]  # ties: label order
        values = np.take_along_axis(p, order, axis=1).tolist()
        return [
            Prediction(labels[c], row[0], tuple((labels[j], v) for j, v in zip(idx, row)))
            for c, idx, row in zip(chosen.tolist(), order.tolist(), values)
        ]

    def _checked(self, out: np.ndarray) -> np.ndarray:
        """``out``, when it holds one number (two classes) or K per review, all finite."""
        want = () if len(self.labels) == 2 else (len(self.labels),)
        if out.shape[1:] != want:
            got = out.shape[1] if out.ndim == 2 else 1
            raise ExportError(
                f"{self.metadata.path}: the model gave {got:,} numbers per review, but {len(self.labels):,} labels "
                f"need {1 if not want else want[0]:,}: export the run again"
            )
        return _finite(out)


def _finite(out: np.ndarray) -> np.ndarray:
    """``out`` (``[n]`` or ``[n, K]``), unless the model gave NaN or infinite probabilities (a broken
    model: refused)."""
    bad = np.flatnonzero(~np.isfinite(out).reshape(len(out), -1).all(axis=1))
    if len(bad):
        raise PredictError(
            f"the model gave NaN or infinite probabilities for {len(bad):,} of {len(out):,} review(s) "
            f"(first: review {bad[0] + 1}): the export is broken; run 'toolkit verify' on it"
        )
    return out


def format_table(texts: Iterable[str], predictions: Iterable[Prediction], width: int = 70, top_k: int = 1) -> str:
    """A table, one review a line: label, probability (as in :class:`Prediction`), the start of the
    review; with ``top_k`` > 1 also a column of the most probable classes and their probabilities."""
    rows = list(zip(texts, predictions))
    label_width = max([9, *(len(p.label) for _, p in rows)])
    tops = [", ".join(f"{name} {q:.4f}" for name, q in p.top[:top_k]) for _, p in rows] if top_k > 1 else None
    top_width = max([3, *(len(t) for t in tops)]) if tops is not None else 0
    header = f"{'label':<{label_width}} {'probability':>11}  " + (f"{'top':<{top_width}}  " if tops else "")
    lines = [header + "review"]
    for i, (text, p) in enumerate(rows):
        snippet = one_line(" ".join(text.split()))  # an ANSI code or a lone control character stays text
        snippet = snippet if len(snippet) <= width else snippet[: width - 3] + "..."
        top = f"{tops[i]:<{top_width}}  " if tops else ""
        lines.append(f"{p.label:<{label_width}} {p.probability:>11.4f}  {top}{snippet}")
    return "\n".join(lines)
