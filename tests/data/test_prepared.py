"""data.prepared: a manifest, vocab.json and shards that were edited, truncated or swapped are refused
(the shards here are written by prepare.pipeline's own encode step, without Ray)."""

import json

import numpy as np
import pyarrow as pa
import pytest

from toolkit.config import DataConfig, PrepareConfig
from toolkit.core.errors import DataError
from toolkit.data import prepared
from toolkit.data.arrow import Columns
from toolkit.edge.text import Vocabulary
from toolkit.prepare import pipeline

TEXTS = ["a good film", "a bad film", "good good", "bad", "an awful film", "great"]
LABELS = ["pos", "neg", "pos", "neg", "neg", "pos"]


def write_prepared(out):
    """A prepared folder of ``TEXTS`` as train and test (``num_words`` 8, ``maxlen`` 4), written by the
    pipeline's own encode steps without Ray; ``(folder, vocabulary)``."""
    vocab = Vocabulary.build(TEXTS, 8, 4)
    classes = ("neg", "pos")
    shards = []
    for role in ("train", "test"):
        batch = pa.table({"text": TEXTS, "label": LABELS})
        encoded = pipeline.encode_rows(batch, vocab.words, 4, classes, Columns("text", "label", None, True), role, role)
        shards += pipeline.write_shard(encoded, role, len(classes), str(out)).to_pylist()
    cfg = PrepareConfig(DataConfig(path="reviews.parquet", num_words=8, maxlen=4), out=str(out))
    manifest = pipeline._manifest(cfg, {"inputs": []}, vocab, classes, {}, {}, shards, 1.0)
    (out / "vocab.json").write_text(vocab.to_json())
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out, vocab


@pytest.fixture
def folder(tmp_path):
    return write_prepared(tmp_path / "prepared")


def test_a_prepared_folder_loads_as_text_py_encodes_it(folder):
    out, vocab = folder
    p = prepared.read_manifest(str(out))
    prepared.check_shards(p)
    split = prepared.load_split(p, "test")
    np.testing.assert_array_equal(split.x, vocab.encode(TEXTS))  # cut to maxlen 4 and pre-padded as text.py does
    np.testing.assert_array_equal(split.y, [1, 0, 1, 0, 0, 1])
    assert p.rows("train") == 6 and p.class_counts("train") == [3, 3] and p.classes == ("neg", "pos")
    data = prepared.load_prepared(str(out), stream_train=True)
    assert len(data.train) == 0 and data.train_reviews == 6 and data.stream.shards == tuple(p.shard_uris("train"))
    assert len(data.test) == 0 and data.stream.test_rows == 6
    assert "train 6 streamed" in data.summary() and "test 6 (evaluated shard by shard)" in data.summary()


def test_an_edited_manifest_a_swapped_vocabulary_and_changed_shards_are_refused(folder):
    out, vocab = folder
    manifest = json.loads((out / "manifest.json").read_text())
    edited = {**manifest, "classes": ["pos", "neg"]}
    (out / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(DataError, match="checksum mismatch"):
        prepared.read_manifest(str(out))
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "vocab.json").write_text(Vocabulary.build(TEXTS[:2], 8, 4).to_json())
    with pytest.raises(DataError, match="not the vocabulary the manifest names"):
        prepared.read_manifest(str(out))
    (out / "vocab.json").write_text(vocab.to_json())
    shard = out / manifest["splits"]["test"]["files"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    shard.write_bytes(bytes(data))
    p = prepared.read_manifest(str(out))
    prepared.check_shards(p)  # sizes agree
    with pytest.raises(DataError, match="checksum mismatch"):
        prepared.load_split(p, "test")
    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(DataError, match="missing or changed"):
        prepared.check_shards(p)
    shard.unlink()
    with pytest.raises(DataError, match="missing or changed"):
        prepared.check_shards(p)


def test_a_folder_without_a_manifest_is_not_prepared_data(tmp_path):
    assert not prepared.is_prepared(str(tmp_path)) and not prepared.is_prepared("bogus://x")
    with pytest.raises(DataError, match="not prepared data"):
        prepared.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        prepared.read_manifest(str(tmp_path))
