"""training.buckets: each epoch's length buckets and each replica's pieces of them."""

import numpy as np

from tests.helpers import padded
from toolkit.edge import batches
from toolkit.training import buckets


def test_epoch_batches_cover_every_row_once_with_similar_lengths():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 500, size=1000)
    groups = buckets.epoch_batches(lengths, 32, seed=7, epoch=0, pool_batches=8)
    assert len(groups) == int(np.ceil(1000 / 32))
    rows = np.concatenate(groups)
    assert sorted(rows.tolist()) == list(range(1000))
    # within a batch lengths are close: far less padding than random batches of the same reviews
    padded = sum(lengths[b].max() * len(b) for b in groups)
    random_order = rng.permutation(1000)
    padded_random = sum(
        lengths[random_order[i : i + 32]].max() * len(random_order[i : i + 32]) for i in range(0, 1000, 32)
    )
    assert padded < 1.2 * lengths.sum() < padded_random


def test_epoch_batches_depend_on_seed_and_epoch_only():
    lengths = np.arange(200) % 37 + 1
    a = buckets.epoch_batches(lengths, 16, seed=7, epoch=2)
    b = buckets.epoch_batches(lengths, 16, seed=7, epoch=2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    c = buckets.epoch_batches(lengths, 16, seed=7, epoch=3)
    assert any(not np.array_equal(p, q) for p, q in zip(a, c))


def test_epoch_pieces_are_trimmed_right_padded_pieces_of_each_global_batch():
    x = padded(np.random.default_rng(3).integers(1, 30, size=101))
    lengths = batches.lengths(x)
    pieces = list(buckets.epoch_pieces(x, lengths, 10, seed=7, epoch=0, replicas=2, mine=range(2)))
    groups = [b for b in buckets.epoch_batches(lengths, 10, 7, 0) if len(b) >= 2]
    assert len(pieces) == 2 * len(groups)
    for k, rows in enumerate(groups):
        (rows0, tokens0), (rows1, tokens1) = pieces[2 * k], pieces[2 * k + 1]
        assert sorted(np.concatenate([rows0, rows1]).tolist()) == sorted(rows.tolist())
        for r, tokens in ((rows0, tokens0), (rows1, tokens1)):
            assert tokens.shape == (len(r), lengths[r].max())  # trimmed to the piece's longest review
            np.testing.assert_array_equal(batches.lengths(tokens), lengths[r])
            np.testing.assert_array_equal(batches.right_align(x[r])[:, : tokens.shape[1]], tokens)
