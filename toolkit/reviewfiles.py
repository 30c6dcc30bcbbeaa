"""Reading reviews to classify: files (``.txt`` one per line, ``.jsonl``, ``.csv``) and stdin text.

Only ``\n`` (and ``\r\n``) end a line: a review may hold U+2028, form feeds and other characters that
``str.splitlines`` would split at. Files are untrusted: regular files only, at most
``MAX_FILE_BYTES``, UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .errors import PredictError

TEXT_KEYS = ("text", "review")
MAX_FILE_BYTES = 1_000_000_000  # a file of reviews is read whole


def read_reviews_file(path: str | os.PathLike) -> list[str]:
    """Reviews from ``.txt`` (one per line, blank lines skipped), ``.jsonl`` (a string or an object with
    "text"/"review" per line) or ``.csv`` (a "text"/"review" column, else the first column)."""
    path = Path(path)
    if not path.exists():
        raise PredictError(f"{path} does not exist")
    if path.is_dir():
        raise PredictError(f"{path} is a folder, not a file of reviews")
    if not path.is_file():  # a FIFO, a device such as /dev/zero: reading could block or never end
        raise PredictError(f"{path} is not a regular file: pass a .txt, .jsonl or .csv file, or '-' for stdin")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PredictError(
            f"{path} is {path.stat().st_size / 1e6:,.0f} MB, more than {MAX_FILE_BYTES // 10**6:,} MB: split it"
        )
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredictError(f"{path} is not UTF-8 text (byte {exc.start}): convert it, e.g. iconv -t UTF-8") from None
    except OSError as exc:
        raise PredictError(f"cannot read {path}: {exc.strerror or exc}") from None
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


def read_lines(content: str) -> list[str]:
    """Non-blank lines. Only ``\n`` (and ``\r\n``) end a line: ``str.splitlines`` would also split a
    review at U+2028, form feeds and other characters that may sit inside one."""
    return [line for line in _lines(content) if line.strip()]


def _lines(content: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in content.split("\n")]


def _from_jsonl(content: str, path: Path) -> list[str]:
    reviews = []
    for n, line in enumerate(_lines(content), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if isinstance(item, dict):
            item = next((item[k] for k in TEXT_KEYS if k in item), None)
        if not isinstance(item, str):
            raise PredictError(f"{path}:{n}: expected a string or an object with a 'text' field")
        reviews.append(item)
    return reviews


def _from_csv(content: str, path: Path) -> list[str]:
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, len(content)))  # a cell may hold a long review (the default: 128 KB)
    try:
        rows = list(csv.reader(io.StringIO(content)))
    except csv.Error as exc:
        raise PredictError(f"{path}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(previous)
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    column = next((header.index(k) for k in TEXT_KEYS if k in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    return [row[column] for row in body if len(row) > column and row[column].strip()]
