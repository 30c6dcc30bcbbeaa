"""A run folder's config.toml reruns it: ``toolkit train --config RUN/config.toml --run-name again``,
from another folder, trains the same job again, to the same weights bit for bit on CPU."""

import json
import subprocess

import numpy as np
import pytest

from tests.helpers import BIN

pytestmark = pytest.mark.slow  # two trainings


def _weights(path):
    from toolkit._tf import keras

    return keras.models.load_model(path).get_weights()


def test_a_run_reruns_from_its_config_toml_to_identical_weights(real_tarball, real_cache, tmp_path):
    from toolkit._tf import tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("op determinism is switched on only without a GPU (cuDNN's LSTM kernels are not deterministic)")
    exports = tmp_path / "exports"
    first = [str(BIN / "toolkit"), "train", "--data", str(real_tarball), "--cache-dir", real_cache]
    first += ["--limit", "300", "--maxlen", "60", "--epochs", "2", "--batch-size", "32", "--learning-rate", "0.002"]
    first += ["--warmup-epochs", "0.5", "--dropout", "0.3", "--validation-fraction", "0.2", "--seed", "5"]
    first += ["--run-name", "a", "--exports-dir", "exports"]  # relative: the file records it absolute
    done = subprocess.run(first, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    settings = exports / "a" / "config.toml"
    text = settings.read_text()
    assert f'exports_dir = "{exports}"' in text and 'run_name = "a"' in text and "overwrite" not in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = [str(BIN / "toolkit"), "train", "--config", str(settings), "--run-name", "again"]
    redone = subprocess.run(again, capture_output=True, text=True, timeout=600, cwd=elsewhere)
    assert redone.returncode == 0, redone.stderr[-2000:]
    assert (exports / "again" / "model.keras").is_file() and not (elsewhere / "exports").exists()
    a, b = (json.loads((exports / n / "config.json").read_text()) for n in ("a", "again"))
    assert a["model"] == b["model"] and a["data"] == b["data"]
    same = {"run_name": None, "exports_dir": None}  # the name given; the folder as the file records it (absolute)
    assert {**a["train"], **same} == {**b["train"], **same} and b["train"]["exports_dir"] == str(exports)
    assert b["train"]["warmup_epochs"] == 0.5 and b["model"]["dropout"] == 0.3
    for x, y in zip(_weights(exports / "a" / "model.keras"), _weights(exports / "again" / "model.keras")):
        np.testing.assert_array_equal(x, y)
    metrics = [json.loads((exports / n / "metrics.json").read_text())["epochs"] for n in ("a", "again")]
    assert [e["val_accuracy"] for e in metrics[0]] == [e["val_accuracy"] for e in metrics[1]]
    renamed = (exports / "again" / "config.toml").read_text()
    assert renamed == text.replace('run_name = "a"', 'run_name = "again"').replace(
        "/a/config.toml", "/again/config.toml"
    )
