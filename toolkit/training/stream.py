"""Streamed training input: a Ray Train worker's share of prepared shards (``toolkit.data.prepared``)
through Ray Data (``ray.train.get_dataset_shard``: a streaming split, equal rows per worker), as
``model.fit`` takes it. The driver never holds the training set, and no worker holds more than a window.

Each epoch the worker reads its rows in a stream and cuts them as the in-memory path does
(``training.buckets``): a window of ``POOL_BATCHES`` batches' rows is shuffled (seeded by the seed, the
epoch and the worker's rank), sorted by length, cut into the worker's batches, and the batches' order
shuffled; each batch is split into one piece per local replica, trimmed to its longest review and
right-padded (cuDNN-eligible). Rows left over from a window go into the next; only the epoch's last
batch may be short. Every worker gets the same number of rows (Ray Train's split is ``equal``), so every
worker takes the same number of steps, as ``MultiWorkerMirroredStrategy`` needs; each review is seen
once per epoch (the few rows beyond an equal split are left out of it).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from toolkit._tf import tf
from toolkit.core.errors import ConfigError
from toolkit.training.buckets import POOL_BATCHES

READ_ROWS = 4096  # rows per batch read from the stream


def steps_per_epoch(rows_per_worker: int, per_worker: int, local: int) -> int:
    """Full batches of ``per_worker`` rows, plus a short last one if it feeds each local replica a row."""
    return rows_per_worker // per_worker + (1 if rows_per_worker % per_worker >= local else 0)


def window_pieces(
    ids: list, labels: np.ndarray, lengths: np.ndarray, per_worker: int, local: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One window's ``(tokens, labels)`` pieces: shuffled, sorted by length, cut into batches of
    ``per_worker`` rows (the last may be shorter; one shorter than ``local`` is left out), batches in a
    shuffled order, each split into ``local`` right-padded pieces."""
    order = rng.permutation(len(labels))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[i : i + per_worker] for i in range(0, len(order), per_worker)]
    for b in rng.permutation(len(batches)):
        rows = batches[b]
        if len(rows) < local:
            continue
        for part in np.array_split(rows, local):
            width = max(1, int(lengths[part].max()))
            tokens = np.zeros((len(part), width), dtype=np.int32)
            for i, r in enumerate(part):
                tokens[i, : lengths[r]] = ids[r]
            yield tokens, labels[part]


def epoch_pieces(shard, per_worker: int, local: int, seed: int, epoch: int, rank: int) -> Iterator[tuple]:
    """One epoch of this worker's pieces from its Ray Data shard (see the module)."""
    rng = np.random.default_rng([seed, epoch, rank])
    window = per_worker * POOL_BATCHES
    ids: list = []
    labels: list = []
    lengths: list = []
    for batch in shard.iter_batches(batch_size=READ_ROWS, batch_format="numpy", prefetch_batches=2):
        ids += list(batch["ids"])
        labels.append(batch["label"].astype(np.float32))
        lengths.append(batch["length"].astype(np.int64))
        while len(ids) >= window:
            y, n = np.concatenate(labels), np.concatenate(lengths)
            yield from window_pieces(ids[:window], y[:window], n[:window], per_worker, local, rng)
            ids, labels, lengths = ids[window:], [y[window:]], [n[window:]]
    if ids:
        yield from window_pieces(ids, np.concatenate(labels), np.concatenate(lengths), per_worker, local, rng)


def streamed_dataset(
    strategy: tf.distribute.Strategy,
    shard,
    rows: int,
    world: int,
    rank: int,
    batch_size: int,
    seed: int,
    initial_epoch: int,
    epochs: int,
):
    """``(distributed dataset, steps per epoch)`` for ``model.fit``: epochs ``initial_epoch`` to
    ``epochs`` of this worker's shard (``rows``: the training rows of all workers)."""
    replicas = strategy.num_replicas_in_sync
    local = replicas // world
    per_worker = batch_size // world
    rows_per_worker = rows // world
    steps = steps_per_epoch(rows_per_worker, per_worker, local) if per_worker else 0
    if steps == 0:
        raise ConfigError(f"{rows} reviews cannot feed {replicas} replicas a batch of {batch_size}")

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        def pieces():
            for epoch in range(initial_epoch, epochs):
                yield from epoch_pieces(shard, per_worker, local, seed, epoch, rank)

        spec = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32))
        return tf.data.Dataset.from_generator(pieces, output_signature=spec).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(make), steps
