"""Edge inference from an export folder: raw review text in, label and probability out.

Only onnxruntime, NumPy and ``toolkit.text`` (the same preprocessing spec training used): this module
never imports TensorFlow, so it runs where TensorFlow is not installed.

    clf = Classifier.load("exports/my-run/onnx")
    clf.predict(["A wonderful, moving film.", "Dull and far too long."])
    # [Prediction(label='positive', probability=0.97...), Prediction(label='negative', probability=0.04...)]

Text rules: a review longer than ``maxlen`` tokens is judged on its last ``maxlen`` tokens (as in
training); text without a single known word still gets a probability (all out-of-vocabulary ids);
an empty or whitespace-only review is an error (there is nothing to classify).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from . import batching
from .errors import ToolkitError
from .export import TEXT_FILES, open_export, variable_length
from .textgraph import TEXT_INPUT

OUTPUT = "probability"


class PredictError(ToolkitError):
    """A review or an input file cannot be classified."""


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float  # probability that the review is positive


class Classifier:
    """An ONNX export ready to classify raw text."""

    def __init__(self, session, vocabulary, metadata: dict, batch_size: int = 256) -> None:
        self.session, self.vocabulary, self.metadata = session, vocabulary, metadata
        self.labels = tuple(json.loads(metadata.get("labels", '["negative", "positive"]')))
        self.threshold = float(metadata.get("decision_threshold", 0.5))
        self.batch_size = batch_size
        # A text model (model.text.onnx) tokenises inside the graph; an ids model gets the ids of
        # text.py: a variable-length export (masked padding) batches of similar length trimmed to
        # their longest review, a fixed-length one (the tutorial's model) maxlen tokens.
        self.takes_text = session.get_inputs()[0].name == TEXT_INPUT
        self.variable_length = (
            metadata.get("input.variable_length", "true") == "true" if self.takes_text else variable_length(session)
        )

    @classmethod
    def load(cls, export_dir: str | os.PathLike, variant: str = "auto", threads: int = 0) -> "Classifier":
        """``variant``: "auto" (the text model when the export has one, else fp32), "fp32", "int8",
        "text" or "text-int8"."""
        if variant == "auto":
            variant = "text" if (Path(export_dir) / TEXT_FILES["text"]).is_file() else "fp32"
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
        if self.takes_text:
            return self.probabilities_of_texts(texts)
        return self.probabilities_of_ids(self.vocabulary.encode(texts))

    def probabilities_of_texts(self, texts: list[str]) -> np.ndarray:
        """float32 ``[n]`` from a text model."""
        return _finite(run_text_model(self.session, texts, self.batch_size))

    def probabilities_of_ids(self, ids: np.ndarray) -> np.ndarray:
        """float32 ``[n]`` for pre-padded token ids ``[n, maxlen]`` (``Vocabulary.encode``'s output)."""
        out = np.empty(len(ids), dtype=np.float32)
        for rows, batch in batching.inference_batches(ids, self.batch_size, self.variable_length):
            out[rows] = self._run(batch)
        return _finite(out)

    def _run(self, ids: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {"token_ids": np.ascontiguousarray(ids)})[0][:, 0]

    def predict(self, texts: str | Iterable[str]) -> list[Prediction]:
        """One :class:`Prediction` per review (a single string is one review)."""
        return [Prediction(self.labels[int(p >= self.threshold)], float(p)) for p in self.probabilities(texts)]


def run_text_model(session, texts: list[str], batch_size: int = 256, progress=None) -> np.ndarray:
    """float32 ``[n]``: a text model over batches of reviews of similar length (the graph pads each
    batch to its longest review); ``progress(done)`` after each batch."""
    out = np.empty(len(texts), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = session.run([OUTPUT], {TEXT_INPUT: np.array([texts[i] for i in rows], dtype=object)})[0][:, 0]
        if progress:
            progress(start + len(rows))
    return out


def _finite(out: np.ndarray) -> np.ndarray:
    """``out``, unless the model gave NaN or infinite probabilities (a broken model: refused)."""
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise PredictError(
            f"the model gave NaN or infinite probabilities for {len(bad):,} of {len(out):,} review(s) "
            f"(first: review {bad[0] + 1}): the export is broken; run 'toolkit verify' on it"
        )
    return out


# --- reading reviews from files and stdin ---------------------------------------------------------
TEXT_KEYS = ("text", "review")
MAX_FILE_BYTES = 1_000_000_000  # a file of reviews is read whole


def read_reviews_file(path: str | os.PathLike) -> list[str]:
    """Reviews from ``.txt`` (one per line, blank lines skipped), ``.jsonl`` (a string or an object with
    "text"/"review" per line) or ``.csv`` (a "text"/"review" column, else the first column)."""
    path = Path(path)
    if not path.exists():
        raise PredictError(f"{path} does not exist")
    if path.is_dir():
        raise PredictError(f"{path} is a folder, not a file of reviews")
    if not path.is_file():  # a FIFO, a device such as /dev/zero: reading could block or never end
        raise PredictError(f"{path} is not a regular file: pass a .txt, .jsonl or .csv file, or '-' for stdin")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PredictError(
            f"{path} is {path.stat().st_size / 1e6:,.0f} MB, more than {MAX_FILE_BYTES // 10**6:,} MB: split it"
        )
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredictError(f"{path} is not UTF-8 text (byte {exc.start}): convert it, e.g. iconv -t UTF-8") from None
    except OSError as exc:
        raise PredictError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        reviews = _from_jsonl(content, path)
    elif suffix == ".csv":
        reviews = _from_csv(content, path)
    else:
        reviews = read_lines(content)
    if not reviews:
        raise PredictError(f"{path} holds no reviews")
    return reviews


def read_lines(content: str) -> list[str]:
    """Non-blank lines. Only ``\n`` (and ``\r\n``) end a line: ``str.splitlines`` would also split a
    review at U+2028, form feeds and other characters that may sit inside one."""
    return [line for line in _lines(content) if line.strip()]


def _lines(content: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in content.split("\n")]


def _from_jsonl(content: str, path: Path) -> list[str]:
    reviews = []
    for n, line in enumerate(_lines(content), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if isinstance(item, dict):
            item = next((item[k] for k in TEXT_KEYS if k in item), None)
        if not isinstance(item, str):
            raise PredictError(f"{path}:{n}: expected a string or an object with a 'text' field")
        reviews.append(item)
    return reviews


def _from_csv(content: str, path: Path) -> list[str]:
    rows = list(csv.reader(io.StringIO(content)))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    column = next((header.index(k) for k in TEXT_KEYS if k in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    return [row[column] for row in body if len(row) > column and row[column].strip()]


def format_table(texts: Iterable[str], predictions: Iterable[Prediction], width: int = 70) -> str:
    lines = [f"{'label':<9} {'probability':>11}  review"]
    for text, p in zip(texts, predictions):
        snippet = " ".join(text.split())
        snippet = snippet if len(snippet) <= width else snippet[: width - 3] + "..."
        lines.append(f"{p.label:<9} {p.probability:>11.4f}  {snippet}")
    return "\n".join(lines)
