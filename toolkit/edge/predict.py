"""Edge inference from an export folder: raw review text in, label and probability out.

Only onnxruntime, NumPy and ``toolkit.edge.text`` (the same preprocessing spec training used): this module
never imports TensorFlow, so it runs where TensorFlow is not installed.

    clf = Classifier.load("exports/my-run/onnx")
    clf.predict(["A wonderful, moving film.", "Dull and far too long."])
    # [Prediction(label='positive', probability=0.97...), Prediction(label='negative', probability=0.04...)]

Text rules: a review longer than ``maxlen`` tokens is judged on its last ``maxlen`` tokens (as in
training); text without a single known word still gets a probability (all out-of-vocabulary ids);
an empty or whitespace-only review is an error (there is nothing to classify).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from toolkit.core.errors import PredictError, one_line
from toolkit.edge.contract import label
from toolkit.edge.metadata import ExportMetadata
from toolkit.edge.sessions import default_variant, open_export, texts_probabilities, tokens_probabilities


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float  # probability that the review is positive


class Classifier:
    """An ONNX export ready to classify raw text."""

    def __init__(self, session, vocabulary, metadata: ExportMetadata, batch_size: int = 256) -> None:
        """``metadata``: what ``sessions.open_export`` returns with ``session`` (checked and parsed:
        this class never reads raw metadata strings)."""
        if not isinstance(metadata, ExportMetadata):
            raise TypeError("metadata must be the ExportMetadata sessions.open_export returns with the session")
        self.session, self.vocabulary, self.metadata = session, vocabulary, metadata
        self.labels, self.threshold = metadata.labels, metadata.threshold
        self.batch_size = batch_size
        # A text model (model.text.onnx) tokenises inside the graph; an ids model gets the token ids of
        # text.py (sessions.tokens_probabilities batches them as the export takes them): any length for
        # a masked model, exactly maxlen for the tutorial's.
        self.takes_text, self.variable_length = metadata.takes_text, metadata.variable_length

    @classmethod
    def load(cls, export_dir: str | os.PathLike, variant: str = "auto", threads: int = 0) -> "Classifier":
        """``variant``: "auto" (the text model when the export has one, else fp32), "fp32", "int8",
        "text" or "text-int8"."""
        if variant == "auto":
            variant = default_variant(export_dir)
        session, metadata, vocabulary = open_export(export_dir, variant, threads)
        return cls(session, vocabulary, metadata)

    def probabilities(self, texts: str | Iterable[str]) -> np.ndarray:
        """float32 ``[n]``: the probability that each review is positive. ``texts`` is a list (or any
        iterable) of reviews; a single string is one review."""
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
            return _finite(texts_probabilities(self.session, texts, self.batch_size))
        return self.probabilities_of_tokens(self.vocabulary.encode(texts))

    def probabilities_of_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """float32 ``[n]`` for pre-padded token ids ``[n, maxlen]`` (``Vocabulary.encode``'s output);
        an ids model only."""
        if self.takes_text:
            raise PredictError("this is a text model: pass the reviews' text to probabilities()")
        return _finite(tokens_probabilities(self.session, tokens, self.batch_size))

    def predict(self, texts: str | Iterable[str]) -> list[Prediction]:
        """One :class:`Prediction` per review (a single string is one review)."""
        return [Prediction(label(p, self.labels, self.threshold), float(p)) for p in self.probabilities(texts)]


def _finite(out: np.ndarray) -> np.ndarray:
    """``out``, unless the model gave NaN or infinite probabilities (a broken model: refused)."""
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise PredictError(
            f"the model gave NaN or infinite probabilities for {len(bad):,} of {len(out):,} review(s) "
            f"(first: review {bad[0] + 1}): the export is broken; run 'toolkit verify' on it"
        )
    return out


def format_table(texts: Iterable[str], predictions: Iterable[Prediction], width: int = 70) -> str:
    lines = [f"{'label':<9} {'probability':>11}  review"]
    for text, p in zip(texts, predictions):
        snippet = one_line(" ".join(text.split()))  # an ANSI code or a lone control character stays text
        snippet = snippet if len(snippet) <= width else snippet[: width - 3] + "..."
        lines.append(f"{p.label:<9} {p.probability:>11.4f}  {snippet}")
    return "\n".join(lines)
