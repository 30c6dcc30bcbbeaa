"""prepare.texts: the texts prepared data was encoded from, read again without Ray, in the shards' order;
a source file changed since is refused (the shards here come from pipeline's own steps, without Ray)."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.config import DataConfig, PrepareConfig
from toolkit.core.errors import DataError
from toolkit.data import prepared
from toolkit.edge.text import Vocabulary
from toolkit.prepare import pipeline
from toolkit.prepare.inputs import find_inputs
from toolkit.prepare.texts import prepared_texts


def test_the_texts_come_back_in_the_shards_order_and_a_changed_file_is_refused(tmp_path):
    texts = ["a good film", "", "a bad film", "good good", "an awful film <br /> bad"]
    labels = ["pos", "pos", "neg", "pos", "neg"]
    pq.write_table(pa.table({"review": texts, "sentiment": labels}), tmp_path / "train.parquet")
    pq.write_table(pa.table({"review": texts[::-1], "sentiment": labels[::-1]}), tmp_path / "test.parquet")
    cfg = PrepareConfig(DataConfig(path=str(tmp_path), num_words=10, maxlen=6), out=str(tmp_path / "out"))
    inputs = find_inputs(cfg.data)
    kept = [t for t in texts if t]
    vocab = Vocabulary.build(kept, 10, 6)
    shards = []
    for role, paths in inputs.splits.items():
        batch = pq.read_table(paths[0])
        encoded = pipeline.encode_rows(batch, vocab.words, 6, ("neg", "pos"), inputs.cols, role, role)
        shards += pipeline.write_shard(encoded, role, 2, cfg.out).to_pylist()
    manifest = pipeline._manifest(cfg, pipeline._settings(cfg, inputs), vocab, ("neg", "pos"), {}, {}, shards, 1.0)
    (tmp_path / "out" / "vocab.json").write_text(vocab.to_json())
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(manifest))
    p = prepared.read_manifest(cfg.out)
    assert prepared_texts(p, "test") == kept[::-1] and prepared_texts(p, "train") == kept  # the empty text: skipped
    np.testing.assert_array_equal(vocab.encode(prepared_texts(p, "test")), prepared.load_split(p, "test").x)
    pq.write_table(pa.table({"review": texts[:2], "sentiment": labels[:2]}), tmp_path / "test.parquet")
    with pytest.raises(DataError, match="changed since it was prepared"):
        prepared_texts(p, "test")
