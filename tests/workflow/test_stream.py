"""toolkit train --workers N --stream: tabular data prepared on the fly (toolkit.workflow.prepare.stream_job),
streamed to a Ray worker, and reused by the next run without Ray."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import run_cli
from toolkit.bench.layouts import imdb_reviews
from toolkit.config import ClusterConfig, DataConfig, JobConfig, TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_stream_prepares_tabular_data_on_the_fly_and_reuses_it(real_tarball, tmp_path):
    from toolkit.workflow.prepare import stream_job

    reviews = imdb_reviews(real_tarball, per_split=400, seed=5)
    folder = tmp_path / "reviews"
    folder.mkdir()
    for split, items in reviews.items():
        table = pa.table({"text": [t for _, _, t in items], "label": [["neg", "pos"][lab] for _, lab, _ in items]})
        pq.write_table(table, folder / f"{split}.parquet")
    args = ["--data", str(folder), "--workers", "1", "--stream", "--epochs", "1", "--maxlen", "60"]
    proc = run_cli("train", *args, "--exports-dir", "ex", "--run-name", "s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--stream: preparing" in proc.stderr and "prepared shard(s) streamed by Ray Data" in proc.stderr
    metrics = json.loads((tmp_path / "ex" / "s" / "metrics.json").read_text())
    prepared = metrics["streamed_from"]
    assert prepared.startswith(str(tmp_path / "ex" / "prepared")) and metrics["train_reviews"] == 400
    assert metrics["test"]["reviews"] == 400
    # the same files and settings again: the prepared data is reused, without Ray
    job = JobConfig(
        DataConfig(path=str(folder), maxlen=60),
        None,
        TrainConfig(exports_dir=str(tmp_path / "ex")),
        ClusterConfig(workers=1),
    )
    assert stream_job(job).data.path == prepared
