"""Evaluating a Keras model on a split: probabilities in length-aware batches, test loss and accuracy."""

from __future__ import annotations

import time

import numpy as np

from toolkit._tf import keras
from toolkit.artifacts.runs import read_run
from toolkit.core.errors import RunError
from toolkit.data.imdb import Split, load_imdb
from toolkit.edge import batches
from toolkit.edge.contract import positive
from toolkit.model.lstm import load_run_model


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """float32 ``[n]``. A model that takes any length gets batches of similar length, each trimmed to
    its longest review and right-padded (``toolkit.edge.batches``); the tutorial's fixed-length model gets
    ``x`` as is."""
    out = np.empty(len(x), dtype=np.float32)
    variable_length = model.input.shape[1] is None
    for rows, tokens in batches.inference_batches(x, batch_size, variable_length, right_padded=True):
        out[rows] = model.predict_on_batch(tokens)[:, 0]
    return out


def evaluate_split(model: keras.Model, split: Split, batch_size: int) -> dict:
    """Test loss (binary cross-entropy, Keras' clipping) and accuracy."""
    start = time.perf_counter()
    p = np.clip(predict_probabilities(model, split.x, batch_size).astype(np.float64), 1e-7, 1 - 1e-7)
    y = split.y.astype(np.float64)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    accuracy = float(np.mean(positive(p) == split.y))
    return {"loss": loss, "accuracy": accuracy, "reviews": len(split), "seconds": round(time.perf_counter() - start, 3)}


def evaluate_run(run_dir: str, data_path: str | None = None, batch_size: int = 512) -> dict:
    """Re-evaluate a run's model on the test split of the data it was trained on (or ``data_path``)."""
    run = read_run(run_dir)
    model = load_run_model(run)  # a bad or foreign model file fails before the data is read
    data = load_imdb(run.data_config(data_path))
    if run.vocabulary is not None and data.vocabulary is not None and run.vocabulary.sha256 != data.vocabulary.sha256:
        raise RunError(
            f"the data's vocabulary differs from the run's vocab.json: pass the --data the run {run_dir} was trained on"
        )
    return evaluate_split(model, data.test, batch_size)
