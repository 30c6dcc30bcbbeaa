"""data.dataset: encoded splits, class-balanced limits, tabular files through load_data, keras.datasets.imdb
(data.keras_imdb) and the real reviews (the cache: test_cache)."""

import numpy as np
import pytest

from tests.data.tables import write_jsonl
from tests.helpers import data_cfg
from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data.dataset import load_data, raw_texts


def test_folder_and_tarball_give_identical_arrays(corpus_dir, corpus_tarball):
    a, b = load_data(data_cfg(corpus_dir)), load_data(data_cfg(corpus_tarball))
    for split in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
        np.testing.assert_array_equal(getattr(a, split).review_ids, getattr(b, split).review_ids)
    assert a.vocabulary == b.vocabulary


def test_limit_takes_a_class_balanced_subset(corpus_tarball):
    data = load_data(data_cfg(corpus_tarball, limit=10))
    for split in (data.train, data.test):
        assert len(split) == 10 and int(split.y.sum()) == 5
    with pytest.raises(DataError, match="larger than the data"):
        load_data(data_cfg(corpus_tarball, limit=1000))


def test_validation_fraction_holds_out_stratified_training_reviews(corpus_tarball, tmp_path):
    cfg = data_cfg(corpus_tarball, cache_dir=str(tmp_path), validation_fraction=0.25)
    data = load_data(cfg)
    full = load_data(data_cfg(corpus_tarball, cache_dir=str(tmp_path)))
    assert data.classes == ("negative", "positive") and full.validation is None
    assert len(data.validation) == 10 and np.bincount(data.validation.y).tolist() == [5, 5]  # of 20 neg, 21 pos
    assert len(data.train) == 31 and not set(data.train.review_ids) & set(data.validation.review_ids)
    assert set(data.train.review_ids) | set(data.validation.review_ids) == set(full.train.review_ids)
    np.testing.assert_array_equal(data.test.review_ids, full.test.review_ids)
    cached = load_data(cfg)
    assert cached.from_cache and cached.classes == data.classes
    np.testing.assert_array_equal(cached.validation.x, data.validation.x)
    np.testing.assert_array_equal(cached.validation.review_ids, data.validation.review_ids)


def test_tabular_settings_are_refused_for_the_aclimdb_and_keras_sources(corpus_tarball):
    with pytest.raises(DataError, match="--text-column, --test-fraction only apply to tabular data files"):
        load_data(data_cfg(corpus_tarball, text_column="review", test_fraction=0.1))
    with pytest.raises(DataError, match="--labels only apply to tabular .*keras.datasets.imdb has its own"):
        load_data(DataConfig(source="keras", labels=("a", "b")))
    with pytest.raises(DataError, match=r"^--test-data only apply to tabular data files"):
        load_data(data_cfg(corpus_tarball, test_path="holdout.csv"))


# --- tabular files -------------------------------------------------------------------------------
def test_three_classes_from_jsonl_train_and_test_files(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ["pos", "neutral", "neg"] * 4)
    write_jsonl(tmp_path / "test.jsonl", ["neg", "pos", "neutral"], extra="testonlyword")
    data = load_data(data_cfg(tmp_path))
    assert data.classes == ("neg", "neutral", "pos") and data.validation is None
    assert data.train.y.tolist() == [2, 1, 0] * 4 and data.test.y.tolist() == [0, 2, 1]
    assert data.train.review_ids[:2].tolist() == ["train.jsonl:1", "train.jsonl:2"]
    assert data.test.review_ids.tolist() == ["test.jsonl:1", "test.jsonl:2", "test.jsonl:3"]
    assert "testonlyword" not in data.vocabulary.words and "brilliant" in data.vocabulary.words
    great = data.vocabulary.ids("great")[1]
    assert (data.train.y[(data.train.x == great).any(axis=1)] == 2).all()
    assert data.source == str(tmp_path) and len(data.source_sha256) == 64 and data.invalid_utf8 is None
    assert "train 12 (4 neg / 4 neutral / 4 pos" in data.summary() and "UTF-8" not in data.summary()
    assert raw_texts(data_cfg(tmp_path))["test"]["test.jsonl:2"] == "great brilliant film number1 testonlyword"


