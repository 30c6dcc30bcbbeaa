"""data.tabular: the user's own CSV, TSV, JSON lines and Parquet files: formats and compression, folders and
globs, column detection, which rows are test rows, labels as text, bad rows (skipped and counted, or
--strict), unreadable files. Tiny files written in tmp_path."""

import bz2
import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data import tabular
from toolkit.data.tabular import find_tabular, read_tabular, tabular_format

ROWS = [("a great film", "pos"), ("an awful film", "neg"), ("great acting", "pos"), ("awful plot", "neg")]


def write(path: Path, rows, columns=("text", "label")) -> Path:
    """``rows`` (tuples in ``columns`` order) as the file ``path`` names: its format and compression."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, compression = tabular_format(path)
    records = [dict(zip(columns, r)) for r in rows]
    if fmt == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(records), sink)
        payload = sink.getvalue().to_pybytes()
    elif fmt == "json":
        payload = "".join(json.dumps(r) + "\n" for r in records).encode()
    else:
        lines = []

        class Sink:
            def write(self, s):
                lines.append(s)

        writer = csv.writer(Sink(), delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        payload = "".join(lines).encode()
    if compression == "gzip":
        payload = gzip.compress(payload)
    elif compression == "bz2":
        payload = bz2.compress(payload)
    elif compression == "zstd":
        stream = pa.BufferOutputStream()
        with pa.CompressedOutputStream(stream, "zstd") as out:
            out.write(payload)
        payload = stream.getvalue().to_pybytes()
    path.write_bytes(payload)
    return path


def read(path, **kw):
    cfg = DataConfig(path=str(path), **kw)
    return read_tabular(find_tabular(cfg), cfg)


def texts(rows):
    return [r.text for r in rows]


# --- formats, folders, globs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "r.csv",
        "r.tsv",
        "r.jsonl",
        "r.json",
        "r.ndjson",
        "r.parquet",
        "r.csv.gz",
        "r.tsv.bz2",
        "r.jsonl.gz",
        "r.jsonl.zst",
        "r.parquet.gz",
    ],
)
def test_each_format_reads_the_rows_in_order(tmp_path, name):
    rows = read(write(tmp_path / name, ROWS))
    assert rows.test is None  # no test split in one file without a split column
    assert [(r.text, r.label) for r in rows.train] == ROWS
    assert [r.review_id for r in rows.train] == [f"{name}:{i}" for i in range(1, 5)]


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


# --- columns --------------------------------------------------------------------------------------
def test_columns_are_detected_by_common_names_and_logged(tmp_path, capsys):
    path = write(tmp_path / "r.csv", [(1, t, lab) for t, lab in ROWS], columns=("id", "Review", "SENTIMENT"))
    rows = read(path)
    assert [(r.text, r.label) for r in rows.train] == ROWS
    err = capsys.readouterr().err
    assert err.count("columns:") == 1 and "text 'Review', label 'SENTIMENT' (found by name" in err


def test_no_or_several_candidate_columns_are_one_line_errors_listing_the_columns(tmp_path):
    none = write(tmp_path / "none.csv", [(t, lab) for t, lab in ROWS], columns=("words", "label"))
    with pytest.raises(DataError, match=r"none.csv: no column is named like text .*'words', 'label'.*--text-column"):
        read(none)
    several = write(tmp_path / "two.csv", [(t, lab, 1) for t, lab in ROWS], columns=("text", "label", "stars"))
    with pytest.raises(DataError, match=r"two.csv: several columns could be the label \('label', 'stars'\)") as e:
        read(several)
    assert "\n" not in str(e.value) and "--label-column" in str(e.value)


def test_named_columns_and_a_missing_name(tmp_path):
    path = write(tmp_path / "r.jsonl", [(t, lab, 5) for t, lab in ROWS], columns=("words", "label", "stars"))
    rows = read(path, text_column="words", label_column="stars")
    assert {r.label for r in rows.train} == {"5"} and texts(rows.train)[0] == "a great film"
    with pytest.raises(DataError, match=r"r.jsonl has no column named 'body' \(its columns: 'words', 'label', "):
        read(path, text_column="body", label_column="label")
    with pytest.raises(DataError, match="must differ"):
        read(path, text_column="words", label_column="words")


# --- which rows are test rows ---------------------------------------------------------------------
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
    with pytest.raises(DataError, match="test path .*notes holds no tabular file"):
        read(train, test_path=str(tmp_path / "notes"))
    with pytest.raises(DataError, match="test path .*matches no file"):
        read(train, test_path=str(tmp_path / "held" / "*.txt"))


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
    with pytest.raises(DataError, match="holds test files .* and --test-path is given"):
        read(folder, test_path=str(write(tmp_path / "other.csv", ROWS)))
    only_test = tmp_path / "only"
    write(only_test / "test.csv", ROWS)
    write(only_test / "more.csv", ROWS)
    with pytest.raises(DataError, match=r"holds test files \(test.csv\) but no train\* file"):
        read(only_test)
    assert read(f"{only_test}/test.csv").test is None  # one named file: its name does not split it


def test_a_split_column_places_each_row_and_others_are_counted(tmp_path, capsys):
    splits = ["train", "TEST", "train", "validation", "train", "test", None]
    data = [(f"review {i}", "ab"[i % 2], s) for i, s in enumerate(splits)]
    path = write(tmp_path / "r.parquet", data, columns=("text", "label", "Split"))
    rows = read(path)
    assert texts(rows.train) == ["review 0", "review 2", "review 4"] and texts(rows.test) == ["review 1", "review 5"]
    assert "ignoring 2 rows whose split is neither train nor test (validation 1, (none) 1)" in capsys.readouterr().err
    named = write(tmp_path / "n.csv", [(t, lab, "test" if i == 3 else "train") for i, (t, lab) in enumerate(ROWS)],
                  columns=("text", "label", "part"))  # fmt: skip
    assert texts(read(named, split_column="part").test) == ["awful plot"]
    with pytest.raises(DataError, match="--test-fraction holds test rows out.*column 'Split'"):
        read(path, test_fraction=0.2)
    only_train = write(tmp_path / "t.csv", [(t, lab, "train") for t, lab in ROWS], columns=("text", "label", "split"))
    assert read(only_train).test is None  # a split column naming no test row is not a test split
    with pytest.raises(DataError, match="no row's 'split' value is 'test'"):
        read(only_train, split_column="split")


# --- labels -----------------------------------------------------------------------------------------
def test_labels_become_text(tmp_path):
    data = [("one", 1.0), ("two", 2), ("yes", True), ("no", False), ("missing", None), ("nan", float("nan"))]
    rows = read(write(tmp_path / "r.jsonl", [(t, lab) for t, lab in data[:2]] + [("x", 3.5)]))
    assert [r.label for r in rows.train] == ["1", "2", "3.5"]
    rows = read(write(tmp_path / "b.parquet", [(t, lab) for t, lab in data[2:4]]))
    assert [r.label for r in rows.train] == ["true", "false"]
    rows = read(write(tmp_path / "f.parquet", [("one", 1.0), ("nan", float("nan")), ("three", 3.0)]))
    assert [r.label for r in rows.train] == ["1", "3"]  # NaN: a null label, skipped
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("text,label\na, pos \nb,NA\nc,neg\nd,\ne,null\n")
    assert [r.label for r in read(csv_file).train] == ["pos", "neg"]


# --- bad rows -------------------------------------------------------------------------------------
BAD = {
    "empty text": "text,label\nfine,1\n,1\nok,2\n",
    "whitespace": "text,label\nfine,1\n   ,1\nok,2\n",
    "null label": "text,label\nfine,1\nno label,\nok,2\n",
    "invalid UTF-8": b"text,label\nfine,1\ncaf\xe9,1\nok,2\n",
    "ragged line": "text,label\nfine,1\nthree,fields,here\nok,2\n",
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_row_kind_is_skipped_and_counted_or_a_strict_error(tmp_path, capsys, case):
    path = tmp_path / "reviews.csv"
    content = BAD[case]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    kind = "empty text" if case == "whitespace" else case
    where = "line 3" if kind == "ragged line" else "row 2"
    rows = read(path)
    assert texts(rows.train) == ["fine", "ok"] and [r.review_id for r in rows.train] == [
        "reviews.csv:1",
        "reviews.csv:3",
    ]
    assert f"skipped 1 row: 1 {kind} (first: reviews.csv {where})" in capsys.readouterr().err
    with pytest.raises(DataError, match=f"reviews.csv {where}: {kind} \\(drop --strict to skip such rows\\)"):
        read(path, strict=True)


def test_bad_rows_in_json_and_parquet_are_found_per_row(tmp_path, capsys, monkeypatch):
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b'{"text": "fine", "label": 1}\n{"text": "caf\xe9", "label": 1}\n{"text": null, "label": 2}\n')
    assert texts(read(jsonl).train) == ["fine"]
    assert "skipped 2 rows: 1 empty text (first: r.jsonl row 3), 1 invalid UTF-8 (first: r.jsonl row 2)" in (
        capsys.readouterr().err
    )
    invalid = pa.array([b"fine", b"caf\xe9", b"ok"], pa.binary()).view(pa.string())  # a string column, bad bytes
    pq.write_table(pa.table({"text": invalid, "label": [1, 2, 1]}), tmp_path / "r.parquet")
    assert texts(read(tmp_path / "r.parquet").train) == ["fine", "ok"]
    with pytest.raises(DataError, match="r.parquet row 2: invalid UTF-8"):
        read(tmp_path / "r.parquet", strict=True)
    monkeypatch.setattr(tabular, "MAX_REVIEW_BYTES", 5)
    assert texts(read(tmp_path / "r.parquet").train) == ["fine", "ok"]  # 4 and 2 bytes
    long = write(tmp_path / "long.csv", [("short", 1), ("far too long", 2), ("tiny", 2)])
    assert texts(read(long).train) == ["short", "tiny"]
    assert "1 text too long (first: long.csv row 2)" in capsys.readouterr().err


def test_unknown_labels_with_labels_given(tmp_path, capsys):
    path = write(tmp_path / "r.csv", [("a", "pos"), ("b", "meh"), ("c", "neg"), ("d", "meh")])
    assert texts(read(path, labels=("neg", "pos")).train) == ["a", "c"]
    assert "skipped 2 rows: 2 unknown label (first: r.csv row 2)" in capsys.readouterr().err
    with pytest.raises(DataError, match="r.csv row 2: unknown label"):
        read(path, labels=("neg", "pos"), strict=True)


def test_a_ragged_line_that_is_not_utf8_is_a_one_line_error_without_a_traceback(tmp_path, capfd):
    path = tmp_path / "r.csv"
    path.write_bytes(b"text,label\nfine,1\ncaf\xe9,1,2\nok,2\n")
    with pytest.raises(DataError, match="r.csv is not a readable CSV file: line 3 has the wrong number of fields"):
        read(path)
    assert "Traceback" not in capfd.readouterr().err


def test_the_strict_error_is_the_first_bad_row_of_the_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,label\nfine,1\n,1\nx,y,z\n")
    with pytest.raises(DataError, match="r.csv row 2: empty text"):
        read(path, strict=True)


def test_a_file_without_a_usable_row_is_an_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,label\n,1\n  ,2\n")
    with pytest.raises(DataError, match=r"r.csv has no usable row \(2 bad rows skipped\)"):
        read(path)
    header_only = tmp_path / "h.csv"
    header_only.write_text("text,label\n")
    with pytest.raises(DataError, match="h.csv has no usable row"):
        read(header_only)


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("junk.csv", bytes(range(256)) * 4, "not a readable CSV file"),
        ("empty.csv", b"", r"not a readable CSV file \(Empty CSV file\)"),
        ("junk.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("array.json", b'[{"text": "a", "label": 1}]', "holds a JSON array; write one JSON object per line"),
        ("line.jsonl", b'{"text": "a", "label": 1}\nnot json\n', "not a readable JSON lines file"),
        ("mixed.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", "label": "x"}\n', "one type in all lines"),
        ("bad.csv.gz", b"not gzip at all", "not a readable CSV file"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v and len(v) < 20 else "",
)
def test_an_unreadable_file_is_a_one_line_error(tmp_path, name, content, fragment):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=fragment) as e:
        read(tmp_path / name)
    assert name in str(e.value) and "\n" not in str(e.value)


def test_a_truncated_parquet_file_is_a_one_line_error(tmp_path):
    path = write(tmp_path / "r.parquet", ROWS)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="r.parquet is not a readable Parquet file"):
        read(path)


def test_text_that_is_not_text_is_an_error(tmp_path):
    path = write(tmp_path / "r.parquet", [(1, "a"), (2, "b")])
    with pytest.raises(DataError, match="column 'text' holds int64 values, not text"):
        read(path)


def test_the_source_fingerprint_follows_bytes_names_and_roles(tmp_path):
    write(tmp_path / "train.csv", ROWS)
    write(tmp_path / "test.csv", ROWS[:2])
    source = find_tabular(DataConfig(path=str(tmp_path)))
    sha, key = source.fingerprint()
    assert [k[:2] for k in key] == [["test", "test.csv"], ["train", "train.csv"]]
    write(tmp_path / "test.csv", ROWS[:3])
    assert source.fingerprint()[0] != sha
