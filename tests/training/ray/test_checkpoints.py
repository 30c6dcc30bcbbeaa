"""checkpoints.py without Ray: the settings fingerprint, when an earlier checkpoint folder may be
resumed, what --overwrite may remove, the --storage probe, and Ray's errors in one line."""

import json
import re
from types import SimpleNamespace

import pytest

from toolkit.config import DataConfig, JobConfig, TrainConfig
from toolkit.core.errors import ClusterError, WriteError
from toolkit.training.ray import checkpoints
from toolkit.training.ray.checkpoints import (
    MARKER_FILE,
    STATE_FILE,
    check_storage,
    discard_unused,
    fingerprint_difference,
    mark_checkpoints,
    prepare_checkpoints,
    settings_fingerprint,
)

DATA = SimpleNamespace(
    source_sha256="ab" * 32,
    train=[0] * 100,
    train_reviews=100,
    vocabulary=SimpleNamespace(sha256="cd" * 32),
    validation=None,
)


def _fingerprint(data=DATA, **train):
    return settings_fingerprint(JobConfig(DataConfig(maxlen=20), train=TrainConfig(run_name="r", **train)), data)


def _checkpoint(storage, fingerprint, epoch=1):
    folder = storage / "r" / f"epoch-{epoch:03d}-r0"
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text(json.dumps({"epoch": epoch, "fingerprint": fingerprint}))


def test_the_fingerprint_holds_what_shapes_the_optimisation_but_not_the_epochs():
    base = _fingerprint()
    assert base["model"]["maxlen"] == 20 and base["model"]["classes"] == ["negative", "positive"]
    assert base["data"] == {
        "source_sha256": "ab" * 32,
        "train_reviews": 100,
        "vocab_sha256": "cd" * 32,
        "validation_reviews": 0,
    }
    assert _fingerprint(epochs=5) == base  # more epochs: resuming trains the extra ones
    assert fingerprint_difference(base, _fingerprint(learning_rate=0.01)) == "train.learning_rate 0.001 -> 0.01"
    assert fingerprint_difference(None, base) == "the checkpoint records no settings"
    assert fingerprint_difference(base, base) == ""


def test_the_fingerprint_holds_the_token_ids_and_a_checkpoint_from_before_user_data_still_resumes():
    base = _fingerprint()
    other_column = SimpleNamespace(**{**vars(DATA), "vocabulary": SimpleNamespace(sha256="ef" * 32)})
    assert (
        fingerprint_difference(base, _fingerprint(other_column)) == f"data.vocab_sha256 {'cd' * 32!r} -> {'ef' * 32!r}"
    )
    old = json.loads(json.dumps(base))  # as toolkit wrote it before classes and the vocabulary were recorded
    del old["model"]["classes"], old["data"]["vocab_sha256"], old["data"]["validation_reviews"]
    assert fingerprint_difference(old, base) == ""
    assert fingerprint_difference(old, _fingerprint(learning_rate=0.01)) == "train.learning_rate 0.001 -> 0.01"


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


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """``s3://bucket/ckpt`` played by a local folder through pyarrow (never a real endpoint)."""
    import pyarrow.fs as pafs

    root = tmp_path / "bucket-root"
    (root / "bucket" / "ckpt").mkdir(parents=True)
    fs = pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
    monkeypatch.setattr(checkpoints, "_filesystem", lambda storage: (fs, "bucket/ckpt"))
    return root / "bucket" / "ckpt"


def test_remote_storage_gets_a_fresh_name_with_overwrite_when_the_folder_is_not_provably_ours(bucket):
    assert prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=False) == "r"
    assert prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=True) == "r"  # nothing there
    (bucket / "r").mkdir()
    (bucket / "r" / "data.csv").write_text("someone else's")
    fresh = prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=True)
    assert re.fullmatch(r"r-\d{8}-\d{6}", fresh)  # the run name and the time: never the old checkpoints
    assert (bucket / "r" / "data.csv").exists()


def test_overwrite_removes_a_killed_runs_remote_checkpoints_instead_of_leaving_them_beside(bucket):
    mark_checkpoints("s3://bucket/ckpt", "r", _fingerprint())
    (bucket / "r" / "epoch-001-r0").mkdir()
    (bucket / "r" / "epoch-001-r0" / STATE_FILE).write_text("{}")
    assert prepare_checkpoints("s3://bucket/ckpt", "r", _fingerprint(), overwrite=True) == "r"  # the same name
    assert not (bucket / "r").exists()  # and the old checkpoints are gone, not beside the new ones


