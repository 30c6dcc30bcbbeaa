"""toolkit prepare on a real embedded Ray: all 50,000 IMDB reviews give text.py's vocab.json and ids; a CSV
with a split column and JSON lines in folders; a re-run reuses; other settings need --overwrite; an
interrupted run leaves nothing training would trust."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.helpers import error_line, run_cli
from toolkit.bench.layouts import imdb_reviews, write_hf_parquet
from toolkit.config import DataConfig, PrepareConfig
from toolkit.core.errors import DataError
from toolkit.data import prepared
from toolkit.edge.text import Vocabulary

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_two_cpus():
    """One embedded Ray for the module's prepares (``ray_session`` uses a Ray already connected)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_all_50000_imdb_reviews_give_text_py_s_vocabulary_and_ids(real_tarball, tmp_path, ray_two_cpus):
    from toolkit.workflow.prepare import prepare_job

    reviews = imdb_reviews(real_tarball)
    folder = write_hf_parquet(reviews, tmp_path / "hf")
    result = prepare_job(PrepareConfig(DataConfig(path=str(folder)), out=str(tmp_path / "out")))
    texts = {split: [t for _, _, t in items] for split, items in reviews.items()}
    vocab = Vocabulary.build(texts["train"], 5000, 500)  # text.py, in one process
    written = Vocabulary.load(tmp_path / "out" / "vocab.json")
    assert written.sha256 == vocab.sha256 and written.words == vocab.words
    for split in ("train", "test"):
        loaded = prepared.load_split(result, split)
        x, y = vocab.encode(texts[split]), np.array([label for _, label, _ in reviews[split]])
        assert len(loaded) == 25_000
        if split == "train":  # shuffled (seeded): the same rows, every id of every review, in another order
            assert sorted(_rows(loaded.x, loaded.y)) == sorted(_rows(x, y))
            assert not np.array_equal(loaded.y, y)
        else:  # in the files' order
            np.testing.assert_array_equal(loaded.x, x)
            np.testing.assert_array_equal(loaded.y, y)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["classes"] == ["0", "1"] and manifest["vocab_sha256"] == vocab.sha256
    assert manifest["splits"]["train"]["class_counts"] == [12_500, 12_500]
    first = manifest["splits"]["train"]["files"][0]  # the files are sorted by class; a shard is not
    labels = pq.read_table(tmp_path / "out" / first["path"]).column("label").to_numpy()
    assert min(np.bincount(labels, minlength=2)) > 0.4 * first["rows"]
    assert sum(f["rows"] for f in manifest["splits"]["test"]["files"]) == 25_000
    table = pq.read_table(tmp_path / "out" / manifest["splits"]["train"]["files"][0]["path"])
    assert table.schema.names == ["ids", "label", "length"]
    assert table.column("length").to_pylist() == [len(i) for i in table.column("ids").to_pylist()]


def _rows(x, y):
    """Each review's ids and label, as bytes to sort."""
    return [row.tobytes() + bytes([int(label)]) for row, label in zip(x.astype(np.int32), y)]


def test_a_split_column_json_lines_reuse_overwrite_and_an_interrupted_run(tmp_path, ray_two_cpus):
    from toolkit.workflow.prepare import prepare_job

    rows = [("a good film", "pos", "train"), ("a bad film", "neg", "train"), ("good", "pos", "test")] * 40
    rows += [(None, "pos", "train"), ("no split", "neg", "holdout"), (b"\xff\xfe bad".decode("latin-1"), None, "train")]
    table = pa.table({"review": [r[0] for r in rows], "sentiment": [r[1] for r in rows], "split": [r[2] for r in rows]})
    pacsv.write_csv(table, tmp_path / "reviews.csv")
    cfg = PrepareConfig(DataConfig(path=str(tmp_path / "reviews.csv"), num_words=8), out=str(tmp_path / "out"))
    first = prepare_job(cfg)
    assert (first.rows("train"), first.rows("test")) == (80, 40) and first.classes == ("neg", "pos")
    assert first.manifest["splits"]["train"]["skipped"] == 2 and first.manifest["rows_skipped_without_split"] == 1
    assert first.vocabulary == Vocabulary.build(["a good film", "a bad film"] * 40, 8, 500)

    again = prepare_job(cfg)  # same inputs and settings: reused as it is
    assert again.manifest == first.manifest

    with pytest.raises(DataError, match="--overwrite"):
        prepare_job(PrepareConfig(DataConfig(path=cfg.data.path, num_words=9), out=cfg.out))
    other = prepare_job(PrepareConfig(DataConfig(path=cfg.data.path, num_words=9), out=cfg.out, overwrite=True))
    assert other.vocabulary.num_words == 9 and other.manifest["settings"]["num_words"] == 9
    assert len(list((tmp_path / "out" / "train").iterdir())) == len(other.manifest["splits"]["train"]["files"])

    # an interrupted run: the marker and shards, no manifest -- not prepared data; the next run starts again
    (tmp_path / "out" / "manifest.json").unlink()
    assert not prepared.is_prepared(cfg.out)
    proc = run_cli("train", "--data", cfg.out, "--epochs", "1", cwd=tmp_path)
    assert "holds an unfinished toolkit prepare (no manifest.json)" in error_line(proc)
    jsonl = tmp_path / "jsonl"
    for split, picked in (("train", [r for r in rows[:120] if r[2] == "train"]), ("test", rows[:120])):
        (jsonl / split).mkdir(parents=True)
        lines = [json.dumps({"text": text, "label": int(label == "pos")}) for text, label, _ in picked]
        (jsonl / split / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    redone = prepare_job(PrepareConfig(DataConfig(path=str(jsonl), num_words=8), out=cfg.out))
    assert redone.rows("train") == 80 and redone.rows("test") == 120 and redone.classes == ("0", "1")
    shards = {f.name for f in (tmp_path / "out" / "train").iterdir()}  # the unfinished run's were cleared
    assert shards == {f["path"].split("/")[1] for f in redone.manifest["splits"]["train"]["files"]}
