"""The seed model: Embedding(5000, 32) -> Dropout(0.2) -> LSTM(100) -> Dropout(0.2) -> Dense(1, sigmoid).

At the defaults it has 213,301 trainable parameters: 5000*32 for the embedding,
4*(100*(32+100) + 100) for the LSTM's four gates, 100 + 1 for the output. K > 2 classes
(``ModelConfig.classes``) replace the head by Dense(K, softmax): 101 * K parameters.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from toolkit._tf import keras, tf
from toolkit.artifacts.runs import Run
from toolkit.config import ModelConfig, TrainConfig
from toolkit.core.errors import RunError, first_line
from toolkit.edge.contract import OUTPUT, TOKENS_INPUT


def build_model(cfg: ModelConfig = ModelConfig()) -> "keras.Model":
    """``token_ids`` int32 ``[batch, tokens]`` -> ``probability`` float32 ``[batch, 1]`` for two classes
    (the seed's sigmoid head), ``[batch, K]`` for K > 2 (softmax) (uncompiled).

    With ``cfg.mask_padding`` (the default) ``tokens`` is any length and padding (id 0) is masked: the
    LSTM's state stays at zero through the leading padding, so the probability is the one of the
    unpadded review. Without it (the tutorial's model) ``tokens`` is ``cfg.maxlen``. The weights are
    the same in both (masking adds none)."""
    length = None if cfg.mask_padding else cfg.maxlen
    token_ids = keras.Input(shape=(length,), dtype=tf.int32, name=TOKENS_INPUT)
    x = keras.layers.Embedding(cfg.num_words, cfg.embedding_dim, mask_zero=cfg.mask_padding, name="embedding")(
        token_ids
    )
    x = keras.layers.Dropout(cfg.dropout, name="dropout_embedding")(x)
    x = keras.layers.LSTM(cfg.lstm_units, name="lstm")(x)
    x = keras.layers.Dropout(cfg.dropout, name="dropout_lstm")(x)
    if cfg.num_classes == 2:
        probability = keras.layers.Dense(1, activation="sigmoid", name=OUTPUT)(x)
    else:
        probability = keras.layers.Dense(cfg.num_classes, activation="softmax", name=OUTPUT)(x)
    return keras.Model(token_ids, probability, name="imdb_lstm")


def compile_model(model: "keras.Model", cfg: TrainConfig = TrainConfig()) -> "keras.Model":
    """Adam + binary cross-entropy + accuracy, as in the tutorial (plus gradient clipping, see TrainConfig);
    a K-class model (softmax head) gets sparse categorical cross-entropy on the class indexes."""
    clip = {"global_clipnorm": cfg.clipnorm} if cfg.clipnorm > 0 else {}
    binary = model.output.shape[-1] == 1
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate, **clip),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_run_model(run: "Run") -> "keras.Model":
    """A run folder's trained Keras model: architecture from its config, weights from ``model.keras``."""
    return load_trained(run.model_file, run.model_config)


def load_trained(path: Path, cfg: ModelConfig) -> "keras.Model":
    """A trained model from a run's ``model.keras``, loading weights only, never code.

    ``keras.models.load_model`` would deserialize whatever the file describes, and sends a file that is
    not a zip (say, an HDF5 file named ``model.keras``) to the legacy loader, which runs ``Lambda``
    layers' code whatever ``safe_mode`` says. Here the architecture is rebuilt from ``cfg`` (the run's
    config) and only the weight arrays are read from the Keras v3 zip's ``model.weights.h5``."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            raise RunError(
                f"{path} is not a Keras v3 model file (a .keras zip): refusing to load it; "
                "train the run again with 'toolkit train'"
            )
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise RunError(f"{path} holds no model.weights.h5: not a model saved by toolkit; train the run again")
    except OSError as exc:
        raise RunError(f"cannot read {path} ({exc.strerror or exc}): train the run again") from None
    model = build_model(cfg)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # h5py and Keras raise many types for a corrupt or foreign file
        raise RunError(
            f"cannot load the weights in {path} into the run's architecture ({first_line(exc)[:200]}): "
            "train the run again"
        ) from None
    return model


def compiled_model(model_cfg: ModelConfig, train_cfg: TrainConfig, strategy=None) -> "keras.Model":
    """The model built and compiled inside ``strategy``'s scope (the default strategy when None): what
    single-process training, each Ray worker and the benchmarks train."""
    with (strategy or tf.distribute.get_strategy()).scope():
        return compile_model(build_model(model_cfg), train_cfg)


def unmasked_twin(model: "keras.Model") -> "keras.Model":
    """The same layers and weights without the embedding's mask (what tf2onnx and the LiteRT converter
    get: a masked LSTM would become a ``Loop``; padding is handled by ``onnxgraph.skip_padding``)."""
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "Embedding":
            layer["config"]["mask_zero"] = False
    twin = keras.Model.from_config(config)
    twin.set_weights(model.get_weights())
    return twin
