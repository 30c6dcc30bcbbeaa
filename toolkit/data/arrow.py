"""One pyarrow table per tabular file: the picked columns of a CSV, TSV, JSON lines or Parquet file,
read with pyarrow (``columns`` picks the columns and turns them into Python values, ``tabular`` makes
rows of them; ``files`` finds the files).

A compressed file is read through ``pa.input_stream``; a compressed Parquet file is decompressed into
memory first. CSV and TSV files need a header line; a TSV file is read as CSV with tabs (a field may
be quoted, as pandas writes it). A CSV line with the wrong number of fields (a ragged line) is skipped
and its data row returned (``tabular`` counts it as a bad row).

- **Invalid UTF-8** is found per row: the text column is read (CSV) or cast (JSON, Parquet) as binary,
  since pyarrow's CSV reader would turn a whole column with one such row into binary and
  ``to_pylist`` of a string column fails on the first one. pyarrow's JSON and Parquet readers do not
  check UTF-8 while reading, so a row's bytes arrive intact there too.
- **Column names** (:func:`column_names`) are read before any row: a CSV header, a Parquet schema, the
  keys of a JSON lines file's first non-blank line (pyarrow names JSON columns only after the whole file).
- **Limits of pyarrow's readers**: in JSON a line that is not a JSON object, or a column whose values
  change type from line to line (labels ``1`` and ``"pos"`` in one file), fails the whole file (the
  error names the column pyarrow names); it reads JSON lines only, not one JSON array. In CSV a ragged
  line that is also not UTF-8 cannot be skipped (pyarrow fails decoding it for the handler): a
  one-line error naming the line.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from toolkit.core.errors import DataError, first_line
from toolkit.data.files import tabular_format

_BLOCK = 16 << 20  # pyarrow's block: a JSON line must fit in one (its default, 1 MiB, is about one review)


@dataclass(frozen=True)
class Columns:
    """The columns a file's rows are read from (``tabular`` picks them from the file's column names)."""

    text: str
    label: str
    split: Optional[str]
    detected: bool  # the text or the label column was found by its name


# --- reading one file ---------------------------------------------------------------------------
def column_names(path: Path) -> list[str]:
    """The file's column names, read cheaply: a CSV file's header (pyarrow parses its first block for
    it), a Parquet file's schema, the keys of a JSON lines file's first object."""
    fmt, compression = tabular_format(path) or ("", None)
    with _readable(path, fmt, None):
        if fmt in ("csv", "tsv"):
            read, parse = _csv_options(fmt, lambda row: "skip")
            with _ragged_not_utf8(path):
                with pacsv.open_csv(pa.input_stream(str(path), compression=compression), read, parse) as reader:
                    return reader.schema.names
        if fmt == "json":
            return _first_keys(path, compression)
        return pq.read_schema(_parquet_source(path, compression)).names


def read_table(path: Path, cols: Columns) -> tuple[pa.Table, list[int]]:
    """``(the columns of the file, data rows of the ragged lines skipped)``; a file pyarrow cannot read
    as its format is a one-line error."""
    fmt, compression = tabular_format(path) or ("", None)
    ragged: list[int] = []
    picked = [c for c in (cols.text, cols.label, cols.split) if c]
    with _readable(path, fmt, cols):
        if fmt in ("csv", "tsv"):
            return _read_csv(path, compression, fmt, cols, ragged), ragged
        if fmt == "json":
            stream = pa.input_stream(str(path), compression=compression)
            return pajson.read_json(stream, read_options=pajson.ReadOptions(block_size=_BLOCK)), ragged
        return pq.ParquetFile(_parquet_source(path, compression)).read(columns=picked), ragged


@contextlib.contextmanager
def _readable(path: Path, fmt: str, cols: Optional[Columns]) -> Iterator[None]:
    try:
        yield
    except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
        hint = _hint(fmt, exc, cols)
        raise DataError(f"{path} is not a readable {_what(fmt, path)} ({first_line(exc)}){hint}") from None


def _parquet_source(path: Path, compression: Optional[str]):
    if not compression:
        return str(path)
    return pa.BufferReader(pa.input_stream(str(path), compression=compression).read_buffer())


def _first_keys(path: Path, compression: Optional[str]) -> list[str]:
    """The keys of the first non-blank line (pyarrow would read the whole file to name the columns)."""
    with pa.input_stream(str(path), compression=compression) as stream:
        pending, number = b"", 0
        while True:
            chunk = stream.read(1 << 16)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop() if chunk else b""
            for line in lines:
                number += 1
                if line.strip():
                    return _keys(path, line, number)
            if not chunk:
                raise DataError(f"{path} is not a readable JSON lines file (Empty JSON file)")
            if len(pending) > _BLOCK:
                raise DataError(f"{path} is not a readable JSON lines file: line {number + 1} is over 16 MiB")


def _keys(path: Path, line: bytes, number: int) -> list[str]:
    problem = f"{path} is not a readable JSON lines file: line {number}"
    try:
        value = json.loads(line.decode("utf-8-sig", errors="replace"))
    except ValueError as exc:
        if line.lstrip().startswith(b"["):
            raise DataError(f"{problem} opens a JSON array{_ARRAY}") from None
        raise DataError(f"{problem} is not JSON ({first_line(exc)}): each line must be one JSON object") from None
    if isinstance(value, list):
        raise DataError(f"{problem} holds a JSON array{_ARRAY}")
    if not isinstance(value, dict):
        kind = {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
        raise DataError(f"{problem} holds a JSON {kind}, not an object: {_ONE_OBJECT}")
    return list(value)


_ONE_OBJECT = "each line must be one JSON object"
_ARRAY = "; write one JSON object per line (JSON lines)"


def _csv_options(fmt: str, handler: Callable) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    delimiter = "\t" if fmt == "tsv" else ","
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=handler)
    return pacsv.ReadOptions(use_threads=False, block_size=_BLOCK), parse  # one thread: ragged lines numbered


def _read_csv(path: Path, compression: Optional[str], fmt: str, cols: Columns, ragged: list[int]) -> pa.Table:
    def skip(row) -> str:  # pyarrow's number counts the header as 1: the data row is one less
        if row.number is not None:
            ragged.append(row.number - 1)
        return "skip"

    read, parse = _csv_options(fmt, skip)
    picked = [c for c in (cols.text, cols.label, cols.split) if c]
    # the text (and split) as bytes: no null values ("NA" is a review), UTF-8 judged per row; a label
    # "NA", "null", "nan" or "" is a null label, as pyarrow reads it in a column of numbers
    types = {c: pa.binary() for c in (cols.text, cols.split) if c}
    convert = pacsv.ConvertOptions(include_columns=picked, column_types=types, strings_can_be_null=True)
    with _ragged_not_utf8(path):
        return pacsv.read_csv(pa.input_stream(str(path), compression=compression), read, parse, convert)


@contextlib.contextmanager
def _ragged_not_utf8(path: Path) -> Iterator[None]:
    """pyarrow decodes a ragged line as UTF-8 before calling the handler; when that fails it prints the
    error as an "exception ignored" traceback and fails the file. Catch the print, and name the line."""
    failed: list[BaseException] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: failed.append(unraisable.exc_value)  # type: ignore[assignment]
    try:
        yield
    except pa.ArrowInvalid as exc:
        line = re.search(r"Row #(\d+)", str(exc))
        if failed and line:
            raise DataError(
                f"{path} is not a readable CSV file: line {line[1]} has the wrong number of fields and is not "
                "UTF-8 (pyarrow cannot skip such a line): fix or delete it"
            ) from None
        raise
    finally:
        sys.unraisablehook = hook


def _what(fmt: str, path: Path) -> str:
    return {"csv": "CSV file", "tsv": "TSV file", "json": "JSON lines file", "parquet": "Parquet file"}.get(
        fmt, str(path.suffix)
    )


def _hint(fmt: str, exc: BaseException, cols: Optional[Columns]) -> str:
    """pyarrow names the JSON value that changed type (``Column(/label)``; ``Column()``: a whole line)."""
    found = re.search(r"Column\((.*?)\) changed from", str(exc)) if fmt == "json" else None
    if not found:
        return ""
    if not found[1]:
        return f": {_ONE_OBJECT}"
    name = found[1].split("/")[1].replace("~1", "/").replace("~0", "~")  # a JSON pointer's first key
    labels = " (labels all numbers or all strings)" if cols is not None and name == cols.label else ""
    return f": column {name!r} changes type between lines; its values must have one type in all lines{labels}"
