import json
import subprocess
import sys

import numpy as np
import pytest

from toolkit.core.errors import VocabularyError
from toolkit.edge.text import FIRST_WORD_ID, OOV_ID, PAD_ID, START_ID, Vocabulary, pad_sequences, tokenize


def test_tokenize_lowercases_strips_breaks_and_keeps_inner_apostrophes():
    assert tokenize("A GREAT film.<br /><br />Don't miss it!<BR/>10/10") == [
        "a",
        "great",
        "film",
        "don't",
        "miss",
        "it",
        "10",
        "10",
    ]
    assert tokenize("'quoted' -- well...") == ["quoted", "well"]
    assert tokenize("") == [] and tokenize("   \n\t") == []


def test_tokenizer_version_2_lowercases_ascii_only_and_version_1_vocabularies_still_load(tmp_path):
    # version 2 (the default) and 1 agree except where lower() maps non-ASCII into ASCII, or a tag
    # holds non-ASCII white space
    for text in ("A GREAT film.<br /><br />Don't miss it!<BR/>10/10", "caf\u00e9 na\u00efve \u00c9COLE", "a''b 90's"):
        assert tokenize(text) == tokenize(text, 1)
    assert tokenize("\u0130stanbul \u212a <br\xa0/>x") == ["stanbul", "br", "x"]
    assert tokenize("\u0130stanbul \u212a <br\xa0/>x", 1) == ["i", "stanbul", "k", "x"]
    v1 = Vocabulary(("k", "x"), num_words=10, maxlen=5, tokenizer_version=1)
    v1.save(tmp_path / "v1.json")
    loaded = Vocabulary.load(tmp_path / "v1.json")
    assert loaded.tokenizer_version == 1 and loaded.sha256 == v1.sha256
    assert loaded.ids("\u212a x") == [START_ID, 3, 4]  # encoded with version 1, as it was trained
    assert Vocabulary.build(["\u212a x"], 10, 5).tokenizer_version == 2
    assert json.loads(Vocabulary.build(["a"], 10, 5).to_json())["break_pattern"] == "<[bB][rR][ \\t\\n\\r\\f\\v]*/?>"


def test_vocabulary_ranks_by_frequency_breaks_ties_alphabetically_and_reserves_ids():
    vocab = Vocabulary.build(["b a a c", "c a b d"], num_words=6, maxlen=8)
    # a:3, b:2, c:2, d:1 -> room for num_words - 3 = 3 words; b before c (tie, alphabetical)
    assert vocab.words == ("a", "b", "c")
    assert vocab.ids("a b c d zzz") == [START_ID, 3, 4, 5, OOV_ID, OOV_ID]
    row = vocab.encode(["a b c d"])[0]
    assert row.dtype == np.int32 and row.shape == (8,)
    assert list(row) == [PAD_ID, PAD_ID, PAD_ID, START_ID, 3, 4, 5, OOV_ID]
    assert vocab.encode(["c"] * 3).max() < vocab.num_words


def test_encode_pre_truncates_keeping_the_end():
    vocab = Vocabulary.build(["w1 w2 w3 w4 w5"], num_words=10, maxlen=3)
    assert list(vocab.encode(["w1 w2 w3 w4 w5"])[0]) == [vocab.ids("w3")[1], vocab.ids("w4")[1], vocab.ids("w5")[1]]
    # empty and whitespace-only reviews encode to just the start id
    assert list(vocab.encode(["", "  "])[1]) == [PAD_ID, PAD_ID, START_ID]


def test_pad_sequences_equals_keras_on_random_sequences():
    from toolkit._tf import keras

    rng = np.random.default_rng(0)
    for maxlen in (1, 5, 37):
        seqs = [list(rng.integers(1, 5000, size=rng.integers(0, 60))) for _ in range(50)] + [[]]
        expected = keras.utils.pad_sequences(seqs, maxlen=maxlen)
        got = pad_sequences(seqs, maxlen)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


def test_json_round_trip_with_version_and_checksum(tmp_path):
    vocab = Vocabulary.build(["great movie", "bad movie"], num_words=50, maxlen=20)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    data = json.loads(path.read_text())
    assert data["format_version"] == 1 and data["tokenizer_version"] == 2
    assert (data["pad_id"], data["start_id"], data["oov_id"], data["first_word_id"]) == (0, 1, 2, FIRST_WORD_ID)
    assert data["sha256"] == vocab.sha256 and len(vocab.sha256) == 64
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.sha256 == vocab.sha256
    np.testing.assert_array_equal(loaded.encode(["a great movie"]), vocab.encode(["a great movie"]))


def test_tampered_or_foreign_vocabulary_is_rejected(tmp_path):
    vocab = Vocabulary.build(["great movie", "bad movie"], num_words=50, maxlen=20)
    data = json.loads(vocab.to_json())
    data["words"][0] = "awful"
    with pytest.raises(VocabularyError, match="checksum"):
        Vocabulary.from_json(json.dumps(data))
    with pytest.raises(VocabularyError, match="format"):
        Vocabulary.from_json(json.dumps({**json.loads(vocab.to_json()), "format_version": 99}))
    with pytest.raises(VocabularyError, match="not a toolkit vocabulary"):
        Vocabulary.from_json('{"a": 1}')
    with pytest.raises(VocabularyError, match="JSON"):
        Vocabulary.from_json("{not json")
    with pytest.raises(VocabularyError, match="not valid JSON .*4300 digits"):  # was a ValueError traceback
        Vocabulary.from_json('{"maxlen": ' + "9" * 5000 + "}")
    # a correct checksum over malformed fields (anyone can compute one): one-line errors, not KeyError
    from toolkit.edge.text import _content_sha256

    def signed(**changes):
        spec = {**vocab.spec(), **changes}
        spec = {k: v for k, v in spec.items() if v is not None}
        return json.dumps({**spec, "sha256": _content_sha256(spec)})

    with pytest.raises(VocabularyError, match="the field 'pad_id' is missing"):
        Vocabulary.from_json(signed(pad_id=None))
    with pytest.raises(VocabularyError, match="words must be a list of strings"):
        Vocabulary.from_json(signed(words="great movie"))
    with pytest.raises(VocabularyError, match="num_words and maxlen must be whole numbers"):
        Vocabulary.from_json(signed(maxlen="20"))
    assert Vocabulary.from_json(signed()) == vocab


def test_text_module_does_not_import_tensorflow():
    code = "import sys, toolkit.edge.text; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
