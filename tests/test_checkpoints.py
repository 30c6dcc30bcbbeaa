"""checkpoints.py without Ray: the settings fingerprint, when an earlier checkpoint folder may be
resumed, what --overwrite may remove."""

import json
import re
from types import SimpleNamespace

import pytest

from toolkit.checkpoints import STATE_FILE, fingerprint_difference, prepare_checkpoints, settings_fingerprint
from toolkit.config import DataConfig, JobConfig, TrainConfig
from toolkit.errors import ClusterError

DATA = SimpleNamespace(source_sha256="ab" * 32, train=[0] * 100)


def _fingerprint(**train):
    return settings_fingerprint(JobConfig(DataConfig(maxlen=20), train=TrainConfig(run_name="r", **train)), DATA)


def _checkpoint(storage, fingerprint, epoch=1):
    folder = storage / "r" / f"epoch-{epoch:03d}-r0"
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text(json.dumps({"epoch": epoch, "fingerprint": fingerprint}))


def test_the_fingerprint_holds_what_shapes_the_optimisation_but_not_the_epochs():
    base = _fingerprint()
    assert base["model"]["maxlen"] == 20 and base["data"] == {"source_sha256": "ab" * 32, "train_reviews": 100}
    assert _fingerprint(epochs=5) == base  # more epochs: resuming trains the extra ones
    assert fingerprint_difference(base, _fingerprint(learning_rate=0.01)) == "train.learning_rate 0.001 -> 0.01"
    assert fingerprint_difference(None, base) == "the checkpoint records no settings"
    assert fingerprint_difference(base, base) == ""


def test_an_earlier_checkpoint_is_resumed_only_with_the_same_settings(tmp_path):
    assert prepare_checkpoints(str(tmp_path), "r", _fingerprint(), overwrite=False) == "r"  # nothing yet
    _checkpoint(tmp_path, _fingerprint())
    assert prepare_checkpoints(str(tmp_path), "r", _fingerprint(epochs=4), overwrite=False) == "r"
    with pytest.raises(ClusterError, match=r"other settings \(train.batch_size 64 -> 32\)"):
        prepare_checkpoints(str(tmp_path), "r", _fingerprint(batch_size=32), overwrite=False)
    assert (tmp_path / "r").exists()  # refused, not removed


def test_overwrite_removes_only_ray_trains_folders(tmp_path):
    _checkpoint(tmp_path, _fingerprint())
    assert prepare_checkpoints(str(tmp_path), "r", _fingerprint(batch_size=32), overwrite=True) == "r"
    assert not (tmp_path / "r").exists()
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(ClusterError, match="not a Ray Train checkpoint folder"):
        prepare_checkpoints(str(tmp_path), "r", _fingerprint(), overwrite=True)
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"


def test_remote_storage_gets_a_fresh_name_with_overwrite():
    assert prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=False) == "r"
    fresh = prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=True)
    assert re.fullmatch(r"r-\d{8}-\d{6}", fresh)  # the run name and the time: never the old checkpoints
