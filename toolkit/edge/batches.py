"""Length-aware batching: batches of reviews of similar length, each trimmed to its longest review.

Reviews are pre-padded to ``maxlen`` (500) tokens, but their median length is about 175: a batch of
random reviews runs the LSTM over mostly padding. Here, reviews are grouped so that each batch holds
reviews of similar length, and each batch keeps only its last ``longest`` columns (pre-padding means
the tokens are at the end). A model that masks its padding gives the same probabilities either way.

Keras gets its batches right-padded (tokens first, :func:`right_align`): tf_keras' LSTM runs its cuDNN
kernel on a masked batch only when the batch is strictly right-padded with no all-padding row
(``tf_keras/src/layers/rnn/gru_lstm_utils.py``: ``is_cudnn_supported_inputs``); a pre-padded masked batch
silently takes the generic kernel, several times slower on a GPU. The mask makes the probabilities the
same either way. ``text.py``'s encoding (pre-padded) stays the one spec; the exported ONNX model
accepts either padding.

Pure NumPy (no TensorFlow): training, ``verify``, ``bench`` and edge inference (``predict``) use it.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from toolkit.edge.text import PAD_ID


def lengths(x: np.ndarray) -> np.ndarray:
    """Tokens per row of a pre-padded id matrix (everything after the leading padding)."""
    return (x != PAD_ID).sum(axis=1).astype(np.int32)


def trim(x: np.ndarray, rows_lengths: np.ndarray | None = None) -> np.ndarray:
    """``x`` without the columns that are padding in every row (at least one column is kept)."""
    longest = int((lengths(x) if rows_lengths is None else rows_lengths).max(initial=1))
    return x[:, x.shape[1] - max(longest, 1) :]


def right_align(x: np.ndarray, rows_lengths: np.ndarray | None = None) -> np.ndarray:
    """Each row of a pre-padded id matrix rotated so that its tokens come first and its padding last.

    ``[0 0 5 6 7] -> [5 6 7 0 0]``: row i's ``n`` tokens move from the last ``n`` columns to the first."""
    n = lengths(x) if rows_lengths is None else rows_lengths
    width = x.shape[1]
    columns = (np.arange(width)[None, :] + (width - n)[:, None]) % width
    return np.take_along_axis(x, columns, axis=1)


def inference_batches(
    x: np.ndarray, batch_size: int, variable_length: bool, right_padded: bool = False
) -> Iterator[tuple]:
    """``(rows, tokens)`` for inference; put each batch's results at ``out[rows]``.

    A variable-length model (masked padding) gets batches of ascending length, each trimmed to its
    longest review (and right-aligned with ``right_padded``: what Keras needs for cuDNN); the
    tutorial's fixed-length model gets ``x``'s rows in order, all columns, as encoded."""
    if not variable_length:
        for start in range(0, len(x), batch_size):
            yield slice(start, start + batch_size), x[start : start + batch_size]
        return
    row_lengths = lengths(x)
    order = np.argsort(row_lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        tokens = trim(x[rows], row_lengths[rows])
        yield rows, (right_align(tokens, row_lengths[rows]) if right_padded else tokens)