def test_without_a_test_split_20_percent_is_held_out_and_logged(tmp_path, capsys):
    path = write_jsonl(tmp_path / "all.jsonl", ["10", "2"] * 10)
    data = load_data(data_cfg(path))
    assert data.classes == ("2", "10")  # numerically
    assert len(data.test) == 4 and np.bincount(data.test.y).tolist() == [2, 2] and len(data.train) == 16
    assert (
        "no test split in the data: holding out 20 % of the rows (seeded, stratified by class) as the test set; "
        "--test-fraction changes it"
    ) in capsys.readouterr().err
    other = load_data(data_cfg(path, test_fraction=0.5, validation_fraction=0.25))
    assert len(other.test) == 10 and len(other.validation) == 3 and len(other.train) == 7  # 2.5 rounds up
    ids = [set(s.review_ids) for s in (other.train, other.validation, other.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert "--test-fraction: holding out 50 % of the rows" in capsys.readouterr().err


def test_labels_order_and_label_errors_through_load(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ["pos", "neg"] * 3)
    write_jsonl(tmp_path / "test.jsonl", ["neg", "neutral", "neutral"])
    with pytest.raises(DataError, match="2 test rows of .* have the label 'neutral', which no training row has"):
        load_data(data_cfg(tmp_path))
    data = load_data(data_cfg(tmp_path, labels=("pos", "neg")))  # the neutral test rows: unknown labels
    assert data.classes == ("pos", "neg") and data.test.y.tolist() == [1]
    one = write_jsonl(tmp_path / "one.jsonl", ["pos"] * 4)
    with pytest.raises(DataError, match="one class only"):
        load_data(data_cfg(one))


def test_limit_takes_at_most_limit_rows_per_split_class_balanced(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ["pos"] * 6 + ["neg"] * 6 + ["neutral"] * 2)
    write_jsonl(tmp_path / "test.jsonl", ["pos", "neg", "neutral"] * 3)
    data = load_data(data_cfg(tmp_path, limit=9))
    assert np.bincount(data.train.y).tolist() == [3, 2, 3]  # neutral has 2
    assert np.bincount(data.test.y).tolist() == [3, 3, 3]
    assert data.train.review_ids.tolist() == sorted(data.train.review_ids, key=lambda r: int(r.split(":")[1]))


def test_a_limit_below_the_number_of_classes_is_a_one_line_error(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ["pos", "neutral", "neg"] * 4)
    write_jsonl(tmp_path / "test.jsonl", ["neg", "pos", "neutral"])
    with pytest.raises(DataError, match=r"^--limit 2 is fewer than the 3 classes: use at least 3$"):
        load_data(data_cfg(tmp_path, limit=2))
    assert np.bincount(load_data(data_cfg(tmp_path, limit=3)).train.y).tolist() == [1, 1, 1]


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
    data = load_data(DataConfig(source="keras", num_words=100, maxlen=20))
    assert data.train.x.shape == (12, 20) and data.test.x.shape == (8, 20)
    assert data.train.x.max() < 100 and (data.train.x == 2).any()  # ids >= num_words became OOV
    assert int(data.train.y.sum()) == 6 and data.vocabulary is None
    held = load_data(DataConfig(source="keras", num_words=100, maxlen=20, validation_fraction=0.25))
    assert len(held.train) == 9 and len(held.validation) == 3 and len(held.test) == 8
    assert not set(held.validation.review_ids) & set(held.train.review_ids)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="imdb.npz not found"):
        load_data(DataConfig(source="keras"))


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[" * 100_000, r"not a readable word index \(RecursionError\)"),
        ('["the"]', "not a table"),
        ('{"a": "1"}', "not a table"),
    ],
)
def test_a_bad_keras_word_index_is_a_one_line_error(tmp_path, content, fragment):
    from toolkit.data.keras_imdb import _keras_vocabulary

    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb_word_index.json").write_text(content)
    with pytest.raises(DataError, match=fragment):
        _keras_vocabulary(tmp_path, DataConfig(source="keras", num_words=100, maxlen=20))


# --- the real reviews --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_tarball_has_25000_reviews_per_split(real_tarball, real_cache):
    data = load_data(DataConfig(path=str(real_tarball), cache_dir=real_cache))
    for split in (data.train, data.test):
        assert len(split) == 25_000
        assert int((split.y == 0).sum()) == 12_500 and int((split.y == 1).sum()) == 12_500
        assert split.x.shape == (25_000, 500) and split.x.max() < 5000
        assert len(set(split.review_ids)) == 25_000
    assert len(data.vocabulary.words) == 4997 and data.vocabulary.words[:3] == ("the", "and", "a")
