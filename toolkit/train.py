"""Single-process training: the tutorial's recipe, one process, every local device.

``train(data_cfg, model_cfg, train_cfg)`` loads the encoded reviews, fits the seed model
(Adam, binary cross-entropy, 3 epochs of global batch 64 by default), evaluates it on the test split
and writes the run folder. With more than one GPU visible it replicates with ``MirroredStrategy``
(the global batch is split evenly across replicas); on CPU with the seed fixed, op determinism makes
two runs produce identical weights.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, batching
from ._tf import keras, tf
from .config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from .data import ImdbData, Split, load_imdb
from .errors import ConfigError, RunError, TrainingDiverged
from .model import build_model, compile_model
from .progress import Progress, log
from .rundir import check_writable, read_run, rescue, run_path, write_run


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    metrics: dict


def local_strategy() -> "tf.distribute.Strategy":
    """MirroredStrategy over the local GPUs when there are several (or, without GPUs, over several
    logical CPU devices when the CPU was split); otherwise the default one-device strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus if gpus else tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds; op determinism on CPU-only machines (identical reruns)."""
    keras.utils.set_random_seed(seed)
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> "tf.data.Dataset":
    """The tutorial's input: shuffled (seeded, reshuffled every epoch) fixed-length batches of ``x`` as given.

    Under a multi-worker strategy every worker builds this same dataset (same seed, same order) and
    keeps its share of each global batch (``AutoShardPolicy.DATA``), so no shared file system is
    needed and the shards never overlap."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)))
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def bucketed_dataset(
    strategy: "tf.distribute.Strategy", x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, initial_epoch: int = 0
):
    """Length-bucketed input (``toolkit.batching.epoch_batches``): ``(distributed dataset, steps per epoch)``.

    Each global batch holds reviews of similar length; it is split into one piece per replica in
    sync and each piece is trimmed to its longest review and right-padded (cuDNN-eligible on GPUs).
    Every worker computes the same batches
    (same seed and epoch) and feeds only its own replicas' pieces, so no shared file system is
    needed. The dataset runs epoch after epoch (from ``initial_epoch``: a resumed run sees the same
    batches as an uninterrupted one); Keras takes ``steps`` batches per epoch."""
    row_lengths = batching.lengths(x)
    y = y.astype(np.float32)
    replicas = strategy.num_replicas_in_sync
    steps = len(y) // batch_size + (1 if len(y) % batch_size >= replicas else 0)
    if steps == 0:
        raise ConfigError(f"{len(y)} reviews cannot feed {replicas} replicas a batch of {batch_size}")

    def make(context: "tf.distribute.InputContext") -> "tf.data.Dataset":
        local = replicas // context.num_input_pipelines  # replicas this worker feeds
        mine = range(context.input_pipeline_id * local, (context.input_pipeline_id + 1) * local)

        def pieces():
            epoch = initial_epoch
            while True:
                for rows, ids in batching.epoch_pieces(x, row_lengths, batch_size, seed, epoch, replicas, mine):
                    yield ids, y[rows]
                epoch += 1

        spec = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32))
        return tf.data.Dataset.from_generator(pieces, output_signature=spec).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(make), steps


def train_input(
    strategy: "tf.distribute.Strategy",
    x: np.ndarray,
    y: np.ndarray,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    initial_epoch: int = 0,
):
    """``(dataset, steps per epoch or None)`` for ``model.fit``: bucketed, or the tutorial's batches."""
    if not train_cfg.length_buckets:
        # a masked model gets its reviews right-padded (cuDNN-eligible); the tutorial's, as encoded
        x = batching.right_align(x) if model_cfg.mask_padding else x
        return train_dataset(x, y, train_cfg.batch_size, train_cfg.seed), None
    if not model_cfg.mask_padding:
        raise ConfigError("length buckets need a model that masks its padding (ModelConfig.mask_padding)")
    return bucketed_dataset(strategy, x, y, train_cfg.batch_size, train_cfg.seed, initial_epoch)


