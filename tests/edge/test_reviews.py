"""reviews.py: reading reviews from .txt, .jsonl and .csv files (no model needed)."""

import csv
import json

import pytest

from toolkit.core.errors import PredictError
from toolkit.edge.reviews import read_lines, read_reviews_file


def test_csv_takes_the_review_column_and_cells_of_any_length(tmp_path):
    long_review = "word " * 60_000  # 300 KB, over the csv module's default cell limit of 128 KB
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "Review"], ["1", "short one"], ["2", long_review]])
    limit = csv.field_size_limit()
    assert read_reviews_file(path) == ["short one", long_review]
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


def test_a_jsonl_line_nested_100000_deep_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps("fine") + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(PredictError, match=r"deep.jsonl:2: JSON nested too deeply"):  # was a RecursionError
        read_reviews_file(path)
    path.write_text(json.dumps({"text": "ok", "extra": json.loads("[" * 500 + "]" * 500)}) + "\n", encoding="utf-8")
    assert read_reviews_file(path) == ["ok"]  # deep but parseable elsewhere in the object: the review counts


def test_an_empty_jsonl_entry_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "r.jsonl"
    for empty in ("", "  ", "\n"):
        for entry in (empty, {"text": empty}):
            path.write_text(json.dumps("one") + "\n\n" + json.dumps(entry) + "\n", encoding="utf-8")
            with pytest.raises(PredictError, match=r"r.jsonl:3: the review is empty"):  # was dropped or kept
                read_reviews_file(path)


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_a_csv_without_a_text_column_is_an_error_listing_its_columns(tmp_path):
    path = _write_csv(tmp_path / "r.csv", [["id", "body"], ["1", "great film"], ["2", "awful"]])
    with pytest.raises(PredictError) as caught:  # it classified the header and the ids
        read_reviews_file(path)
    message = str(caught.value)
    assert "r.csv:1: no 'text' or 'review' column" in message and "'id', 'body'" in message
    assert "text or review" in message
    # a header-less file: its first review is shown cut short, never taken as a header nor as data
    path = _write_csv(tmp_path / "r.csv", [["a very long first review " * 10], ["second"]])
    with pytest.raises(
        PredictError, match=r"r.csv:1: no 'text' or 'review' column .*'a very long first review a.*\.\.\.'"
    ):
        read_reviews_file(path)


def test_csv_rows_line_up_with_the_output_or_are_errors_naming_their_line(tmp_path):
    rows = [["id", "text"], ["1", "two\nlines"], [], ["2", "fine"]]
    path = _write_csv(tmp_path / "r.csv", rows)
    assert read_reviews_file(path) == ["two\nlines", "fine"]  # blank lines separate rows, as in .txt
    for bad, message in (
        (["3", ""], r"r.csv:6: the review is empty"),
        (["3", "   "], r"r.csv:6: the review is empty"),
        (["3"], r"r.csv:6: the row has 1 cell\(s\), no 'text' cell"),
    ):
        _write_csv(path, [*rows, bad, ["4", "after"]])  # line 6: the quoted cell of row 1 spans two lines
        with pytest.raises(PredictError, match=message):  # the row vanished: --json no longer lined up
            read_reviews_file(path)


class EndlessStream:
    """stdin that never ends (``yes | toolkit predict``): serves any bounded read, refuses an unbounded one."""

    def __init__(self):
        self.served = 0

    def read(self, size=-1):
        assert size is not None and size >= 0, "an unbounded read of an endless stream"
        self.served += size
        return b"y\n" * (size // 2) + b"y" * (size % 2)


def test_stdin_is_read_in_chunks_and_bounded_like_a_file(monkeypatch):
    from toolkit.edge import reviews
    from toolkit.edge.reviews import read_stdin

    monkeypatch.setattr(reviews, "MAX_FILE_BYTES", 3_000_000)
    stream = EndlessStream()
    with pytest.raises(PredictError, match="stdin holds more than 3 MB"):
        read_stdin(stream)
    assert stream.served == 3_000_001  # one byte past the bound, not a byte more
    small = __import__("io").BytesIO(b"\xef\xbb\xbfone\r\n\n two \n")
    assert read_stdin(small) == ["one", " two "]


def test_predict_from_an_endless_stdin_is_a_one_line_error(monkeypatch, capsys):
    """Through the CLI (the reviews are read before the export is opened): it read stdin to its end."""
    import sys
    from types import SimpleNamespace

    from toolkit.cli.main import main
    from toolkit.edge import reviews

    monkeypatch.setattr(reviews, "MAX_FILE_BYTES", 2_000_000)
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=EndlessStream(), isatty=lambda: False))
    capsys.readouterr()
    assert main(["predict", "no-export", "--file", "-"]) == 1
    assert (
        capsys.readouterr().err
        == "toolkit: error: stdin holds more than 2 MB of reviews: split it into smaller files\n"
    )


