import numpy as np

from toolkit.config import ModelConfig
from toolkit.model import INPUT_NAME, OUTPUT_NAME, build_model


def test_seed_architecture_has_213301_parameters_and_named_io():
    model = build_model(ModelConfig())
    assert model.count_params() == 213_301
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 213_301
    assert model.input.name.startswith(INPUT_NAME) and model.input.dtype.name == "int32"
    assert tuple(model.input.shape) == (None, 500)
    assert model.output_names == [OUTPUT_NAME] and tuple(model.output.shape) == (None, 1)
    assert [layer.__class__.__name__ for layer in model.layers] == [
        "InputLayer", "Embedding", "Dropout", "LSTM", "Dropout", "Dense"]


def test_sizes_are_configurable():
    cfg = ModelConfig(num_words=100, maxlen=20, embedding_dim=8, lstm_units=4)
    model = build_model(cfg)
    assert model.count_params() == 100 * 8 + 4 * (4 * (8 + 4) + 4) + 4 + 1
    probs = model.predict(np.zeros((3, 20), dtype=np.int32), verbose=0)
    assert probs.shape == (3, 1) and ((probs > 0) & (probs < 1)).all()