class EpochLog(keras.callbacks.Callback):
    """Times each epoch and prints one line of metrics as it ends."""

    def __init__(self, n_reviews: int, epochs: int, quiet: bool = False) -> None:
        super().__init__()
        self.n_reviews, self.epochs, self.quiet = n_reviews, epochs, quiet
        # Take Keras' logs as tensors: otherwise a per-batch hook converts them to NumPy every step,
        # a host sync that measured about 9 % slower per epoch here.
        self._supports_tf_logs = True
        self.history: list[dict] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._bar = (
            None
            if self.quiet
            else Progress(self.params.get("steps") or 0, f"epoch {epoch + 1}/{self.epochs}", unit=" batches", steps=4)
        )

    def on_train_batch_end(self, batch, logs=None):
        if self._bar:
            self._bar.update(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if self._bar:
            self._bar.close()
        check_finite(float(logs["loss"]), epoch + 1)
        row = {
            "epoch": epoch + 1,
            "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            "seconds": round(seconds, 3),
            "reviews_per_second": round(self.n_reviews / seconds, 1),
        }
        self.history.append(row)
        if not self.quiet:
            log(epoch_line(row, self.epochs))


def check_finite(loss: float, epoch: int) -> None:
    """Stop at the end of the first epoch whose loss is NaN or infinite: its weights are garbage, and a
    run folder holding them would pass for a model."""
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training diverged: the loss is {loss} after epoch {epoch}; nothing was saved. "
            "Lower --learning-rate or keep --clipnorm on"
        )


def epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}  accuracy {row['accuracy']:.4f}  "
        f"{row['seconds']:.1f} s  {row['reviews_per_second']:,.0f} reviews/s"
    )


def predict_probabilities(model: "keras.Model", x: np.ndarray, batch_size: int) -> np.ndarray:
    """float32 ``[n]``. A model that takes any length gets batches of similar length, each trimmed to
    its longest review and right-padded (``toolkit.batching``); the tutorial's fixed-length model gets ``x`` as is."""
    out = np.empty(len(x), dtype=np.float32)
    for rows, ids in batching.inference_batches(
        x, batch_size, variable_length=model.input.shape[1] is None, right_padded=True
    ):
        out[rows] = model.predict_on_batch(ids)[:, 0]
    return out


def evaluate_split(model: "keras.Model", split: Split, batch_size: int) -> dict:
    """Test loss (binary cross-entropy, Keras' clipping) and accuracy."""
    start = time.perf_counter()
    p = np.clip(predict_probabilities(model, split.x, batch_size).astype(np.float64), 1e-7, 1 - 1e-7)
    y = split.y.astype(np.float64)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    return {"loss": loss, "accuracy": accuracy, "reviews": len(split), "seconds": round(time.perf_counter() - start, 3)}


def check_shapes(data: ImdbData, model_cfg: ModelConfig) -> None:
    if data.train.x.shape[1] != model_cfg.maxlen:
        raise ConfigError(f"data maxlen {data.train.x.shape[1]} differs from model maxlen {model_cfg.maxlen}")
    if int(data.train.x.max(initial=0)) >= model_cfg.num_words:
        raise ConfigError(f"data has token ids >= the model's num_words {model_cfg.num_words}")


def environment() -> dict:
    return {
        "toolkit": __version__,
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(tf.config.list_physical_devices('GPU'))} GPU(s)",
    }


def time_epochs(strategy: "tf.distribute.Strategy", x: np.ndarray, y: np.ndarray, setups: dict, repeats: int) -> dict:
    """Seconds per epoch over ``x`` of each ``{name: (ModelConfig, TrainConfig)}`` setup (``toolkit
    bench train``): one warm-up epoch each (tracing, thread pools), then ``repeats`` rounds of one
    epoch each, the setups taking turns so that a slow spell of the machine hits them all alike."""
    fits = {}
    for name, (model_cfg, train_cfg) in setups.items():
        seed_everything(train_cfg.seed)
        with strategy.scope():
            model = compile_model(build_model(model_cfg), train_cfg)
        dataset, steps = train_input(strategy, x, y, model_cfg, train_cfg)
        fits[name] = (model, dataset, steps)
    seconds: dict = {name: [] for name in setups}
    for round_ in range(repeats + 1):
        for name, (model, dataset, steps) in fits.items():
            timer = EpochLog(len(y), 1, quiet=True)
            model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
            if round_:  # round 0 is the warm-up
                seconds[name].append(timer.history[-1]["seconds"])
    return seconds


