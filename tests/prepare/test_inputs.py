"""prepare.inputs: splits from folders, names, --test-data or a split column; columns checked in every
file; one-line errors before any row is read (no Ray here)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.prepare.inputs import find_inputs


def _write(path, columns=("text", "label"), rows=4):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({c: [f"{c}{i}" for i in range(rows)] for c in columns}), path)


def test_splits_come_from_folders_names_test_data_or_a_split_column(tmp_path):
    _write(tmp_path / "a" / "train" / "part-0.parquet")
    _write(tmp_path / "a" / "test" / "part-0.parquet")
    _write(tmp_path / "a" / "validation" / "x.parquet")
    _write(tmp_path / "a" / "notes.parquet")
    found = find_inputs(DataConfig(path=str(tmp_path / "a")))
    assert {k: len(v) for k, v in found.splits.items()} == {"train": 1, "test": 1, "validation": 1}
    assert any("notes.parquet" in n and "left out" in n for n in found.notes)
    _write(tmp_path / "b" / "reviews.parquet", ("review", "sentiment", "split"))
    found = find_inputs(DataConfig(path=str(tmp_path / "b")))
    assert list(found.splits) == ["rows"] and found.cols.split == "split" and found.cols.text == "review"
    _write(tmp_path / "c.parquet")
    _write(tmp_path / "d.parquet")
    found = find_inputs(DataConfig(path=str(tmp_path / "c.parquet"), test_path=str(tmp_path / "d.parquet")))
    assert [len(v) for v in found.splits.values()] == [1, 1] and set(found.splits) == {"train", "test"}
    assert [row[0] for row in found.fingerprint()] == ["train", "test"]


@pytest.mark.parametrize(
    "layout, cfg, message",
    [
        ({"x.parquet": ("text", "label")}, {}, "has no test split"),
        ({"train.parquet": ("text", "label"), "test.parquet": ("body", "label")}, {}, "other files"),
        ({"train.parquet": ("words", "label"), "test.parquet": ("words", "label")}, {}, "no column is named like text"),
        ({"train.parquet": ("text", "label")}, {"text_column": "review"}, "has no column named 'review'"),
        ({"notes.txt": None}, {}, "holds no tabular files"),
        ({"test.parquet": ("text", "label")}, {}, "has no training files"),
    ],
)
def test_bad_layouts_are_one_line_errors(tmp_path, layout, cfg, message):
    for name, columns in layout.items():
        if columns is None:
            (tmp_path / name).write_text("hello")
        else:
            _write(tmp_path / name, columns)
    with pytest.raises(DataError, match=message):
        find_inputs(DataConfig(path=str(tmp_path), **cfg))


def test_a_missing_path_and_a_bad_uri(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_inputs(DataConfig(path=str(tmp_path / "nothing")))
    with pytest.raises(DataError, match="Unrecognized filesystem"):
        find_inputs(DataConfig(path="bogus://x/y"))
