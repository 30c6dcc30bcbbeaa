"""One pyarrow table per tabular file: the picked columns of a CSV, TSV, JSON lines or Parquet file,
and those columns as Python values (``tabular`` makes rows of them; ``files`` finds the files).

A compressed file is read through ``pa.input_stream``; a compressed Parquet file is decompressed into
memory first. CSV and TSV files need a header line; a TSV file is read as CSV with tabs (a field may
be quoted, as pandas writes it). A CSV line with the wrong number of fields (a ragged line) is skipped
and its data row returned (``tabular`` counts it as a bad row).

- **Invalid UTF-8** is found per row: the text column is read (CSV) or cast (JSON, Parquet) as binary,
  since pyarrow's CSV reader would turn a whole column with one such row into binary and
  ``to_pylist`` of a string column fails on the first one. pyarrow's JSON and Parquet readers do not
  check UTF-8 while reading, so a row's bytes arrive intact there too.
- **Limits of pyarrow's readers**: in JSON a line that is not a JSON object, or a column whose values
  change type from line to line (labels ``1`` and ``"pos"`` in one file), fails the whole file; it
  reads JSON lines only, not one JSON array. In CSV a ragged line that is also not UTF-8 cannot be
  skipped (pyarrow fails decoding it for the handler): a one-line error naming the line.

Labels become text: integers ``str(int)``, whole floats (``1.0``) the integer, booleans ``false`` /
``true``, strings stripped of surrounding spaces (an empty one is a null label, and so are CSV's
``NA``, ``null``, ``NaN`` and pyarrow's other null spellings; a NaN is one too); dates and other
scalars their pyarrow string form.
"""

from __future__ import annotations

import contextlib
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
INVALID = object()  # a label or split value whose bytes are not UTF-8


@dataclass(frozen=True)
class Columns:
    """The columns a file's rows are read from (``tabular`` picks them from the file's column names)."""

    text: str
    label: str
    split: Optional[str]
    detected: bool  # the text or the label column was found by its name


# --- reading one file ---------------------------------------------------------------------------
def read_table(path: Path, pick: Callable[[list[str]], Columns]) -> tuple[pa.Table, Columns, list[int]]:
    """``(the picked columns of the file, the columns, data rows of the ragged lines skipped)``; a file
    pyarrow cannot read as its format is a one-line error."""
    fmt, compression = tabular_format(path) or ("", None)
    ragged: list[int] = []
    try:
        if fmt in ("csv", "tsv"):
            table, cols = _read_csv(path, compression, fmt, pick, ragged)
        elif fmt == "json":
            table = pajson.read_json(
                pa.input_stream(str(path), compression=compression), read_options=pajson.ReadOptions(block_size=_BLOCK)
            )
            cols = pick(table.column_names)
        else:
            source = pa.input_stream(str(path), compression=compression).read_buffer() if compression else str(path)
            parquet = pq.ParquetFile(pa.BufferReader(source) if compression else source)
            cols = pick(parquet.schema_arrow.names)
            table = parquet.read(columns=[c for c in (cols.text, cols.label, cols.split) if c])
    except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable {_what(fmt, path)} ({first_line(exc)}){_hint(fmt, exc)}") from None
    return table, cols, ragged


def _read_csv(
    path: Path, compression: Optional[str], fmt: str, pick: Callable[[list[str]], Columns], ragged: list[int]
) -> tuple[pa.Table, Columns]:
    def skip(row) -> str:  # pyarrow's number counts the header as 1: the data row is one less
        if row.number is not None:
            ragged.append(row.number - 1)
        return "skip"

    delimiter = "\t" if fmt == "tsv" else ","
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=skip)
    read = pacsv.ReadOptions(use_threads=False, block_size=_BLOCK)  # in one thread pyarrow numbers ragged lines
    with _ragged_not_utf8(path):
        with pacsv.open_csv(pa.input_stream(str(path), compression=compression), read, parse) as reader:
            names = reader.schema.names  # the header (pyarrow parses the first block for it)
        ragged.clear()
        cols = pick(names)
        picked = [c for c in (cols.text, cols.label, cols.split) if c]
        # the text (and split) as bytes: no null values ("NA" is a review), UTF-8 judged per row; a label
        # "NA", "null", "nan" or "" is a null label, as pyarrow reads it in a column of numbers
        types = {c: pa.binary() for c in (cols.text, cols.split) if c}
        convert = pacsv.ConvertOptions(include_columns=picked, column_types=types, strings_can_be_null=True)
        table = pacsv.read_csv(pa.input_stream(str(path), compression=compression), read, parse, convert)
    return table, cols


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


def _hint(fmt: str, exc: BaseException) -> str:
    if fmt == "json" and "changed from object to array" in str(exc):
        return ": it holds a JSON array; write one JSON object per line (JSON lines)"
    if fmt == "json" and "changed from" in str(exc):
        return ": each column's values must have one type in all lines (labels all numbers or all strings)"
    return ""


# --- columns to Python values --------------------------------------------------------------------
def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column (pandas' category) as its values."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def texts(column: pa.ChunkedArray, path: Path, name: str) -> list[Optional[bytes]]:
    column = _decoded(column)
    t = column.type
    if pa.types.is_null(t):
        return [None] * len(column)
    if pa.types.is_string(t) or pa.types.is_large_string(t):  # string -> binary: the bytes, never validated
        column = column.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
    elif not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        raise DataError(f"{path}: column {name!r} holds {t} values, not text: pass --text-column NAME")
    return column.to_pylist()


def values(column: pa.ChunkedArray, path: Path, name: str) -> list:
    """A label or split column as text per row: None for a null, ``INVALID`` for bytes not UTF-8."""
    column = _decoded(column)
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        column = column.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
    elif not (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_null(t)
    ):
        try:  # dates, decimals, ...: their text
            column = column.cast(pa.string()).cast(pa.binary())
        except (pa.ArrowException, ValueError):
            raise DataError(f"{path}: column {name!r} holds {t} values: labels must be integers or text") from None
    return [_label_text(v) for v in column.to_pylist()]


def _label_text(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN: pandas' missing value
            return None
        return str(int(value)) if value.is_integer() else str(value)
    try:
        text = value.decode("utf-8").strip()  # type: ignore[union-attr]
    except UnicodeDecodeError:
        return INVALID
    return text or None
