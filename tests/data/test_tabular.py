"""data.tabular: the rows of the user's own tabular files: column detection, which rows are test rows
(a split column), bad rows (skipped and counted, or --strict). Tiny files written in tmp_path."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.data.tables import ROWS, read, texts, write
from toolkit.core.errors import DataError
from toolkit.data import arrow, tabular


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


def test_every_files_columns_are_checked_before_any_row_is_read(tmp_path, monkeypatch):
    reads = []
    real = arrow.read_table
    monkeypatch.setattr(arrow, "read_table", lambda path, cols: reads.append(path.name) or real(path, cols))
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"text": f"review {i}", "label": i % 2}) + "\n" for i in range(2000)))
    with pytest.raises(DataError, match=r"big.jsonl has no column named 'txt' \(its columns: 'text', 'label'\)"):
        read(big, text_column="txt", label_column="label")
    folder = tmp_path / "parts"
    write(folder / "a.csv", ROWS)
    write(folder / "b.parquet", ROWS)
    write(folder / "c.jsonl", ROWS, columns=("text", "stars2"))
    with pytest.raises(DataError, match="c.jsonl: no column is named like label"):
        read(folder)
    assert reads == []  # no file was read: not even a.csv and b.parquet
    assert len(read(folder / "a.csv").train) == 4 and reads == ["a.csv"]
    blank_first = tmp_path / "blank.jsonl"
    blank_first.write_text('\n  \n{"review": "fine", "sentiment": "a"}\n{"review": "ok", "sentiment": "b"}\n')
    assert texts(read(blank_first).train) == ["fine", "ok"]


def test_a_kaggle_competitions_unlabelled_test_file_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kag" / "train.csv", [(i, t, lab) for i, (t, lab) in enumerate(ROWS)], ("id", "text", "label"))
    write(tmp_path / "kag" / "test.csv", [(i, t) for i, (t, _) in enumerate(ROWS)], ("id", "text"))
    with pytest.raises(DataError) as e:
        read("kag")
    assert str(e.value) == (
        "kag/test.csv has no label column (a competition's unlabelled test set?): pass --data kag/train.csv, "
        "and --test-fraction or --test-data for a labelled test set"
    )
    assert len(read("kag/train.csv").train) == 4


# --- which rows are test rows ---------------------------------------------------------------------
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


@pytest.mark.parametrize("values", [("train", "validation"), ("a", "b")])
def test_a_split_column_found_by_name_without_test_rows_is_ignored_entirely(tmp_path, capsys, values):
    data = [(f"review {i}", "ab"[i % 2], values[i % 3 == 0]) for i in range(30)]
    path = write(tmp_path / "r.csv", data, columns=("text", "label", "split"))
    rows = read(path)
    assert rows.test is None and texts(rows.train) == [t for t, _, _ in data]  # every row kept, in order
    err = capsys.readouterr().err
    assert f"column 'split' names no test row: not used as the split, every row trains ({values[0]} 20, " in err
    assert "whose split is neither" not in err and "no usable" not in err
    with_test = [(t, lab, "test" if i == 0 else s) for i, (t, lab, s) in enumerate(data)]
    given = write(tmp_path / "g.csv", with_test, columns=("text", "label", "part"))
    if values[0] == "train":  # given: rows neither train nor test are ignored, as before
        rows = read(given, split_column="part")
        assert len(rows.test) == 1 and len(rows.train) == 20
        assert "ignoring 9 rows whose split is neither train nor test (validation 9)" in capsys.readouterr().err
    else:
        with pytest.raises(DataError, match="has no usable training row"):
            read(given, split_column="part")


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
