"""parity.compare / parity.check on tiny arrays: the typed-error API the README advertises."""

import numpy as np
import pytest

from toolkit.config import Tolerances
from toolkit.core.errors import (
    AccuracyDrop,
    LabelDisagreement,
    LabelFlips,
    NonFiniteProbabilities,
    ParityError,
    ProbabilityMismatch,
)
from toolkit.verify.parity import check, compare

Y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
IDS = np.array([f"test/{'pos' if y else 'neg'}/{i}_7" for i, y in enumerate(Y)])
KERAS = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6], dtype=np.float32)  # 6 of 8 right


def test_identical_probabilities_pass_with_every_figure_exact():
    p = compare("fp32", KERAS, KERAS.copy(), Y, IDS, Tolerances())
    assert p.passed and p.failure == ""
    assert (p.max_abs_diff, p.mean_abs_diff, p.p99_abs_diff, p.over_tolerance) == (0.0, 0.0, 0.0, 0)
    assert p.labels_equal == 8 and p.label_agreement == 1.0 and p.flipped == []
    assert p.keras_accuracy == p.onnx_accuracy == 0.75 and p.reviews == 8 and p.non_finite == 0
    check(p, Tolerances())  # no error


def test_a_difference_over_atol_is_a_probability_mismatch_even_without_a_flip():
    onnx = KERAS.copy()
    onnx[0] += 2e-5
    p = compare("fp32", KERAS, onnx, Y, IDS, Tolerances(atol=1e-5))
    assert not p.passed and p.over_tolerance == 1 and p.max_abs_diff == pytest.approx(2e-5, rel=1e-2)
    with pytest.raises(ProbabilityMismatch, match="1 of 8 probabilities differ"):
        check(p, Tolerances(atol=1e-5))
    assert compare("fp32", KERAS, onnx, Y, IDS, Tolerances(atol=3e-5)).passed
    # rtol widens the band relative to |p_keras| (0.9 x 3e-5 > 2e-5)
    assert compare("fp32", KERAS, onnx, Y, IDS, Tolerances(atol=0, rtol=3e-5)).passed


def test_flipped_labels_are_listed_with_their_review_ids_and_counted_against_the_limit():
    onnx = KERAS.copy()
    onnx[6], onnx[7] = 0.6, 0.4  # review 6 becomes positive (right), 7 negative (right)
    tol = Tolerances(atol=1.0)  # only the flips matter here
    p = compare("fp32", KERAS, onnx, Y, IDS, tol)
    assert [f["id"] for f in p.flipped] == [IDS[6], IDS[7]] and p.flipped[0]["label"] == 1
    assert p.flipped[0]["keras"] == pytest.approx(0.4) and p.flipped[0]["onnx"] == pytest.approx(0.6)
    assert p.labels_equal == 6 and p.onnx_accuracy == 1.0
    assert isinstance(_error(p, tol), LabelFlips)
    assert compare("fp32", KERAS, onnx, Y, IDS, Tolerances(atol=1.0, max_label_flips=2)).passed


def test_the_threshold_is_inclusive():
    p = compare("fp32", np.array([0.5], np.float32), np.array([0.4999], np.float32), Y[:1], IDS[:1], Tolerances(1))
    assert len(p.flipped) == 1 and p.flipped[0]["keras"] == 0.5  # 0.5 is positive, 0.4999 negative


@pytest.mark.parametrize("side", ["keras", "onnx"])
def test_nan_or_inf_on_either_side_fails_whatever_the_tolerances(side):
    bad = KERAS.copy()
    bad[[1, 3]] = [np.nan, np.inf]
    keras, onnx = (bad, KERAS) if side == "keras" else (KERAS, bad)
    tol = Tolerances(atol=1.0, max_label_flips=8)
    p = compare("fp32", keras, onnx, Y, IDS, tol)
    assert not p.passed and p.non_finite == 2 and p.max_abs_diff == np.inf
    assert isinstance(_error(p, tol), NonFiniteProbabilities)
    assert not compare("int8", keras, onnx, Y, IDS, Tolerances(max_accuracy_drop=1, min_label_agreement=0)).passed


