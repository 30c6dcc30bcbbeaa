"""The Keras reference: the run an export was made from, and its probabilities on the CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from toolkit.artifacts.runs import Run, read_run
from toolkit.core.errors import ExportError
from toolkit.core.files import sha256_file
from toolkit.core.progress import Progress
from toolkit.edge import batches
from toolkit.edge.contract import THRESHOLD
from toolkit.edge.sessions import check_export

REFERENCE_DEVICE = "/CPU:0"  # where the Keras reference runs (see keras_probabilities)


def keras_probabilities(run: Run, tokens: np.ndarray, batch_size: int, variable_length: bool) -> np.ndarray:
    """The reference: Keras on the CPU (``REFERENCE_DEVICE``), whatever accelerators are visible. On a
    GPU, cuDNN's kernels and TF32 matmuls (on by default on Ampere and newer) move probabilities by
    more than ``atol`` 1e-5; onnxruntime runs on the CPU, so the reference does too. Batches are
    right-padded, as Keras gets them in training. float32 ``[n]`` for a one-unit output (two classes: the
    second's probability), ``[n, K]`` for a K-unit output."""
    from toolkit._tf import tf
    from toolkit.model.lstm import load_run_model

    with tf.device(REFERENCE_DEVICE):
        model = load_run_model(run)
        bar = Progress(len(tokens), "keras", unit=" reviews")
        out = predict_all(model, tokens, batch_size, variable_length, bar.update)
    bar.close()
    return out


def predict_all(model, tokens: np.ndarray, batch_size: int, variable_length: bool, progress=None) -> np.ndarray:
    """``model.predict_on_batch`` over right-padded batches of ``tokens``, each row in its place:
    ``[n]`` for a one-unit output, ``[n, K]`` for K units; ``progress(done)`` after each batch."""
    units = int(model.output.shape[-1])
    out = np.empty((len(tokens), units), dtype=np.float32)
    done = 0
    for rows, batch in batches.inference_batches(tokens, batch_size, variable_length, right_padded=True):
        out[rows] = model.predict_on_batch(batch)
        done += len(batch)
        if progress:
            progress(done)
    return out[:, 0] if units == 1 else out


def matching_run(export_dir: Path, meta: dict, run_dir: Optional[str | os.PathLike]) -> Run:
    """The run an export came from, proven by checksums rather than trusted by name; every model in
    the export checked (``sessions.check_export``) and labelling the classes as the run does."""
    expected = meta.get("provenance.keras_sha256")
    if not expected:
        raise ExportError(
            f"{export_dir} records no checksum of its Keras model (an older export): export the run again"
        )
    run_dir = run_dir if run_dir is not None else meta.get("provenance.run_dir")
    if not run_dir:
        raise ExportError(f"{export_dir} records no run folder: pass --run with the run folder it came from")
    run = read_run(run_dir)
    actual = sha256_file(run.model_file)
    if actual != expected:
        raise ExportError(
            f"{run.model_file} is not the model {export_dir} was exported from (sha256 {actual[:12]}..., "
            f"the export records {expected[:12]}...): pass --run with the run folder it came from"
        )
    anchor = check_export(export_dir)  # every variant: made from the files beside it, metadata intact
    labels, threshold = run_labels(run)
    if list(anchor.labels) != labels or anchor.threshold != threshold:
        raise ExportError(
            f"{anchor.path} labels the classes {list(anchor.labels)} at threshold {anchor.threshold}, but the run "
            f"{run.path} has {labels} at {threshold}: export the run again"
        )
    return run


def run_labels(run: Run) -> tuple[list[str], Optional[float]]:
    """The class names the run trained (its config's ``model.classes``; a run without them has
    ``contract.LABELS``) and its decision threshold: ``contract.THRESHOLD`` for two classes, None for K
    (argmax)."""
    classes = list(run.model_config.classes)
    return classes, (THRESHOLD if len(classes) == 2 else None)
