"""Reading reviews to classify: files (``.txt`` one per line, ``.jsonl``, ``.csv``) and stdin text.

Only ``\n`` (and ``\r\n``) end a line: a review may hold U+2028, form feeds and other characters that
``str.splitlines`` would split at. Files and stdin are untrusted: regular files only, at most
``MAX_FILE_BYTES`` read from either (stdin in chunks: an endless stream is cut off, not swallowed),
UTF-8. Blank lines (lines that ``str.strip`` leaves empty) separate reviews in every format and are
skipped (before a CSV header too); anything else is one review, in order, or an error naming
``FILE:LINE``: no review is dropped or made up, so predict's output has one entry per non-blank line
(``.txt``, ``.jsonl``, stdin) or per data row (``.csv``). toolkit/clients/node/predict.js reads
``.txt`` and ``.jsonl`` by the same rules (and limits): change both together.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO, Optional

from toolkit.core.errors import PredictError

TEXT_KEYS = ("text", "review")  # in this order: {"text": null, "review": "x"} is an error, not "x"
MAX_FILE_BYTES = 1_000_000_000  # a file of reviews (or stdin) is read whole, up to this
CHUNK_BYTES = 1 << 20
MAX_JSON_DEPTH = 512  # arrays and objects in one JSONL line (the Node client refuses the same)
MAX_INT_DIGITS = 4300  # digits in one JSON integer: Python's own default limit, fixed so the clients agree


def read_reviews_file(path: str | os.PathLike) -> list[str]:
    """Reviews from ``.txt`` (one per line, blank lines skipped), ``.jsonl`` (a string or an object with
    "text"/"review" per line, blank lines skipped) or ``.csv`` (a "text"/"review" column, named in the
    header; blank lines skipped). An empty review, a JSONL line that is not standard JSON (NaN, nested
    more than ``MAX_JSON_DEPTH`` deep, an integer of more than ``MAX_INT_DIGITS`` digits), a CSV row
    without the column or with more cells than the header, or a CSV without such a column is an error
    naming the line. A blank line is one that ``str.strip`` leaves empty."""
    path = Path(path)
    if not path.exists():
        raise PredictError(f"{path} does not exist")
    if path.is_dir():
        raise PredictError(f"{path} is a folder, not a file of reviews")
    if not path.is_file():  # a FIFO, a device such as /dev/zero: reading could block or never end
        raise PredictError(f"{path} is not a regular file: pass a .txt, .jsonl or .csv file, or '-' for stdin")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PredictError(f"{path} is {path.stat().st_size / 1e6:,.0f} MB, more than {_mb(MAX_FILE_BYTES)}: split it")
    try:
        with open(path, "rb") as f:  # bounded too: a file may grow after its size was checked
            data = _read_bounded(f, str(path))
    except OSError as exc:
        raise PredictError(f"cannot read {path}: {exc.strerror or exc}") from None
    content = _decode(data, str(path))
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        reviews = _from_jsonl(content, path)
    elif suffix == ".csv":
        reviews = _from_csv(content, path)
    else:
        reviews = read_lines(content)
    if not reviews:
        raise PredictError(f"{path} holds no reviews")
    return reviews


def read_stdin(stream: Optional[BinaryIO] = None) -> list[str]:
    """Reviews from stdin (``stream``), one per line as in a ``.txt`` file, blank lines skipped. At most
    ``MAX_FILE_BYTES`` are read, a chunk at a time: a longer (or endless) stream is an error."""
    stream = sys.stdin.buffer if stream is None else stream
    reviews = read_lines(_decode(_read_bounded(stream, "stdin"), "stdin"))
    if not reviews:
        raise PredictError("no reviews on stdin")
    return reviews


def _read_bounded(stream: BinaryIO, name: str) -> bytes:
    """All of ``stream``, reading at most ``MAX_FILE_BYTES`` + 1 bytes: one more is an error."""
    limit = MAX_FILE_BYTES
    chunks, size = [], 0
    while True:
        chunk = stream.read(min(CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PredictError(f"{name} holds more than {_mb(limit)} of reviews: split it into smaller files")


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredictError(f"{name} is not UTF-8 text (byte {exc.start}): convert it, e.g. iconv -t UTF-8") from None


def _mb(n: int) -> str:
    return f"{n // 10**6:,} MB" if n >= 10**6 else f"{n:,} bytes"


def read_lines(content: str) -> list[str]:
    """Non-blank lines. Only ``\n`` (and ``\r\n``) end a line: ``str.splitlines`` would also split a
    review at U+2028, form feeds and other characters that may sit inside one."""
    return [line for line in _lines(content) if line.strip()]


def _lines(content: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in content.split("\n")]


def _from_jsonl(content: str, path: Path) -> list[str]:
    reviews = []
    for n, line in enumerate(_lines(content), 1):
        if not line.strip():  # blank lines separate entries, as in a .txt file
            continue
        try:
            item = json.loads(line, parse_int=_json_int, parse_constant=_json_constant)
        except json.JSONDecodeError as exc:
            raise PredictError(f"{path}:{n}: not JSON ({exc.msg})") from None
        except ValueError as exc:  # an integer too long to convert, NaN or Infinity
            reason = (str(exc).splitlines() or ["a value that cannot be converted"])[0]
            raise PredictError(f"{path}:{n}: not JSON ({reason})") from None
        except RecursionError:  # '[[[[...' 100,000 deep: the parser gives up at about 1,000
            item = _TOO_DEEP
        if item is _TOO_DEEP or _too_deep(item):
            raise PredictError(
                f"{path}:{n}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels): "
                "expected a string or an object with a 'text' field"
            ) from None
        if isinstance(item, dict):
            item = next((item[k] for k in TEXT_KEYS if k in item), None)
        if not isinstance(item, str):
            raise PredictError(f"{path}:{n}: expected a string or an object with a 'text' field")
        if not item.strip():
            raise PredictError(f"{path}:{n}: the review is empty (nothing to classify): remove the line")
        reviews.append(item)
    return reviews


_TOO_DEEP = object()


def _json_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:  # int() would raise ValueError, or not, by the interpreter's limit
        raise ValueError(f"an integer of more than {MAX_INT_DIGITS:,} digits")
    return int(digits)


def _json_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _too_deep(item) -> bool:
    """Whether ``item`` nests arrays and objects more than ``MAX_JSON_DEPTH`` deep (without recursion)."""
    level = [item]
    for _ in range(MAX_JSON_DEPTH):
        level = [v for x in level if isinstance(x, (list, dict)) for v in (x.values() if isinstance(x, dict) else x)]
        if not level:
            return False
    return any(isinstance(x, (list, dict)) for x in level)


def _from_csv(content: str, path: Path) -> list[str]:
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, len(content)))  # a cell may hold a long review (the default: 128 KB)
    lines = _RawLines(content)
    reader = csv.reader(lines)
    try:
        return _csv_reviews(reader, lines, path)
    except csv.Error as exc:
        raise PredictError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(previous)


class _RawLines:
    """The lines csv.reader reads (split at ``\n`` only, as ``_lines``), remembering the last one."""

    def __init__(self, content: str):
        self._lines = iter(io.StringIO(content))
        self.last = ""

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


def _csv_rows(reader, lines: _RawLines):
    """``(first line, row)`` of each row but blank lines: a line that ``str.strip`` leaves empty is
    skipped, as in a .txt file (csv reads ``"  "`` as a row of one cell ``"  "``; a quoted ``"  "``
    is a row, with an empty cell)."""
    last = reader.line_num
    for row in reader:
        line, last = last + 1, reader.line_num  # a quoted cell may span lines: the row starts here
        if line == last and not lines.last.strip():
            continue
        yield line, row


def _csv_reviews(reader, lines: _RawLines, path: Path) -> list[str]:
    rows = _csv_rows(reader, lines)
    line, header = next(rows, (0, None))
    if header is None:
        return []
    names = [h.strip().lower() for h in header]
    column = next((names.index(k) for k in TEXT_KEYS if k in names), None)
    if column is None:  # never guess: the first column may be an id, the first row a review
        shown = ", ".join(repr(h[:40] + ("..." if len(h) > 40 else "")) for h in header[:10])
        more = f" and {len(header) - 10} more" if len(header) > 10 else ""
        raise PredictError(
            f"{path}:{line}: no 'text' or 'review' column in the header (its columns: {shown}{more}): "
            "the first row must name the reviews' column text or review"
        )
    name = header[column].strip()
    reviews = []
    for line, row in rows:
        if len(row) > len(header):  # '1,Great, really great' would give 'Great': the review cut at a comma
            raise PredictError(
                f"{path}:{line}: the row has {len(row)} cells, the header {len(header)}: "
                f'quote a cell that holds a comma, e.g. 1,"Great, really great"'
            )
        if len(row) <= column:
            raise PredictError(f"{path}:{line}: the row has {len(row)} cell(s), no {name!r} cell")
        if not row[column].strip():
            raise PredictError(f"{path}:{line}: the review is empty (nothing to classify): remove the row")
        reviews.append(row[column])
    return reviews