def test_a_quantised_variant_is_judged_by_accuracy_and_agreement_not_by_dp():
    onnx = KERAS.copy() + 0.05  # far beyond atol, no label changes
    assert compare("int8", KERAS, onnx, Y, IDS, Tolerances()).passed
    worse = KERAS.copy()
    worse[0] = 0.1  # one right answer made wrong: accuracy 0.75 -> 0.625, agreement 7/8
    tol = Tolerances(max_accuracy_drop=0.1, min_label_agreement=0.5)
    p = compare("int8", KERAS, worse, Y, IDS, tol)
    assert not p.passed and isinstance(_error(p, tol), AccuracyDrop)
    assert "12.50 points below Keras" in p.failure
    tol = Tolerances(max_accuracy_drop=0.2, min_label_agreement=0.9)
    p = compare("int8", KERAS, worse, Y, IDS, tol)
    assert isinstance(_error(p, tol), LabelDisagreement) and "87.50% of reviews" in p.failure
    assert compare("int8", KERAS, worse, Y, IDS, Tolerances(max_accuracy_drop=0.2, min_label_agreement=0.8)).passed


def test_a_drop_or_agreement_exactly_at_the_limit_passes():
    """0.5150 -> 0.5100 on 400 reviews is 2 reviews, the 0.5 points allowed (as floats the drop is
    0.0050000000000000044 and failed); 398 of 400 labels equal is the 99.5 % asked for."""
    y = np.array([1] * 206 + [0] * 194)
    ids = np.array([f"test/{i}" for i in range(400)])
    keras = np.where(y == 1, 0.9, 0.1).astype(np.float32)  # 400 of 400 right
    keras[:194] = 0.1  # 194 positives called negative: 206 of 400 right (0.5150)
    onnx = keras.copy()
    onnx[194:196] = 0.1  # two more right answers made wrong: 204 of 400 (0.5100), 398 labels equal
    at_limit = Tolerances(max_accuracy_drop=0.005, min_label_agreement=0.995)
    p = compare("int8", keras, onnx, y, ids, at_limit)
    assert (p.keras_accuracy, p.onnx_accuracy, p.labels_equal) == (0.515, 0.51, 398)
    assert p.passed, p.failure
    onnx[196] = 0.1  # one review more: 3 reviews below, 397 labels equal
    p = compare("int8", keras, onnx, y, ids, at_limit)
    assert not p.passed and "0.75 points below Keras 0.5150 (allowed 0.50)" in p.failure
    assert not compare("int8", keras, onnx, y, ids, Tolerances(max_accuracy_drop=1, min_label_agreement=0.995)).passed


def test_the_text_model_is_held_to_the_fp32_gate():
    onnx = KERAS.copy()
    onnx[2] += 1e-3
    assert not compare("text", KERAS, onnx, Y, IDS, Tolerances()).passed
    assert compare("text-int8", KERAS, onnx, Y, IDS, Tolerances()).passed


def test_every_parity_error_is_a_toolkit_error_with_a_one_line_message():
    from toolkit.core.errors import ToolkitError

    onnx = KERAS.copy()
    onnx[:] = 0.0
    for variant, tol in (("fp32", Tolerances()), ("int8", Tolerances())):
        error = _error(compare(variant, KERAS, onnx, Y, IDS, tol), tol)
        assert isinstance(error, ParityError) and isinstance(error, ToolkitError) and "\n" not in str(error)


def _error(p, tol):
    """The error ``check`` raises for figures ``compare`` made with the same ``tol``: the one it recorded."""
    with pytest.raises(ParityError) as info:
        check(p, tol)
    assert not p.passed and str(info.value) == p.failure
    return info.value
