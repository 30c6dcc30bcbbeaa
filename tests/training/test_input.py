"""Proof on the CPU that Keras gets cuDNN-eligible batches: every piece of a real training epoch, and
every evaluation batch, passes tf_keras' own ``is_cudnn_supported_inputs`` (the check its LSTM runs per
batch on a GPU; a private API, fine under the tf-keras version pin). Right- and pre-padded input give
the same probabilities."""

import numpy as np
import pytest

from toolkit.config import DataConfig, ModelConfig, TrainConfig
from toolkit.edge import batches
from toolkit.training import buckets

pytestmark = pytest.mark.slow  # the real reviews


@pytest.fixture(scope="module")
def real_data(real_tarball, real_cache):
    from toolkit.data.dataset import load_data

    return load_data(DataConfig(path=str(real_tarball), cache_dir=real_cache))


def _eligible(ids: np.ndarray) -> bool:
    from tf_keras.src.layers.rnn.gru_lstm_utils import is_cudnn_supported_inputs

    from toolkit._tf import tf

    mask = tf.not_equal(tf.constant(ids), 0)  # what Embedding(mask_zero=True) computes
    return bool(is_cudnn_supported_inputs(mask, time_major=False, sequence_lengths=None))


class _TwoPipelines:
    """A 2-worker strategy stand-in (1 replica each): one input pipeline per worker."""

    num_replicas_in_sync = 2

    def distribute_datasets_from_function(self, make):
        from toolkit._tf import tf

        return [
            make(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2))
            for i in range(2)
        ]


def test_every_piece_of_a_real_default_epoch_is_cudnn_eligible(real_data):
    from toolkit._tf import tf
    from toolkit.training.input import train_input

    x, y = real_data.train.x, real_data.train.y
    model_cfg, train_cfg = ModelConfig(), TrainConfig()  # the defaults: masked padding, length buckets, batch 64
    dataset, steps = train_input(tf.distribute.get_strategy(), x, y, model_cfg, train_cfg)
    assert steps == 391
    pieces = [ids.numpy() for ids, _ in dataset.take(steps)]  # the tf.data pipeline that model.fit reads
    eligible = sum(_eligible(ids) for ids in pieces)
    print(f"\ncuDNN-eligible default training pieces, one real epoch: {eligible} of {len(pieces)}")
    assert eligible == len(pieces) == 391
    assert sum(len(p) for p in pieces) == 25_000
    # the same batches pre-padded, as they were fed before: cuDNN would have been skipped for most
    row_lengths = batches.lengths(x)
    pre = sum(
        _eligible(batches.trim(x[rows], row_lengths[rows]))
        for rows in buckets.epoch_batches(row_lengths, train_cfg.batch_size, train_cfg.seed, 0)
    )
    print(f"the same batches pre-padded: {pre} of 391 eligible")
    assert pre < 100


def test_each_replicas_piece_is_eligible_with_two_workers(real_data):
    from toolkit.training.input import bucketed_dataset

    x, y = real_data.train.x[:6400], real_data.train.y[:6400]
    (worker0, worker1), steps = bucketed_dataset(_TwoPipelines(), x, y, batch_size=64, seed=7)
    pieces = [ids.numpy() for w in (worker0, worker1) for ids, _ in w.take(steps)]
    assert len(pieces) == 200 and all(_eligible(p) for p in pieces)


def test_the_unbucketed_masked_input_and_evaluation_batches_are_eligible(real_data):
    from dataclasses import replace

    from toolkit._tf import tf
    from toolkit.training.input import train_input

    x, y = real_data.train.x[:1024], real_data.train.y[:1024]
    dataset, _ = train_input(
        tf.distribute.get_strategy(), x, y, ModelConfig(), replace(TrainConfig(), length_buckets=False)
    )
    assert all(_eligible(ids.numpy()) for ids, _ in dataset.take(8))
    groups = [
        ids for _, ids in batches.inference_batches(real_data.test.x, 512, variable_length=True, right_padded=True)
    ]
    assert len(groups) == 49 and all(_eligible(ids) for ids in groups)


def test_right_and_pre_padded_input_give_the_same_probabilities(real_data):
    from toolkit._tf import keras
    from toolkit.model.lstm import build_model

    keras.utils.set_random_seed(3)
    model = build_model(ModelConfig())
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])  # not near 0.5
    x = real_data.test.x[rng.permutation(len(real_data.test.x))[:512]]
    pre = batches.trim(x)
    right = batches.right_align(pre)
    p_pre, p_right = model.predict_on_batch(pre)[:, 0], model.predict_on_batch(right)[:, 0]
    diff = np.abs(p_pre.astype(np.float64) - p_right)
    print(
        f"\npre- vs right-padded, 512 real reviews: max |dp| {diff.max():.2e}; "
        f"probabilities {p_pre.min():.3f}..{p_pre.max():.3f}"
    )
    assert p_pre.std() > 0.05  # a model whose outputs vary, so the comparison means something
    assert diff.max() <= 1e-6
