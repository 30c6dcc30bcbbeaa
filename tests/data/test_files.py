"""data.files: which files make the data: tabular file names (format and compression), folders and
globs, an aclImdb folder left to sources, split folders, --test-data (left out of the training files)
and train*/test* files by name, the source's fingerprint. Tiny files written in tmp_path."""

from pathlib import Path

import pytest

from tests.data.tables import ROWS, read, texts, write
from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data.files import find_tabular, tabular_format


# --- names, folders, globs ------------------------------------------------------------------------
def test_tabular_format_reads_names():
    assert tabular_format(Path("a/Reviews.CSV")) == ("csv", None)
    assert tabular_format(Path("x.v2.jsonl.zst")) == ("json", "zstd")
    assert tabular_format(Path("aclImdb_v1.tar.gz")) is None and tabular_format(Path("notes.txt")) is None


def test_a_folder_a_glob_and_paths_with_spaces(tmp_path, capsys):
    folder = tmp_path / "my data"
    write(folder / "part one.csv", ROWS[:2])
    write(folder / "part two.jsonl", ROWS[2:])
    (folder / "README.md").write_text("about the data")
    rows = read(folder)
    assert texts(rows.train) == [t for t, _ in ROWS]
    assert "ignoring 1 file that is not tabular: README.md" in capsys.readouterr().err
    assert texts(read(f"{folder}/*.csv").train) == [t for t, _ in ROWS[:2]]
    assert [r.review_id for r in read(folder / "part two.jsonl").train] == ["part two.jsonl:1", "part two.jsonl:2"]
    with pytest.raises(DataError, match="matches no file"):
        read(f"{folder}/*.parquet")


def test_an_aclimdb_folder_stays_aclimdb_and_a_missing_path_is_left_to_sources(corpus_dir, tmp_path):
    assert find_tabular(DataConfig(path=str(corpus_dir))) is None
    assert find_tabular(DataConfig(path=str(corpus_dir.parent))) is None
    assert find_tabular(DataConfig(path=str(tmp_path / "missing.csv"))) is None
    nested = tmp_path / "snapshot"
    write(nested / "plain_text" / "train-00000-of-00001.parquet", ROWS)
    with pytest.raises(DataError, match="holds no tabular file itself, but plain_text in it does"):
        find_tabular(DataConfig(path=str(nested)))


def test_toolkit_data_names_tabular_files_too(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_DATA", str(write(tmp_path / "r.csv", ROWS)))
    assert find_tabular(DataConfig()).train_files == ((tmp_path / "r.csv").resolve(),)


# --- test files -----------------------------------------------------------------------------------
def test_test_path_gives_the_test_rows(tmp_path):
    train = write(tmp_path / "train data.csv", ROWS)
    test = write(tmp_path / "held" / "eval.parquet", ROWS[:2])
    rows = read(train, test_path=str(test))
    assert len(rows.train) == 4 and texts(rows.test) == ["a great film", "an awful film"]
    assert rows.test[0].review_id == "eval.parquet:1"
    with pytest.raises(DataError, match="--test-fraction holds test rows out, but the data has a test split"):
        read(train, test_path=str(test), test_fraction=0.3)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("not tabular")
    with pytest.raises(DataError, match="--test-data .*notes holds no tabular file"):
        read(train, test_path=str(tmp_path / "notes"))
    with pytest.raises(DataError, match="--test-data .*matches no file"):
        read(train, test_path=str(tmp_path / "held" / "*.txt"))
    with pytest.raises(DataError, match=r"^--test-data .*hold-out\.csv does not exist$"):
        read(train, test_path=str(tmp_path / "hold-out.csv"))


def test_train_and_test_files_by_name_hugging_face_layout(tmp_path, capsys):
    folder = tmp_path / "hf"
    write(folder / "train-00000-of-00001.parquet", ROWS)
    write(folder / "test-00000-of-00001.parquet", ROWS[:2])
    write(folder / "validation-00000-of-00001.parquet", ROWS[:1])
    rows = read(folder)
    assert len(rows.train) == 4 and len(rows.test) == 2
    assert "ignoring 1 file (validation): validation-00000-of-00001.parquet" in capsys.readouterr().err
    write(folder / "unsupervised-00000-of-00001.parquet", ROWS[:1])
    read(folder)
    assert "(neither train* nor test*)" in capsys.readouterr().err
    with pytest.raises(DataError, match="--test-fraction holds test rows out, but the data has a test split"):
        read(folder, test_fraction=0.2)
    with pytest.raises(DataError, match="holds test files .* and --test-data is given"):
        read(folder, test_path=str(write(tmp_path / "other.csv", ROWS)))
    only_test = tmp_path / "only"
    write(only_test / "test.csv", ROWS)
    write(only_test / "more.csv", ROWS)
    with pytest.raises(DataError, match=r"holds test files \(test.csv\) but no train\* file"):
        read(only_test)
    assert read(f"{only_test}/test.csv").test is None  # one named file: its name does not split it


def test_test_data_found_by_the_data_glob_or_folder_is_left_out_of_the_training_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "rel" / "a.csv", ROWS)
    write(tmp_path / "rel" / "holdout.csv", ROWS[:2])
    for data in ("rel/*.csv", "rel"):
        source = find_tabular(DataConfig(path=data, test_path="rel/holdout.csv"))
        assert [f.name for f in source.train_files] == ["a.csv"] and [f.name for f in source.test_files] == [
            "holdout.csv"
        ]
        assert "leaving rel/holdout.csv out of the training files: it is the --test-data" in source.notes
        rows = read(data, test_path="rel/holdout.csv")
        assert len(rows.train) == 4 and len(rows.test) == 2
    assert "leaving rel/holdout.csv out" in capsys.readouterr().err
    with pytest.raises(DataError, match=r"--data rel/a.csv is also the --test-data: the model would be tested") as e:
        find_tabular(DataConfig(path="rel/a.csv", test_path=str(tmp_path / "rel" / "a.csv")))
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="every file of --data rel is also --test-data"):
        find_tabular(DataConfig(path="rel", test_path="rel/*.csv"))