def train(
    data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, data: ImdbData | None = None
) -> TrainResult:
    """Load (unless ``data`` is given), fit, evaluate, write ``exports/<run-name>/``; return its path and metrics."""
    out = run_path(train_cfg.exports_dir, train_cfg.run_name)
    check_writable(out, train_cfg.overwrite)
    data = data if data is not None else load_imdb(data_cfg)
    log(data.summary())
    check_shapes(data, model_cfg)

    seed_everything(train_cfg.seed)
    strategy = local_strategy()
    with strategy.scope():
        model = compile_model(build_model(model_cfg), train_cfg)
    replicas = strategy.num_replicas_in_sync
    log(
        f"training {model.count_params():,} parameters on {len(data.train):,} reviews: "
        f"{train_cfg.epochs} epochs, global batch {train_cfg.batch_size}, {replicas} replica(s) "
        f"({devices_line(strategy)}); {input_line(model_cfg, train_cfg)}"
    )

    epoch_log = EpochLog(len(data.train), train_cfg.epochs)
    dataset, steps = train_input(strategy, data.train.x, data.train.y, model_cfg, train_cfg)
    start = time.perf_counter()
    model.fit(dataset, epochs=train_cfg.epochs, steps_per_epoch=steps, callbacks=[epoch_log], verbose=0)
    run_info = {
        "mode": "single-process",
        "workers": 1,
        "replicas": replicas,
        "restarts": 0,
        "train_seconds": round(time.perf_counter() - start, 3),
    }
    return finish_run(model, data, (data_cfg, model_cfg, train_cfg), epoch_log.history, run_info, out)


def input_line(model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    if train_cfg.length_buckets:
        return "padding masked, batches of similar length trimmed to their longest review"
    masked = "padding masked" if model_cfg.mask_padding else "padding not masked"
    return f"fixed {model_cfg.maxlen}-token batches, {masked}"


def devices_line(strategy: "tf.distribute.Strategy") -> str:
    """The devices the strategy replicates over (the default strategy: the first GPU, else the CPU)."""
    try:
        return ", ".join(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy does not list them
        return (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[0].name


def finish_run(
    model: "keras.Model", data: ImdbData, configs: tuple, history: list[dict], run_info: dict, out: Path
) -> TrainResult:
    """Evaluate on the test split and write the run folder; shared by single-process and Ray training."""
    data_cfg, model_cfg, train_cfg = configs
    test = evaluate_split(model, data.test, train_cfg.eval_batch_size)
    log(
        f"test: loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f} ({test['reviews']:,} reviews, {test['seconds']:.1f} s)"
    )
    metrics = {
        **run_info,
        "epochs": history,
        "test": test,
        "train_reviews": len(data.train),
        "environment": environment(),
    }
    config = {
        "data": {**to_dict(data_cfg), "path": data.source, "source_sha256": data.source_sha256},
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
    }
    save = lambda p: model.save(p)  # noqa: E731
    try:
        path = write_run(out, save, data.vocabulary, config, metrics, train_cfg.overwrite)
    except OSError as exc:  # disk full, permissions changed during training: keep the model somewhere
        raise rescue(save, exc, out) from None
    log(f"run folder: {path}")
    return TrainResult(path, metrics)


def evaluate_run(run_dir: str, data_path: str | None = None, batch_size: int = 512) -> dict:
    """Re-evaluate a run's model on the test split of the data it was trained on (or ``data_path``)."""
    run = read_run(run_dir)
    model = run.load_model()  # a bad or foreign model file fails before the data is read
    data_cfg = from_dict(DataConfig, run.config.get("data", {}))
    if data_path is not None:
        data_cfg = from_dict(DataConfig, {**to_dict(data_cfg), "path": data_path})
    data = load_imdb(data_cfg)
    if run.vocabulary is not None and data.vocabulary is not None and run.vocabulary.sha256 != data.vocabulary.sha256:
        raise RunError(
            f"the data's vocabulary differs from the run's vocab.json: pass the --data the run {run_dir} was trained on"
        )
    return evaluate_split(model, data.test, batch_size)
