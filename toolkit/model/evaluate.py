"""Evaluating a Keras model on a split: probabilities in length-aware batches, test loss and accuracy."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from toolkit._tf import keras
from toolkit.artifacts.runs import read_run
from toolkit.core.errors import RunError
from toolkit.data.dataset import Split, load_data
from toolkit.edge import batches
from toolkit.edge.contract import class_matrix, predicted
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
    p = predict_probabilities(model, split.x, batch_size)
    matrix = np.clip(class_matrix(p).astype(np.float64), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(np.log(matrix[np.arange(len(split)), split.y]))) if len(split) else 0.0
    guessed = predicted(p)
    figures = {"loss": loss, "accuracy": float(np.mean(guessed == split.y)), "reviews": len(split)}
    if classes is not None:
        figures["per_class_accuracy"] = {
            name: float(np.mean(guessed[split.y == i] == i)) if np.any(split.y == i) else None
            for i, name in enumerate(classes)
        }
    return {**figures, "seconds": round(time.perf_counter() - start, 3)}


def evaluate_run(run_dir: str, data_path: str | None = None, batch_size: int = 512) -> dict:
    """Re-evaluate a run's model on the test split of the data it was trained on (or ``data_path``)."""
    run = read_run(run_dir)
    model = load_run_model(run)  # a bad or foreign model file fails before the data is read
    data = load_data(run.data_config(data_path))
    if run.vocabulary is not None and data.vocabulary is not None and run.vocabulary.sha256 != data.vocabulary.sha256:
        raise RunError(
            f"the data's vocabulary differs from the run's vocab.json: pass the --data the run {run_dir} was trained on"
        )
    classes = run.model_config.classes
    if data.classes != classes:
        raise RunError(
            f"the data's classes {list(data.classes)[:10]} are not the run's {list(classes)[:10]}: pass the --data "
            f"the run {run_dir} was trained on"
        )
    return evaluate_split(model, data.test, batch_size, classes)
