"""data.imdb: encoded splits, the cache, class-balanced limits, keras.datasets.imdb and the real reviews."""

import numpy as np
import pytest

from tests.helpers import data_cfg
from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data.imdb import load_imdb


def test_folder_and_tarball_give_identical_arrays(corpus_dir, corpus_tarball):
    a, b = load_imdb(data_cfg(corpus_dir)), load_imdb(data_cfg(corpus_tarball))
    for split in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
        np.testing.assert_array_equal(getattr(a, split).review_ids, getattr(b, split).review_ids)
    assert a.vocabulary == b.vocabulary


def test_encoded_arrays_are_cached_by_source_and_settings(corpus_tarball, tmp_path):
    cfg = data_cfg(corpus_tarball, cache_dir=str(tmp_path))
    first = load_imdb(cfg)
    assert not first.from_cache
    files = list((tmp_path / "encoded").glob("*.npz"))
    assert len(files) == 1
    second = load_imdb(cfg)
    assert second.from_cache and second.vocabulary == first.vocabulary and second.invalid_utf8 == 1
    np.testing.assert_array_equal(second.train.x, first.train.x)
    np.testing.assert_array_equal(second.test.review_ids, first.test.review_ids)
    # another maxlen is another cache entry, not a stale hit
    other = load_imdb(DataConfig(path=str(corpus_tarball), num_words=30, maxlen=10, cache_dir=str(tmp_path)))
    assert not other.from_cache and other.train.x.shape[1] == 10
    assert len(list((tmp_path / "encoded").glob("*.npz"))) == 2
    # a damaged cache entry is ignored and rebuilt, never an error
    (cache,) = files
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(cache, **{**arrays, "meta": np.array("{}")})  # readable, but its meta lacks the fields
    assert not load_imdb(cfg).from_cache and load_imdb(cfg).from_cache
    cache.write_bytes(cache.read_bytes()[:200])  # truncated
    rebuilt = load_imdb(cfg)
    assert not rebuilt.from_cache and np.array_equal(rebuilt.train.x, first.train.x)


def test_limit_takes_a_class_balanced_subset(corpus_tarball):
    data = load_imdb(data_cfg(corpus_tarball, limit=10))
    for split in (data.train, data.test):
        assert len(split) == 10 and int(split.y.sum()) == 5
    with pytest.raises(DataError, match="larger than the data"):
        load_imdb(data_cfg(corpus_tarball, limit=1000))


# --- keras.datasets.imdb -----------------------------------------------------------------------
def test_keras_source_reads_imdb_npz_from_keras_home(tmp_path, monkeypatch):
    import tf_keras.src.utils.data_utils as data_utils

    datasets = tmp_path / "datasets"
    datasets.mkdir()
    rng = np.random.default_rng(0)

    def seqs(n):
        return np.array([list(rng.integers(1, 9000, size=rng.integers(3, 30))) for _ in range(n)], dtype=object)

    np.savez(
        datasets / "imdb.npz",
        x_train=seqs(12),
        y_train=np.array([0, 1] * 6),
        x_test=seqs(8),
        y_test=np.array([1, 0] * 4),
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # keras checks the real file's sha256 and would re-download our small one: accept its hash only
    monkeypatch.setattr(data_utils, "validate_file", lambda *a, **k: True)
    data = load_imdb(DataConfig(source="keras", num_words=100, maxlen=20))
    assert data.train.x.shape == (12, 20) and data.test.x.shape == (8, 20)
    assert data.train.x.max() < 100 and (data.train.x == 2).any()  # ids >= num_words became OOV
    assert int(data.train.y.sum()) == 6 and data.vocabulary is None
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="imdb.npz not found"):
        load_imdb(DataConfig(source="keras"))


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[" * 100_000, r"not a readable word index \(RecursionError\)"),
        ('["the"]', "not a table"),
        ('{"a": "1"}', "not a table"),
    ],
)
def test_a_bad_keras_word_index_is_a_one_line_error(tmp_path, content, fragment):
    from toolkit.data.imdb import _keras_vocabulary

    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb_word_index.json").write_text(content)
    with pytest.raises(DataError, match=fragment):
        _keras_vocabulary(tmp_path, DataConfig(source="keras", num_words=100, maxlen=20))


# --- the real reviews --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_tarball_has_25000_reviews_per_split(real_tarball, real_cache):
    data = load_imdb(DataConfig(path=str(real_tarball), cache_dir=real_cache))
    for split in (data.train, data.test):
        assert len(split) == 25_000
        assert int((split.y == 0).sum()) == 12_500 and int((split.y == 1).sum()) == 12_500
        assert split.x.shape == (25_000, 500) and split.x.max() < 5000
        assert len(set(split.review_ids)) == 25_000
    assert len(data.vocabulary.words) == 4997 and data.vocabulary.words[:3] == ("the", "and", "a")