# --- split folders --------------------------------------------------------------------------------
def test_a_folder_of_split_folders_is_read_as_those_splits(tmp_path, capsys):
    nest = tmp_path / "nest"
    write(nest / "train" / "part-0.parquet", ROWS)
    write(nest / "test" / "part-0.parquet", ROWS[:2])
    write(nest / "validation" / "part-0.parquet", ROWS[:1])
    source = find_tabular(DataConfig(path=str(nest)))
    assert source.test_from == "file names"
    assert [f.parent.name for f in source.train_files] == ["train"] and [f.parent.name for f in source.test_files] == [
        "test"
    ]
    rows = read(nest)
    assert len(rows.train) == 4 and len(rows.test) == 2
    assert rows.test[0].review_id == "test/part-0.parquet:1"
    err = capsys.readouterr().err
    assert "reading the split folders test/ (1 file), train/ (1 file), validation/ (1 file)" in err
    assert "ignoring 1 file (validation): validation/part-0.parquet" in err
    only_test = tmp_path / "only"
    write(only_test / "test" / "part-0.parquet", ROWS)
    with pytest.raises(DataError, match=r"holds test files \(test/part-0.parquet\) but no train\* file"):
        find_tabular(DataConfig(path=str(only_test)))


def test_a_glob_classifies_files_by_their_split_folder_below_its_fixed_part(tmp_path):
    nest = tmp_path / "nest"
    write(nest / "train" / "part-0.parquet", ROWS)
    write(nest / "test" / "part-0.parquet", ROWS[:2])
    rows = read(f"{nest}/**/*.parquet")
    assert len(rows.train) == 4 and len(rows.test) == 2
    snapshot = tmp_path / "snap"  # a Hugging Face snapshot: plain_text/train/0000.parquet
    write(snapshot / "plain_text" / "train" / "0000.parquet", ROWS)
    write(snapshot / "plain_text" / "test" / "0000.parquet", ROWS[:3])
    write(snapshot / "plain_text" / "unsupervised" / "0000.parquet", ROWS[:1])
    source = find_tabular(DataConfig(path=f"{snapshot}/**/*.parquet"))
    assert len(source.train_files) == 1 and len(source.test_files) == 1
    assert "ignoring 1 file (neither train* nor test*): plain_text/unsupervised/0000.parquet" in source.notes
    assert len(read(snapshot / "plain_text").test) == 3


def test_a_train_folder_without_neg_or_pos_is_not_aclimdb(tmp_path, corpus_dir):
    odd = tmp_path / "odd"
    write(odd / "train" / "part.csv", ROWS)
    assert find_tabular(DataConfig(path=str(odd))).train_files == ((odd / "train" / "part.csv").resolve(),)
    assert find_tabular(DataConfig(path=str(corpus_dir))) is None  # aclImdb: train/neg, train/pos


# --- the fingerprint ------------------------------------------------------------------------------
def test_the_source_fingerprint_follows_bytes_names_and_roles(tmp_path):
    write(tmp_path / "train.csv", ROWS)
    write(tmp_path / "test.csv", ROWS[:2])
    source = find_tabular(DataConfig(path=str(tmp_path)))
    sha, key = source.fingerprint()
    assert [k[:2] for k in key] == [["test", "test.csv"], ["train", "train.csv"]]
    write(tmp_path / "test.csv", ROWS[:3])
    assert source.fingerprint()[0] != sha
