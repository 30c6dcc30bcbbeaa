"""data.splits: the class order, seeded stratified hold-outs (test and validation) and class-balanced subsets."""

import numpy as np
import pytest

from toolkit.config import MAX_CLASSES
from toolkit.core.errors import DataError
from toolkit.data.splits import (
    TEST_SALT,
    VALIDATION_SALT,
    balanced,
    check_test_labels,
    class_order,
    hold_out,
    hold_out_validation,
    per_class,
)


def items(counts):
    """``counts[c]`` items of class c, interleaved: ``(id, class, text)``."""
    labels = [c for c, n in enumerate(counts) for _ in range(n)]
    order = np.random.default_rng(0).permutation(len(labels))
    return [(f"r{i}", labels[j], f"text {i}") for i, j in enumerate(order)]


def test_integer_classes_sort_numerically_others_as_text():
    assert class_order(["10", "2", "2", "-1"], None, "d") == ("-1", "2", "10")
    assert class_order(["pos", "neg", "Neutral"], None, "d") == ("Neutral", "neg", "pos")
    assert class_order(["10", "2", "02"], None, "d") == ("02", "10", "2")  # "02" is not an integer's text
    assert class_order(["2.5", "10"], None, "d") == ("10", "2.5")


def test_given_labels_keep_their_order_and_must_all_be_in_training():
    assert class_order(["neg", "pos", "pos"], ("pos", "neg"), "d") == ("pos", "neg")
    with pytest.raises(DataError, match="--labels names 'neutral', which no training row of d has"):
        class_order(["neg", "pos"], ("neg", "neutral", "pos"), "d")


def test_one_class_and_too_many_classes_are_errors():
    with pytest.raises(DataError, match=r"hold one class only \('pos'\)"):
        class_order(["pos", "pos"], None, "reviews.csv")
    with pytest.raises(DataError, match=f"hold 1,001 classes, more than {MAX_CLASSES:,}"):
        class_order([str(i) for i in range(MAX_CLASSES + 1)], None, "d")
    assert len(class_order([str(i) for i in range(MAX_CLASSES)], None, "d")) == MAX_CLASSES


def test_a_test_label_unseen_in_training_is_named_with_its_count():
    check_test_labels(["a", "b"], ("a", "b"), "d")
    with pytest.raises(DataError, match="3 test rows of d have the label 'c', which no training row has"):
        check_test_labels(["a", "c", "c", "c"], ("a", "b"), "d")


def test_hold_out_is_stratified_disjoint_seeded_and_keeps_order():
    data = items([50, 30, 20])
    kept, held = hold_out(data, 0.2, seed=7, salt=TEST_SALT)
    assert len(held) == 20 and len(kept) == 80
    assert np.bincount([h[1] for h in held]).tolist() == [10, 6, 4]  # 20 % of each class
    assert not {h[0] for h in held} & {k[0] for k in kept}
    assert sorted(kept + held) == sorted(data)
    position = {it[0]: i for i, it in enumerate(data)}
    assert [position[k[0]] for k in kept] == sorted(position[k[0]] for k in kept)
    assert hold_out(data, 0.2, 7, TEST_SALT) == (kept, held)  # seeded
    assert hold_out(data, 0.2, 8, TEST_SALT)[1] != held
    assert hold_out(data, 0.2, 7, VALIDATION_SALT)[1] != held  # the validation hold-out is another draw


def test_hold_out_shares_the_total_by_largest_remainders_and_each_class_keeps_one():
    # 20 % of 15 is 3: 1.4, 1.4 and 0.2 round down to 1, 1, 0; the one left goes to the largest remainder
    # (a tie: the first class), never the class of one item
    kept, held = hold_out(items([7, 7, 1]), 0.2, seed=0, salt=1)
    assert len(held) == 3 and np.bincount([h[1] for h in held], minlength=3).tolist() == [2, 1, 0]
    assert {k[1] for k in kept} == {0, 1, 2}
    kept, held = hold_out(items([1, 1]), 0.5, seed=0, salt=1)
    assert held == [] and len(kept) == 2


def test_validation_hold_out_needs_enough_rows():
    train, validation = hold_out_validation(items([10, 10]), 0.1, seed=3)
    assert len(validation) == 2 and len(train) == 18
    with pytest.raises(DataError, match="too few to hold out 10 % as a validation set"):
        hold_out_validation(items([1, 1]), 0.1, seed=3)


def test_balanced_subsets_give_the_counts_or_what_a_class_has():
    data = items([10, 3, 10])
    assert per_class(8, 3) == [3, 3, 2] and per_class(2, 3) == [1, 1, 0]
    chosen = balanced([it[1] for it in data], per_class(8, 3), seed=1)
    assert np.bincount([data[i][1] for i in chosen]).tolist() == [3, 3, 2]
    chosen = balanced([it[1] for it in data], [4, 4, 4], seed=1)
    assert np.bincount([data[i][1] for i in chosen]).tolist() == [4, 3, 4]  # class 1 has 3
    assert chosen == balanced([it[1] for it in data], [4, 4, 4], seed=1)
    assert [data[i][1] for i in chosen] == sorted(data[i][1] for i in chosen)  # class by class
