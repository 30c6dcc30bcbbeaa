import numpy as np

from toolkit.config import ModelConfig
from toolkit.edge.contract import OUTPUT, TOKENS_INPUT
from toolkit.model.lstm import build_model


def test_seed_architecture_has_213301_parameters_and_named_io():
    for mask_padding, length in ((True, None), (False, 500)):
        model = build_model(ModelConfig(mask_padding=mask_padding))
        assert model.count_params() == 213_301  # masking adds no weights
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 213_301
        assert model.input.name.startswith(TOKENS_INPUT) and model.input.dtype.name == "int32"
        assert tuple(model.input.shape) == (None, length)
        assert model.output_names == [OUTPUT] and tuple(model.output.shape) == (None, 1)
        assert [layer.__class__.__name__ for layer in model.layers] == [
            "InputLayer",
            "Embedding",
            "Dropout",
            "LSTM",
            "Dropout",
            "Dense",
        ]
        assert model.get_layer("embedding").mask_zero is mask_padding


def test_sizes_are_configurable():
    cfg = ModelConfig(num_words=100, maxlen=20, embedding_dim=8, lstm_units=4, mask_padding=False)
    model = build_model(cfg)
    assert model.count_params() == 100 * 8 + 4 * (4 * (8 + 4) + 4) + 4 + 1
    probs = model.predict(np.zeros((3, 20), dtype=np.int32), verbose=0)
    assert probs.shape == (3, 1) and ((probs > 0) & (probs < 1)).all()


def test_masked_model_ignores_leading_padding_the_tutorials_does_not():
    from toolkit._tf import keras

    keras.utils.set_random_seed(3)
    masked = build_model(ModelConfig(num_words=50, maxlen=40))
    faithful = build_model(ModelConfig(num_words=50, maxlen=40, mask_padding=False))
    faithful.set_weights(masked.get_weights())  # same weights, only the mask differs
    rng = np.random.default_rng(0)
    reviews = [np.r_[1, rng.integers(3, 50, size=n)].astype(np.int32) for n in (1, 7, 19, 39)]
    for review in reviews:
        bare = masked.predict_on_batch(review[None, :])[0, 0]
        for padding in (1, 5, 40 - len(review)):
            padded = np.r_[np.zeros(padding, np.int32), review][None, :]
            assert abs(masked.predict_on_batch(padded)[0, 0] - bare) <= 1e-6
        full = np.r_[np.zeros(40 - len(review), np.int32), review][None, :]
        assert (
            abs(masked.predict_on_batch(full)[0, 0] - faithful.predict_on_batch(full)[0, 0]) > 1e-5 or len(review) == 40
        )


def test_more_than_two_classes_get_a_softmax_head_and_sparse_categorical_cross_entropy():
    from toolkit.config import TrainConfig
    from toolkit.model.lstm import compile_model

    model = build_model(ModelConfig(num_words=50, maxlen=10, classes=("a", "b", "c")))
    assert model.count_params() == 213_301 - 5000 * 32 + 50 * 32 + 2 * 101  # Dense(3) instead of Dense(1)
    assert tuple(model.output.shape) == (None, 3) and model.layers[-1].activation.__name__ == "softmax"
    compile_model(model, TrainConfig())
    assert model.loss == "sparse_categorical_crossentropy"
    p = model.predict(np.array([[1, 5, 9, 0], [1, 7, 0, 0]], dtype=np.int32), verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    two = compile_model(build_model(ModelConfig(num_words=50, maxlen=10)), TrainConfig())
    assert two.loss == "binary_crossentropy" and tuple(two.output.shape) == (None, 1)
