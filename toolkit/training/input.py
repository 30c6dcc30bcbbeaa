"""The training input: ``tf.data`` pipelines that feed ``model.fit`` (single process and Ray workers alike).

Two inputs, chosen by ``TrainConfig.length_buckets``:

* length buckets (the default, ``bucketed_dataset``): each global batch holds reviews of similar
  length (``buckets.epoch_batches``), split into one piece per replica in sync, each piece trimmed to
  its longest review and right-padded (cuDNN-eligible on GPUs);
* the tutorial's input (``train_dataset``): shuffled fixed-length batches, right-padded for a masked
  model, as encoded for the tutorial's.

Every worker computes the same batches (same seed and epoch) and feeds only its own replicas' share,
so no shared file system is needed and the shards never overlap.
"""

from __future__ import annotations

import numpy as np

from toolkit._tf import tf
from toolkit.config import ModelConfig, TrainConfig
from toolkit.core.errors import ConfigError
from toolkit.edge import batches
from toolkit.training import buckets


def train_input(
    strategy: tf.distribute.Strategy,
    x: np.ndarray,
    y: np.ndarray,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    initial_epoch: int = 0,
):
    """``(dataset, steps per epoch or None)`` for ``model.fit``: bucketed, or the tutorial's batches.
    (``JobConfig`` has checked that length buckets come with a masked model.)"""
    if train_cfg.length_buckets:
        dataset, steps = bucketed_dataset(strategy, x, y, train_cfg.batch_size, train_cfg.seed, initial_epoch)
        return dataset, capped(steps, train_cfg)
    # a masked model gets its reviews right-padded (cuDNN-eligible); the tutorial's, as encoded
    x = batches.right_align(x) if model_cfg.mask_padding else x
    dataset = train_dataset(x, y, train_cfg.batch_size, train_cfg.seed)
    return (dataset if train_cfg.steps_per_epoch is None else dataset.take(train_cfg.steps_per_epoch)), None


def capped(steps: int, train_cfg: TrainConfig) -> int:
    """Steps per epoch, at most ``--steps-per-epoch``."""
    return steps if train_cfg.steps_per_epoch is None else min(steps, train_cfg.steps_per_epoch)


def epoch_reviews(reviews: int, train_cfg: TrainConfig) -> int:
    """The reviews an epoch trains on (for its reviews/s): all, or ``--steps-per-epoch`` batches' worth."""
    if train_cfg.steps_per_epoch is None:
        return reviews
    return min(reviews, train_cfg.steps_per_epoch * train_cfg.batch_size)


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled (seeded, reshuffled every epoch) fixed-length batches of ``x`` as given.

    Under a multi-worker strategy every worker builds this same dataset (same seed, same order) and
    keeps its share of each global batch (``AutoShardPolicy.DATA``)."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)))
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def bucketed_dataset(
    strategy: tf.distribute.Strategy, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, initial_epoch: int = 0
):
    """Length-bucketed input (``buckets.epoch_pieces``): ``(distributed dataset, steps per epoch)``.

    The dataset runs epoch after epoch (from ``initial_epoch``: a resumed run sees the same batches
    as an uninterrupted one); Keras takes ``steps`` batches per epoch."""
    row_lengths = batches.lengths(x)
    y = y.astype(np.float32)
    replicas = strategy.num_replicas_in_sync
    steps = len(y) // batch_size + (1 if len(y) % batch_size >= replicas else 0)
    if steps == 0:
        raise ConfigError(f"{len(y)} reviews cannot feed {replicas} replicas a batch of {batch_size}")

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines  # replicas this worker feeds
        mine = range(context.input_pipeline_id * local, (context.input_pipeline_id + 1) * local)

        def pieces():
            epoch = initial_epoch
            while True:
                for rows, tokens in buckets.epoch_pieces(x, row_lengths, batch_size, seed, epoch, replicas, mine):
                    yield tokens, y[rows]
                epoch += 1

        spec = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32))
        return tf.data.Dataset.from_generator(pieces, output_signature=spec).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(make), steps


def validation_input(x: np.ndarray, y: np.ndarray, model_cfg: ModelConfig, batch_size: int) -> tf.data.Dataset:
    """The validation split for ``model.fit(validation_data=...)``: batches of similar length, each
    trimmed and right-padded as evaluation gets them (``edge.batches``); the tutorial's model gets
    fixed-length batches. Under a multi-worker strategy every worker builds the same batches and keeps
    its share of each (``AutoShardPolicy.DATA``); Keras all-reduces the metrics."""
    pieces = list(batches.inference_batches(x, batch_size, model_cfg.mask_padding, right_padded=True))
    labels = y.astype(np.float32)

    def generate():
        for rows, tokens in pieces:
            yield tokens, labels[rows]

    spec = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32))
    ds = tf.data.Dataset.from_generator(generate, output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def input_line(model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    """The input, in words, for the log."""
    if train_cfg.length_buckets:
        return "padding masked, batches of similar length trimmed to their longest review"
    masked = "padding masked" if model_cfg.mask_padding else "padding not masked"
    return f"fixed {model_cfg.maxlen}-token batches, {masked}"
