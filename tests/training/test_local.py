import json

import numpy as np
import pytest

from toolkit.artifacts.runs import RUN_FILES, read_run, write_run
from toolkit.config import DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.core.errors import RunError
from toolkit.edge.text import Vocabulary

SMALL = dict(limit=400, maxlen=60)


def _configs(real_tarball, real_cache, tmp_path, name, **train_kw):
    data = DataConfig(path=str(real_tarball), cache_dir=real_cache, **SMALL)
    model = ModelConfig(maxlen=SMALL["maxlen"])
    train = TrainConfig(run_name=name, exports_dir=str(tmp_path), **{"epochs": 1, **train_kw})
    return data, model, train


def _weights(path):
    from toolkit._tf import keras

    return keras.models.load_model(path).get_weights()


@pytest.mark.slow
def test_one_epoch_on_a_real_subset_changes_weights_and_writes_a_complete_run(real_tarball, real_cache, tmp_path):
    from toolkit._tf import keras
    from toolkit.model.evaluate import evaluate_run
    from toolkit.model.lstm import build_model
    from toolkit.training.local import train

    data_cfg, model_cfg, train_cfg = _configs(real_tarball, real_cache, tmp_path, "one")
    result = train(JobConfig(data_cfg, model_cfg, train_cfg))
    assert result.run_dir == tmp_path / "one"
    assert sorted(p.name for p in result.run_dir.iterdir()) == sorted(RUN_FILES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind

    keras.utils.set_random_seed(train_cfg.seed)
    initial = build_model(model_cfg).get_weights()
    trained = _weights(result.run_dir / "model.keras")
    assert any(not np.array_equal(a, b) for a, b in zip(initial, trained))

    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    (epoch,) = metrics["epochs"]
    assert epoch["epoch"] == 1 and epoch["seconds"] > 0 and epoch["reviews_per_second"] > 0
    assert 0 < epoch["loss"] and 0 <= epoch["accuracy"] <= 1
    assert metrics["test"]["reviews"] == 400 and 0 <= metrics["test"]["accuracy"] <= 1
    assert metrics["replicas"] == 1 and metrics["train_reviews"] == 400

    run = read_run(result.run_dir)
    assert run.config["train"]["epochs"] == 1 and run.config["data"]["limit"] == 400
    assert run.config["data"]["path"] == str(real_tarball.resolve())
    assert run.vocabulary.maxlen == 60 and len(run.vocabulary.words) == 4997
    # evaluating the saved run reproduces the test figures recorded at training time
    again = evaluate_run(str(result.run_dir))
    assert again["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_same_seed_gives_identical_weights(real_tarball, real_cache, tmp_path):
    from toolkit._tf import tf
    from toolkit.training.local import train

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("op determinism is switched on only without a GPU (cuDNN's LSTM kernels are not deterministic)")

    a = train(JobConfig(*_configs(real_tarball, real_cache, tmp_path, "a")))
    b = train(JobConfig(*_configs(real_tarball, real_cache, tmp_path, "b")))
    c = train(JobConfig(*_configs(real_tarball, real_cache, tmp_path, "c", seed=8)))
    wa, wb, wc = (_weights(r.run_dir / "model.keras") for r in (a, b, c))
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(wa, wc))


@pytest.mark.slow
def test_existing_run_folder_is_not_clobbered(real_tarball, real_cache, tmp_path):
    from toolkit.training.local import train

    (tmp_path / "taken").mkdir()
    with pytest.raises(RunError, match="already exists"):
        train(JobConfig(*_configs(real_tarball, real_cache, tmp_path, "taken")))


def test_write_run_is_atomic_when_saving_fails(tmp_path):
    vocab = Vocabulary.build(["a b"], num_words=10, maxlen=5)

    def broken_save(path):
        path.write_bytes(b"half a model")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_run(tmp_path / "run", broken_save, vocab, {}, {})
    assert list(tmp_path.iterdir()) == []


def test_read_run_errors_name_the_problem(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        read_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no trained model"):
        read_run(tmp_path / "empty")
    run = tmp_path / "foreign"
    run.mkdir()
    (run / "model.keras").write_bytes(b"x")
    (run / "metrics.json").write_text("{}")
    (run / "config.json").write_text("{not json")
    with pytest.raises(RunError, match="not a complete run folder"):
        read_run(run)
    (run / "config.json").write_text("[]")  # JSON, but not a table: no AttributeError later
    with pytest.raises(RunError, match="config.json holds list, not a table of settings"):
        read_run(run)
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text('{"test": [0.9]}')
    with pytest.raises(RunError, match="metrics.json has no table of test figures"):
        read_run(run)


class _TwoPipelines:
    """A stand-in for a 2-worker strategy (1 replica each): calls the input function once per worker."""

    num_replicas_in_sync = 2

    def distribute_datasets_from_function(self, make):
        from toolkit._tf import tf

        return [
            make(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2))
            for i in range(2)
        ]


def _take(dataset, n):
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(n)]