def test_jsonl_values_python_cannot_convert_are_errors_naming_the_line(tmp_path):
    """A 5,000-digit integer was a ValueError traceback ("Exceeds the limit (4300 digits)"); NaN was
    taken (JSON has no NaN: the Node client refused it); 600 levels deep was taken (Node: any depth)."""
    path = tmp_path / "r.jsonl"
    for bad, message in (
        ('{"text": "ok", "n": ' + "1" * 5000 + "}", r"r.jsonl:2: not JSON \(an integer of more than 4,300 digits\)"),
        ('{"text": "ok", "n": -' + "1" * 4301 + "}", r"r.jsonl:2: not JSON \(an integer of more than 4,300"),
        ('{"text": "ok", "n": NaN}', r"r.jsonl:2: not JSON \(NaN is not a JSON value\)"),
        ('{"text": "ok", "n": -Infinity}', r"r.jsonl:2: not JSON \(-Infinity is not a JSON value\)"),
        (
            '{"text": "ok", "extra": ' + "[" * 600 + "]" * 600 + "}",
            r"r.jsonl:2: JSON nested too deeply \(more than 512",
        ),
    ):
        path.write_text(json.dumps("fine") + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(PredictError, match=message):
            read_reviews_file(path)
    # what Python and Node both read: 4,300 digits, a long float, 512 levels
    ok = '{"text": "ok", "n": ' + "1" * 4300 + ', "f": 1.' + "1" * 5000 + "e" + "1" * 5000 + "}"
    path.write_text(ok + '\n{"text": "deep", "x": ' + "[" * 511 + "]" * 511 + "}\n", encoding="utf-8")
    assert read_reviews_file(path) == ["ok", "deep"]


def test_the_text_key_comes_first_even_when_null(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"review": "x"}\n{"text": null, "review": "x"}\n', encoding="utf-8")
    with pytest.raises(PredictError, match=r"r.jsonl:2: expected a string or an object with a 'text' field"):
        read_reviews_file(path)


def test_a_csv_row_with_more_cells_than_the_header_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\n1,fine\n2,Great, really great\n", encoding="utf-8")
    with pytest.raises(PredictError) as caught:  # it gave 'Great': the review cut at the comma
        read_reviews_file(path)
    assert str(caught.value) == (
        f'{path}:3: the row has 3 cells, the header 2: quote a cell that holds a comma, e.g. 1,"Great, really great"'
    )
    path.write_text('id,text\n1,fine\n2,"Great, really great"\n', encoding="utf-8")
    assert read_reviews_file(path) == ["fine", "Great, really great"]


def test_a_blank_csv_line_is_skipped_as_in_the_other_formats_and_an_empty_cell_is_an_error(tmp_path):
    """A line of spaces (or \\x1c, which str.strip removes) was 'the row has 1 cell(s)', though blank
    lines were said to be skipped; before the header too."""
    path = tmp_path / "r.csv"
    path.write_text("\n  \nid,text\n1,one\n   \n\x1c\t\r\n2,two\n \n", encoding="utf-8")
    assert read_reviews_file(path) == ["one", "two"]
    for header, bad in (("text", '"  "'), ("text", '"\x1c"'), ("id,text", "3,"), ("id,text", '3,"\x1c "')):
        path.write_text(f"{header}\n{bad}\n", encoding="utf-8")  # a quoted "  ": a row, its cell empty
        with pytest.raises(PredictError, match=r"r.csv:2: the review is empty"):
            read_reviews_file(path)
    path.write_text('id,text\n1,one\n"3","\n \n"\n', encoding="utf-8")  # a blank line inside a quoted cell
    with pytest.raises(PredictError, match=r"r.csv:3: the review is empty"):
        read_reviews_file(path)
