"""edge.batches: lengths, trimming, right alignment and inference batches put back in the caller's order."""

import numpy as np
import pytest

from tests.helpers import padded
from toolkit.edge import batches


def test_lengths_and_trim():
    x = padded([3, 1, 7])
    assert batches.lengths(x).tolist() == [3, 1, 7]
    t = batches.trim(x)
    assert t.shape == (3, 7) and np.array_equal(t, x[:, -7:])
    assert batches.trim(np.zeros((2, 5), np.int32)).shape == (2, 1)  # never zero columns


@pytest.mark.parametrize("variable_length, right_padded", [(True, False), (True, True), (False, False)])
def test_inference_batches_put_every_result_back_in_place(variable_length, right_padded):
    x = padded(np.random.default_rng(2).integers(1, 30, size=53))
    out = np.full(len(x), -1, np.int64)
    widths = []
    for rows, tokens in batches.inference_batches(x, 8, variable_length, right_padded):
        assert len(tokens) <= 8
        widths.append(tokens.shape[1])
        if right_padded:
            tokens = batches.right_align(tokens[:, ::-1])[:, ::-1]  # back to pre-padding
        out[rows] = tokens[:, -1]  # each row's last token identifies it
    assert np.array_equal(out, x[:, -1])
    if variable_length:
        assert widths == sorted(widths) and widths[0] < 30  # ascending lengths, trimmed
    else:
        assert set(widths) == {30}


def test_right_align_moves_every_rows_tokens_first():
    x = padded([3, 1, 7, 30])
    r = batches.right_align(x)
    for row, n in zip(r, [3, 1, 7, 30]):
        assert (row[:n] != 0).all() and (row[n:] == 0).all()
    np.testing.assert_array_equal(r[:, :7][2], x[2, -7:])  # same tokens, same order
    np.testing.assert_array_equal(batches.lengths(r), batches.lengths(x))
    np.testing.assert_array_equal(batches.right_align(x, batches.lengths(x)), r)
