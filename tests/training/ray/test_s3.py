"""Object storage for real: a local S3 server (moto, ``tests.s3server``) holds the parquet reviews, the
prepared shards and Ray Train's checkpoints; a 2-worker training streams the shards from ``s3://`` and,
after a worker is killed, resumes from the checkpoint in the bucket. Bad URIs, a missing bucket and
missing credentials are one-line errors in seconds."""

import json
import os
import signal
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tests.helpers import error_line, run_cli
from tests.s3server import s3_server
from toolkit.bench.layouts import imdb_reviews
from toolkit.config import ClusterConfig, DataConfig, JobConfig, PrepareConfig, TrainConfig

pytestmark = pytest.mark.slow
STARTS_RAY = pytest.mark.xdist_group("ray")


def _upload(reviews: dict, prefix: str) -> None:
    """``prefix/{train,validation,test}.parquet`` in the bucket (columns text, label)."""
    for split, items in reviews.items():
        table = pa.table(
            {"text": [t for _, _, t in items], "label": pa.array([lab for _, lab, _ in items], pa.int64())}
        )
        pq.write_table(table, f"{prefix}/{split}.parquet")


def _registered(fs, snapshot: str, timeout: float = 240) -> None:
    """Until Ray Train registered the epoch-1 checkpoint in the bucket (see test_driver._wait_for_checkpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fs.get_file_info(snapshot).type.name == "File":
            with fs.open_input_stream(snapshot) as f:
                if b"epoch-001" in f.read():
                    return
        time.sleep(0.2)
    raise AssertionError(f"no registered checkpoint at {snapshot} after {timeout} s")


@STARTS_RAY
def test_train_streams_prepared_shards_from_s3_and_resumes_from_an_s3_checkpoint_after_a_worker_is_killed(
    real_tarball, tmp_path
):
    import ray
    from ray.util.state import list_actors

    from toolkit._tf import keras
    from toolkit.data.prepared import read_manifest
    from toolkit.export.convert import export_run
    from toolkit.training.ray.checkpoints import read_state
    from toolkit.training.ray.driver import train_on_ray
    from toolkit.verify.check import verify_export
    from toolkit.workflow.prepare import prepare_job

    raw = imdb_reviews(real_tarball, per_split=3000, seed=3)
    mixed = [raw["train"][i] for i in np.random.default_rng(3).permutation(3000)]  # both classes in validation
    reviews = {"train": mixed[:2700], "validation": mixed[2700:], "test": raw["test"][:1000]}
    with s3_server() as s3:
        _upload(reviews, "s3://toolkit/reviews")
        prepared = prepare_job(
            PrepareConfig(DataConfig(path="s3://toolkit/reviews", maxlen=100), out="s3://toolkit/prepared"), cpus=2
        )
        assert (prepared.rows("train"), prepared.rows("validation"), prepared.rows("test")) == (2700, 300, 1000)
        assert sum(prepared.class_counts("train")) == 2700
        fs = s3.filesystem()
        assert all(fs.get_file_info(u[len("s3://") :]).size for u in prepared.shard_uris("train"))

        outcome = {}

        def run():
            try:
                job = JobConfig(
                    DataConfig(path="s3://toolkit/prepared", maxlen=100),
                    None,
                    TrainConfig(epochs=2, run_name="s3kill", exports_dir=str(tmp_path / "exports")),
                    ClusterConfig(workers=2, storage="s3://toolkit/ckpt", max_failures=2),
                )
                outcome["result"] = train_on_ray(job)
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        try:
            _registered(fs, "toolkit/ckpt/s3kill/checkpoint_manager_snapshot.json")
            actors = []
            for _ in range(50):
                actors = list_actors(
                    address=ray.get_runtime_context().gcs_address,
                    filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")],
                )
                if len(actors) == 2:
                    break
                time.sleep(0.2)
            assert len(actors) == 2, actors
            os.kill(int(actors[1]["pid"]), signal.SIGKILL)
        finally:
            thread.join(timeout=600)
        assert "error" not in outcome, outcome.get("error")
        metrics = outcome["result"].metrics
        assert metrics["streamed_from"] == "s3://toolkit/prepared" and metrics["train_reviews"] == 2700
        assert metrics["restarts"] == 1 and metrics["resumes"][0]["from_epoch"] == 1  # from the S3 checkpoint
        assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and [e["restarts"] for e in metrics["epochs"]] == [
            0,
            1,
        ]
        assert metrics["epochs"][1]["loss"] < metrics["epochs"][0]["loss"]
        assert metrics["validation_reviews"] == 300 and all(0.4 < e["val_accuracy"] < 1 for e in metrics["epochs"])
        assert metrics["test"]["reviews"] == 1000 and metrics["test"]["accuracy"] > 0.5
        names = sorted(i.path for i in fs.get_file_info(pafs.FileSelector("toolkit/ckpt/s3kill")))
        final = [n for n in names if "/epoch-002" in n]
        assert final, names  # the final checkpoint is in the bucket; the run folder holds exactly its weights
        (tmp_path / "final").mkdir()  # copy_files fails on a destination folder that does not exist yet
        pafs.copy_files(
            final[-1], str(tmp_path / "final"), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem()
        )
        weights, optimizer, state = read_state(tmp_path / "final")
        assert state["epoch"] == 2 and state["replicas"] == 2 and optimizer
        saved = keras.models.load_model(outcome["result"].run_dir / "model.keras").get_weights()
        assert len(saved) == len(weights) and all(np.array_equal(a, b) for a, b in zip(saved, weights))
        config = json.loads((outcome["result"].run_dir / "config.json").read_text())
        assert config["data"]["source_sha256"] == read_manifest("s3://toolkit/prepared").sha256
        assert not ray.is_initialized()
        # export and verify: Keras reads the test shards from the bucket, the text models get the texts of
        # the parquet files in the bucket that prepare read
        export = export_run(outcome["result"].run_dir)
        report = verify_export(export.path)
        assert report["passed"] and report["reviews"] == 1000, report
        assert report["variants"]["text"]["passed"] and report["variants"]["text"]["labels_equal"] == 1000
        assert report["text_preprocessing"]["passed"] and report["text_preprocessing"]["equal"] == 1000


def test_bad_uris_missing_buckets_and_missing_credentials_are_one_line_errors_in_seconds(tmp_path):
    """No Ray starts for any of these: the checks come first."""
    local = tmp_path / "reviews"
    local.mkdir()
    pq.write_table(pa.table({"text": ["good", "bad"] * 4, "label": [1, 0] * 4}), local / "train.parquet")
    pq.write_table(pa.table({"text": ["good", "bad"], "label": [1, 0]}), local / "test.parquet")
    with s3_server():
        pq.write_table(pa.table({"text": ["good", "bad"] * 4, "label": [1, 0] * 4}), "s3://toolkit/in/train.parquet")
        pq.write_table(pa.table({"text": ["good", "bad"], "label": [1, 0]}), "s3://toolkit/in/test.parquet")
        cases = {
            ("--data", "s3:///x", "--out", str(tmp_path / "o1")): "Missing bucket name",
            ("--data", "bogus://x", "--out", str(tmp_path / "o2")): "Unrecognized filesystem",
            ("--data", "s3://", "--out", str(tmp_path / "o3")): "names no bucket",
            ("--data", "s3://nosuchbucket/in", "--out", str(tmp_path / "o4")): "does not exist",
            ("--data", "s3://toolkit/in", "--out", "s3://nosuchbucket/out"): "bucket does not exist",
            ("--data", str(local), "--out", "s3://toolkit/in"): "not the toolkit's",
        }
        for args, expected in cases.items():
            start = time.monotonic()
            proc = run_cli("prepare", *args)
            assert proc.returncode == 1, (args, proc.stderr)
            assert expected in error_line(proc), (args, error_line(proc))
            assert "Traceback" not in proc.stderr and time.monotonic() - start < 30
        no_keys = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        proc = run_cli("prepare", "--data", str(local), "--out", "s3://toolkit/out", env_extra=no_keys)
        assert proc.returncode == 1 and "credentials missing" in error_line(proc), proc.stderr
        proc = run_cli(
            "train",
            "--data",
            str(local),
            "--workers",
            "1",
            "--storage",
            "s3://toolkit/ckpt",
            cwd=tmp_path,
            env_extra=no_keys,
        )
        assert proc.returncode == 1 and "credentials missing" in error_line(proc), proc.stderr
    assert not list(tmp_path.glob("o*")) and not (tmp_path / "exports").exists()  # nothing written for bad input
