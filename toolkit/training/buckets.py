"""Length buckets for training: each epoch's global batches of reviews of similar length, and each
replica's piece of them (pure NumPy; the seed and epoch fix them, so every worker cuts the same).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from toolkit.edge.batches import right_align, trim

POOL_BATCHES = 50  # training: batches per sorting pool (randomness across pools, similar lengths within)


def epoch_batches(
    row_lengths: np.ndarray, batch_size: int, seed: int, epoch: int, pool_batches: int = POOL_BATCHES
) -> list[np.ndarray]:
    """One training epoch's global batches as row indices: shuffle (seeded by ``seed`` and ``epoch``),
    cut into pools of ``pool_batches`` batches, sort each pool by length, cut it into batches, shuffle
    the batch order. Every row appears exactly once; as many batches as plain batching gives."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(row_lengths))
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(row_lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def epoch_pieces(
    x: np.ndarray, row_lengths: np.ndarray, batch_size: int, seed: int, epoch: int, replicas: int, mine: range
) -> Iterator[np.ndarray]:
    """One training epoch's batch pieces for the replicas in ``mine``, as Keras gets them: each global
    batch of :func:`epoch_batches` split into ``replicas`` pieces in order, each piece trimmed to its
    longest review and right-aligned (cuDNN-eligible). Yields ``(row indices, tokens)``. A last batch
    smaller than ``replicas`` cannot be split and is left out."""
    for rows in epoch_batches(row_lengths, batch_size, seed, epoch):
        if len(rows) < replicas:
            continue
        split = np.array_split(rows, replicas)
        for r in mine:
            piece = trim(x[split[r]], row_lengths[split[r]])
            yield split[r], right_align(piece, row_lengths[split[r]])
