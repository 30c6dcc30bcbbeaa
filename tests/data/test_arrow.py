"""data.arrow: each format (and compression) read by pyarrow, labels as text, unreadable files and
columns as one-line errors. Tiny files written in tmp_path."""

import pytest

from tests.data.tables import ROWS, read, write
from toolkit.core.errors import DataError


# --- formats --------------------------------------------------------------------------------------
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


# --- labels ---------------------------------------------------------------------------------------
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


# --- unreadable files -----------------------------------------------------------------------------
def test_a_ragged_line_that_is_not_utf8_is_a_one_line_error_without_a_traceback(tmp_path, capfd):
    path = tmp_path / "r.csv"
    path.write_bytes(b"text,label\nfine,1\ncaf\xe9,1,2\nok,2\n")
    with pytest.raises(DataError, match="r.csv is not a readable CSV file: line 3 has the wrong number of fields"):
        read(path)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("junk.csv", bytes(range(256)) * 4, "not a readable CSV file"),
        ("empty.csv", b"", r"not a readable CSV file \(Empty CSV file\)"),
        ("junk.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("array.json", b'[{"text": "a", "label": 1}]', "holds a JSON array; write one JSON object per line"),
        ("line.jsonl", b'{"text": "a", "label": 1}\nnot json\n', "not a readable JSON lines file"),
        ("mixed.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", "label": "x"}\n', "one type in all lines"),
        ("blank.jsonl", b"\n\n", r"not a readable JSON lines file \(Empty JSON file\)"),
        ("bad.csv.gz", b"not gzip at all", "not a readable CSV file"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v and len(v) < 20 else "",
)
def test_an_unreadable_file_is_a_one_line_error(tmp_path, name, content, fragment):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=fragment) as e:
        read(tmp_path / name)
    assert name in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'"a great film"\n"awful"\n', "line 1 holds a JSON string, not an object: each line must be one JSON object"),
        (b'{"text": "a", "label": 1}\n"awful"\n', "changed from object to string in row 1): each line must be"),
        (b'{"text": "a", "label": 1}\n{"text": 2, "label": 1}\n', "column 'text' changes type between lines; its"),
        (b'{"text": "a", "label": 1}\n{"text": "b", "label": "x"}\n', "all lines (labels all numbers or all strings)"),
    ],
    ids=["strings", "a-string-line", "text-type", "label-type"],
)
def test_json_errors_name_the_column_and_keep_the_label_hint_for_the_label(tmp_path, content, message):
    (tmp_path / "r.jsonl").write_bytes(content)
    with pytest.raises(DataError) as e:
        read(tmp_path / "r.jsonl")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert ("labels all numbers" in str(e.value)) == ("labels all" in message)  # the label column's only


def test_a_truncated_parquet_file_is_a_one_line_error(tmp_path):
    path = write(tmp_path / "r.parquet", ROWS)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="r.parquet is not a readable Parquet file"):
        read(path)


def test_text_that_is_not_text_is_an_error(tmp_path):
    path = write(tmp_path / "r.parquet", [(1, "a"), (2, "b")])
    with pytest.raises(DataError, match="column 'text' holds int64 values, not text"):
        read(path)
