"""reviewfiles.py: reading reviews from .txt, .jsonl and .csv files (no model needed)."""

import csv
import json

import pytest

from toolkit.errors import PredictError
from toolkit.reviewfiles import read_lines, read_reviews_file


def test_csv_takes_the_review_column_and_cells_of_any_length(tmp_path):
    long_review = "word " * 60_000  # 300 KB, over the csv module's default cell limit of 128 KB
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "Review"], ["1", "short one"], ["2", long_review], ["3", "  "]])
    limit = csv.field_size_limit()
    assert read_reviews_file(path) == ["short one", long_review]  # the blank review is skipped
    assert csv.field_size_limit() == limit  # the process-wide limit is left as it was


def test_jsonl_and_txt(tmp_path):
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(json.dumps("plain") + "\n\n" + json.dumps({"text": "in an object"}) + "\n", encoding="utf-8")
    assert read_reviews_file(jsonl) == ["plain", "in an object"]
    jsonl.write_text('{"title": "no text field"}\n', encoding="utf-8")
    with pytest.raises(PredictError, match="r.jsonl:1: expected a string or an object with a 'text' field"):
        read_reviews_file(jsonl)
    assert read_lines("one\r\ntwo\u2028still two\n\n") == ["one", "two\u2028still two"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(PredictError, match="holds no reviews"):
        read_reviews_file(empty)
