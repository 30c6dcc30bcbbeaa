"""Evaluating a Keras model on a split: probabilities in length-aware batches, test loss and accuracy; a
prepared test set (``toolkit prepare``) shard by shard, in bounded memory."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from toolkit._tf import keras
from toolkit.artifacts.runs import read_run
from toolkit.core.errors import RunError
from toolkit.data.dataset import Split, load_data
from toolkit.data.prepared import Prepared, is_prepared, read_manifest, read_shard
from toolkit.edge import batches
from toolkit.edge.contract import class_matrix, predicted
from toolkit.edge.text import pad_sequences
from toolkit.model.lstm import load_run_model


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """float32 ``[n]`` for two classes (the second's probability), ``[n, K]`` for K > 2. A model that
    takes any length gets batches of similar length, each trimmed to its longest review and right-padded
    (``toolkit.edge.batches``); the tutorial's fixed-length model gets ``x`` as is."""
    classes = int(model.output.shape[-1])
    out = np.empty((len(x), classes), dtype=np.float32)
    variable_length = model.input.shape[1] is None
    for rows, tokens in batches.inference_batches(x, batch_size, variable_length, right_padded=True):
        out[rows] = model.predict_on_batch(tokens)
    return out[:, 0] if classes == 1 else out


def evaluate_split(model: keras.Model, split: Split, batch_size: int, classes: Optional[tuple] = None) -> dict:
    """Loss (binary or sparse categorical cross-entropy, Keras' clipping) and accuracy; with the class
    names, also each class's accuracy (its recall)."""
    start = time.perf_counter()
    tally = _Tally(int(model.output.shape[-1]))
    tally.add(predict_probabilities(model, split.x, batch_size), split.y)
    return {**tally.figures(classes), "seconds": round(time.perf_counter() - start, 3)}


def evaluate_prepared(model: keras.Model, prepared: Prepared, batch_size: int, split: str = "test") -> dict:
    """:func:`evaluate_split` over prepared shards (``toolkit prepare``), one shard in memory at a time:
    a test set of any size."""
    start = time.perf_counter()
    tally = _Tally(int(model.output.shape[-1]))
    for entry in prepared.manifest["splits"].get(split, {}).get("files", []):
        ids, y = read_shard(prepared, entry)
        tally.add(predict_probabilities(model, pad_sequences(ids, prepared.vocabulary.maxlen), batch_size), y)
    return {**tally.figures(prepared.classes), "seconds": round(time.perf_counter() - start, 3)}


class _Tally:
    """Loss, hits and per-class counts summed over batches of reviews."""

    def __init__(self, outputs: int) -> None:
        k = max(2, outputs)
        self.loss, self.reviews, self.hits = 0.0, 0, 0
        self.per_class, self.per_class_hits = np.zeros(k, np.int64), np.zeros(k, np.int64)

    def add(self, p: np.ndarray, y: np.ndarray) -> None:
        matrix = np.clip(class_matrix(p).astype(np.float64), 1e-7, 1 - 1e-7)
        self.loss += float(-np.sum(np.log(matrix[np.arange(len(y)), y])))
        guessed = predicted(p)
        self.reviews += len(y)
        self.hits += int(np.sum(guessed == y))
        np.add.at(self.per_class, y, 1)
        np.add.at(self.per_class_hits, y[guessed == y], 1)

    def figures(self, classes: Optional[tuple]) -> dict:
        n = self.reviews
        figures = {"loss": self.loss / n if n else 0.0, "accuracy": self.hits / n if n else float("nan"), "reviews": n}
        if classes is not None:
            figures["per_class_accuracy"] = {
                name: float(self.per_class_hits[i] / self.per_class[i]) if self.per_class[i] else None
                for i, name in enumerate(classes)
            }
        return figures


def evaluate_run(run_dir: str, data_path: str | None = None, batch_size: int = 512) -> dict:
    """Re-evaluate a run's model on the test split of the data it was trained on (or ``data_path``)."""
    run = read_run(run_dir)
    model = load_run_model(run)  # a bad or foreign model file fails before the data is read
    path = data_path or run.data_config().path
    if path and is_prepared(path):  # prepared shards: streamed, one shard at a time
        prepared = read_manifest(path)
        _check_same(run, run_dir, prepared.vocabulary, prepared.classes)
        return evaluate_prepared(model, prepared, batch_size)
    data = load_data(run.data_config(data_path))
    _check_same(run, run_dir, data.vocabulary, data.classes)
    return evaluate_split(model, data.test, batch_size, data.classes)


def _check_same(run, run_dir: str, vocabulary, classes: tuple) -> None:
    """The data is encoded as the run was trained: the same vocabulary and classes."""
    if run.vocabulary is not None and vocabulary is not None and run.vocabulary.sha256 != vocabulary.sha256:
        raise RunError(
            f"the data's vocabulary differs from the run's vocab.json: pass the --data the run {run_dir} was trained on"
        )
    if tuple(classes) != run.model_config.classes:
        raise RunError(
            f"the data's classes {list(classes)[:10]} are not the run's {list(run.model_config.classes)[:10]}: pass "
            f"the --data the run {run_dir} was trained on"
        )
