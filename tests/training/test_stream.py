"""training.stream's windows: every row once, batches of similar length, right-padded pieces, the same
number of steps on every worker (the streamed path on real Ray: tests/training/ray/test_s3.py)."""

import numpy as np

from toolkit.training.stream import epoch_pieces, steps_per_epoch, window_pieces


def _window(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 60, n)
    ids = [rng.integers(3, 100, k).astype(np.int32) for k in lengths]
    return ids, np.arange(n, dtype=np.float32), lengths


def test_a_window_feeds_every_row_once_in_length_sorted_right_padded_pieces():
    ids, labels, lengths = _window(1000)
    pieces = list(window_pieces(ids, labels, lengths, per_worker=64, local=2, rng=np.random.default_rng(1)))
    seen = np.concatenate([y for _, y in pieces]).astype(int)
    assert sorted(seen) == list(range(1000))  # every row once (1000 % 64 = 40 >= 2 local replicas)
    assert len(pieces) == 2 * steps_per_epoch(1000, 64, 2)
    for tokens, y in pieces:
        rows = y.astype(int)
        assert tokens.shape[1] == lengths[rows].max()  # trimmed to its longest review
        for row, r in zip(tokens, rows):
            np.testing.assert_array_equal(row[: lengths[r]], ids[r])  # ids first, then padding
            assert not row[lengths[r] :].any()
    spreads = [np.ptp(lengths[y.astype(int)]) for _, y in pieces[:-2]]
    assert np.median(spreads) <= 3  # a window sorted by length: similar lengths in a batch


def test_the_order_depends_on_the_seed_and_a_short_last_batch_below_the_replicas_is_left_out():
    ids, labels, lengths = _window(129)
    a = [y for _, y in window_pieces(ids, labels, lengths, 64, 2, np.random.default_rng(1))]
    b = [y for _, y in window_pieces(ids, labels, lengths, 64, 2, np.random.default_rng(1))]
    c = [y for _, y in window_pieces(ids, labels, lengths, 64, 2, np.random.default_rng(2))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert sum(len(y) for y in a) == 128  # one row left over cannot feed 2 replicas
    assert steps_per_epoch(129, 64, 2) == 2 and steps_per_epoch(130, 64, 2) == 3 and steps_per_epoch(63, 64, 1) == 1


class _Blocks:
    """Rows in blocks of 1,000, as ``DataIterator.iter_batches`` hands a worker its share (numpy batches,
    ``ids`` an object array); not aligned with the reads nor the windows."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.lengths = rng.integers(1, 50, n)
        self.n = n

    def iter_batches(self, batch_size, batch_format, prefetch_batches):
        assert batch_format == "numpy"
        for start in range(0, self.n, 1000):
            rows = range(start, min(start + 1000, self.n))
            ids = np.empty(len(rows), dtype=object)
            ids[:] = [np.full(self.lengths[r], 3 + r % 90, np.int32) for r in rows]
            yield {
                "ids": ids,
                "label": np.arange(rows.start, rows.stop),
                "length": self.lengths[rows.start : rows.stop],
            }


def test_an_epoch_carries_rows_over_windows_and_takes_as_many_steps_as_every_other_worker():
    for n in (1, 31, 33, 1599, 1601, 3201, 5000, 12345):
        for per_worker, local in ((32, 1), (32, 2), (64, 4), (7, 3)):
            pieces = list(epoch_pieces(_Blocks(n), per_worker, local, seed=7, epoch=0, rank=0))
            seen = np.concatenate([y for _, y in pieces]).astype(int) if pieces else np.array([], int)
            assert len(pieces) == local * steps_per_epoch(n, per_worker, local), (n, per_worker, local)
            assert len(set(seen)) == len(seen) and n - len(seen) < local  # each row once; fewer than local left
    a = [y for _, y in epoch_pieces(_Blocks(5000), 32, 2, seed=7, epoch=0, rank=0)]
    b = [y for _, y in epoch_pieces(_Blocks(5000), 32, 2, seed=7, epoch=1, rank=0)]
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))  # another epoch, another order
