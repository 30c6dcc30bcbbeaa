"""model.evaluate: loss, accuracy and per-class accuracy of a Keras model on a split, two or K classes."""

import numpy as np

from toolkit.config import ModelConfig
from toolkit.data.encoded import Split
from toolkit.model.evaluate import evaluate_split, predict_probabilities
from toolkit.model.lstm import build_model


def _split(y):
    x = np.zeros((len(y), 6), dtype=np.int32)
    x[:, -3:] = np.arange(3 * len(y)).reshape(len(y), 3) % 40 + 3
    return Split(x, np.array(y, dtype=np.int32), np.array([f"r{i}" for i in range(len(y))]))


def test_k_classes_loss_is_the_mean_negative_log_probability_of_the_true_class():
    from toolkit._tf import keras

    keras.utils.set_random_seed(1)
    model = build_model(ModelConfig(num_words=50, maxlen=6, classes=("a", "b", "c")))
    split = _split([0, 1, 2, 2, 1])
    p = predict_probabilities(model, split.x, batch_size=2)
    assert p.shape == (5, 3)
    figures = evaluate_split(model, split, batch_size=2, classes=("a", "b", "c"))
    expected = -np.mean(np.log(p[np.arange(5), split.y].astype(np.float64)))
    assert abs(figures["loss"] - expected) < 1e-6
    guessed = p.argmax(axis=1)
    assert figures["accuracy"] == np.mean(guessed == split.y)
    assert figures["per_class_accuracy"]["c"] == np.mean(guessed[[2, 3]] == 2)


def test_two_classes_keep_binary_cross_entropy_of_the_second_class_probability():
    from toolkit._tf import keras

    keras.utils.set_random_seed(2)
    model = build_model(ModelConfig(num_words=50, maxlen=6))
    split = _split([0, 1, 1, 0])
    p = predict_probabilities(model, split.x, batch_size=3).astype(np.float64)
    assert p.shape == (4,)
    y = split.y
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    figures = evaluate_split(model, split, batch_size=3)
    assert abs(figures["loss"] - bce) < 1e-6 and figures["accuracy"] == np.mean((p >= 0.5) == y)
    assert "per_class_accuracy" not in figures