def test_a_run_killed_before_its_first_checkpoint_is_ours_to_overwrite(tmp_path):
    mark_checkpoints(str(tmp_path), "r", _fingerprint())  # what the driver writes before training
    (tmp_path / "r" / ".validate_storage_marker").write_text("")  # what Ray Train writes at its start
    assert json.loads((tmp_path / "r" / MARKER_FILE).read_text())["written_by"] == "toolkit"
    assert prepare_checkpoints(str(tmp_path), "r", _fingerprint(), overwrite=False) == "r"  # resumable name
    assert prepare_checkpoints(str(tmp_path), "r", _fingerprint(batch_size=32), overwrite=True) == "r"
    assert not (tmp_path / "r").exists()  # it was refused as "not a Ray Train checkpoint folder"


def test_a_folder_that_is_not_ours_is_never_trained_into(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(ClusterError, match="not a Ray Train checkpoint folder: refusing to train into it"):
        prepare_checkpoints(str(tmp_path), "r", _fingerprint(), overwrite=False)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["notes.txt"]  # no marker written into it
    (tmp_path / "empty").mkdir()
    assert prepare_checkpoints(str(tmp_path), "empty", _fingerprint(), overwrite=False) == "empty"


def test_a_failed_runs_folder_without_a_checkpoint_is_discarded(tmp_path):
    mark_checkpoints(str(tmp_path), "r", _fingerprint())
    (tmp_path / "r" / ".validate_storage_marker").write_text("")
    discard_unused(str(tmp_path), "r")
    assert not (tmp_path / "r").exists()
    _checkpoint(tmp_path, _fingerprint())  # a checkpoint to resume from: kept
    mark_checkpoints(str(tmp_path), "r", _fingerprint())
    discard_unused(str(tmp_path), "r")
    assert (tmp_path / "r" / "epoch-001-r0" / STATE_FILE).is_file()


# --- --storage is checked before Ray starts -------------------------------------------------------------
def test_storage_that_is_a_file_or_cannot_be_written_is_refused_at_once(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is not a folder"):
        check_storage(str(tmp_path / "file"))
    with pytest.raises(WriteError, match="is not a folder"):
        check_storage(f"file://{tmp_path}/file/sub")
    with pytest.raises(ClusterError, match="Unrecognized filesystem type"):
        check_storage("nosuchfs://bucket/ckpt")
    check_storage(str(tmp_path / "new" / "storage"))  # creatable: fine, and nothing made yet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_unreachable_s3_endpoint_is_one_line_in_seconds(monkeypatch):
    """A loopback port where nothing listens (no outside network is used): Ray's own attempt took 30 s
    and ended in a 25-line stack."""
    import time

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credential lookups at 169.254.169.254
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        check_storage("s3://toolkit-test/ckpt?endpoint_override=127.0.0.1:1&scheme=http")
    message = str(caught.value)
    assert time.monotonic() - start < 20
    assert message.startswith("cannot write checkpoints to --storage s3://toolkit-test/ckpt")
    assert "Could not connect" in message and "\n" not in message


def test_ray_errors_become_one_clean_line_naming_the_cause():
    from toolkit.core.errors import first_line
    from toolkit.training.ray.cluster import ray_error_line

    died = Exception(
        "The actor died because of an error raised in its creation task, \x1b[36mray::TrainController.__init__()"
        "\x1b[39m (pid=1, ip=127.0.0.1, actor_id=ab, repr=<ray.train.v2.TrainController object at 0x7f3227>)\n"
        '  File "storage.py", line 438, in _create_validation_file\n'
        "    self.storage_filesystem.create_dir(self.experiment_fs_path)\n"
        "NotADirectoryError: [Errno 20] Cannot create directory '/x/file/r'"
    )
    assert ray_error_line(died) == "NotADirectoryError: [Errno 20] Cannot create directory '/x/file/r'"
    plain = Exception("\x1b[31mworker lost\x1b[0m: <ray.actor.ActorHandle object at 0xdeadbeef> gone")
    assert ray_error_line(plain) == "worker lost: ray.actor.ActorHandle gone"
    assert first_line(Exception("\x1b[36mray::X\x1b[39m failed\nmore")) == "ray::X failed"
