import json

import numpy as np
import pytest

from toolkit.config import DataConfig, ModelConfig, TrainConfig
from toolkit.errors import RunError
from toolkit.rundir import RUN_FILES, read_run, write_run
from toolkit.text import Vocabulary

SMALL = dict(limit=400, maxlen=60)


def _configs(real_tarball, real_cache, tmp_path, name, **train_kw):
    data = DataConfig(path=str(real_tarball), cache_dir=real_cache, **SMALL)
    model = ModelConfig(maxlen=SMALL["maxlen"])
    train = TrainConfig(run_name=name, exports_dir=str(tmp_path), **{"epochs": 1, **train_kw})
    return data, model, train


def _weights(path):
    from toolkit._tf import keras

    return keras.models.load_model(path).get_weights()


def test_one_epoch_on_a_real_subset_changes_weights_and_writes_a_complete_run(real_tarball, real_cache, tmp_path):
    from toolkit._tf import keras
    from toolkit.model import build_model
    from toolkit.train import evaluate_run, train

    data_cfg, model_cfg, train_cfg = _configs(real_tarball, real_cache, tmp_path, "one")
    result = train(data_cfg, model_cfg, train_cfg)
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


def test_same_seed_gives_identical_weights(real_tarball, real_cache, tmp_path):
    from toolkit.train import train

    a = train(*_configs(real_tarball, real_cache, tmp_path, "a"))
    b = train(*_configs(real_tarball, real_cache, tmp_path, "b"))
    c = train(*_configs(real_tarball, real_cache, tmp_path, "c", seed=8))
    wa, wb, wc = (_weights(r.run_dir / "model.keras") for r in (a, b, c))
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(wa, wc))


def test_existing_run_folder_is_not_clobbered(real_tarball, real_cache, tmp_path):
    from toolkit.train import train

    (tmp_path / "taken").mkdir()
    with pytest.raises(RunError, match="already exists"):
        train(*_configs(real_tarball, real_cache, tmp_path, "taken"))


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