def test_bucketed_input_gives_each_replica_its_piece_of_every_batch():
    from toolkit.edge import batches
    from toolkit.training import buckets
    from toolkit.training.input import bucketed_dataset

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=103)
    x = np.zeros((103, 50), np.int32)
    for i, n in enumerate(lengths):
        x[i, 50 - n :] = i + 1  # each row carries its own index (+1: 0 is padding)
    y = (np.arange(103) % 2).astype(np.int64)
    (worker0, worker1), steps = bucketed_dataset(_TwoPipelines(), x, y, batch_size=10, seed=7)
    assert steps == 11  # 10 full groups + one of 3 reviews (split 2 + 1)
    expected = [b for b in buckets.epoch_batches(batches.lengths(x), 10, 7, 0) if len(b) >= 2]
    pieces0, pieces1 = _take(worker0, steps), _take(worker1, steps)
    for rows, (x0, y0), (x1, y1) in zip(expected, pieces0, pieces1):
        seen = np.concatenate([x0.max(axis=1), x1.max(axis=1)]) - 1
        assert sorted(seen.tolist()) == sorted(rows.tolist())  # the two pieces are the global batch
        for xi, yi in ((x0, y0), (x1, y1)):
            assert (xi[:, 0] != 0).all()  # right-padded: every review starts in the first column
            assert (xi[:, -1] != 0).any()  # trimmed: the last column holds the longest review's last token
            np.testing.assert_array_equal(yi, y[xi.max(axis=1) - 1])


def test_a_last_batch_too_small_to_split_is_left_out():
    from toolkit.training.input import bucketed_dataset

    x = np.ones((21, 5), np.int32)
    _, steps = bucketed_dataset(_TwoPipelines(), x, np.zeros(21), batch_size=10, seed=7)
    assert steps == 2  # the 21st review alone cannot feed 2 replicas


def test_bucketed_input_resumes_with_the_batches_of_its_epoch():
    from toolkit._tf import tf
    from toolkit.training.input import bucketed_dataset

    x = np.tril(np.ones((40, 12), np.int32))[:, ::-1].copy() * np.arange(1, 41)[:, None]
    x[:, -1] = np.arange(1, 41)
    y = np.zeros(40)
    strategy = tf.distribute.get_strategy()
    from_start, steps = bucketed_dataset(strategy, x, y, batch_size=8, seed=3)
    resumed, _ = bucketed_dataset(strategy, x, y, batch_size=8, seed=3, initial_epoch=1)
    epoch_two = _take(from_start, 2 * steps)[steps:]
    for (a, _), (b, _) in zip(epoch_two, _take(resumed, steps)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_faithful_flag_trains_the_tutorials_fixed_length_model(real_tarball, real_cache, tmp_path):
    from dataclasses import replace

    from toolkit._tf import keras
    from toolkit.training.local import train

    data_cfg, model_cfg, train_cfg = _configs(real_tarball, real_cache, tmp_path, "faithful")
    result = train(
        JobConfig(data_cfg, replace(model_cfg, mask_padding=False), replace(train_cfg, length_buckets=False))
    )
    model = keras.models.load_model(result.run_dir / "model.keras")
    assert tuple(model.input.shape) == (None, 60) and not model.get_layer("embedding").mask_zero
    config = read_run(result.run_dir).config
    assert config["model"]["mask_padding"] is False and config["train"]["length_buckets"] is False
