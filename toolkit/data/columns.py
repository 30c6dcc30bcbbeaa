"""The columns of the user's tabular files, picked before any row is read: each file's column names
(``arrow.column_names``: a CSV header, a Parquet schema, a JSON line's keys), the text, label and split
columns named or detected in each, checked once for every file (a ``--text-column`` typo, or a column
the tenth file lacks, fails in seconds, not after reading gigabytes).

- ``DataConfig.text_column`` / ``label_column``, else the one column of each file whose name is a common
  one (``TEXT_NAMES``, ``LABEL_NAMES``, case-insensitive); none or several is an error.
- The split column (training files only): ``DataConfig.split_column``, else one named ``split``.
- A test file (``test*``, ``test/``) without the label column the training files have is a Kaggle
  competition's unlabelled test set: an error that says what to pass instead.

Values (:func:`texts`, :func:`values`): texts as bytes (UTF-8 is judged per row). Labels become text:
integers ``str(int)``, whole floats (``1.0``) the integer, booleans ``false`` / ``true``, strings
stripped of surrounding spaces (an empty one is a null label, and so are CSV's ``NA``, ``null``,
``NaN`` and pyarrow's other null spellings; a NaN is one too); dates and other scalars their pyarrow
string form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pyarrow as pa

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data import arrow
from toolkit.data.files import TabularSource
from toolkit.data.lines import listed, shown

TEXT_NAMES = ("text", "review", "sentence", "content", "body", "document", "comment")
LABEL_NAMES = ("label", "sentiment", "stars", "class", "category", "target", "labels")
SPLIT_NAME = "split"
INVALID = object()  # a label or split value whose bytes are not UTF-8


def pick_columns(source: TabularSource, cfg: DataConfig) -> tuple[dict[Path, arrow.Columns], Optional[str]]:
    """``({file: its columns}, the log line naming the columns found by name, or None)``."""
    names = source.names()
    use_split = not source.test_from
    columns = {path: pick(arrow.column_names(path), path, cfg, use_split) for path in source.train_files}
    for path in source.test_files:
        found = arrow.column_names(path)
        if source.test_from == "file names" and _lacks_label(found, cfg):
            raise DataError(
                f"{shown(path)} has no label column (a competition's unlabelled test set?): pass --data "
                f"{_train_spec(source)}, and --test-fraction or --test-data for a labelled test set"
            )
        columns[path] = pick(found, path, cfg, False)
    by_choice: dict[arrow.Columns, list[str]] = {}
    for path in sorted(columns):
        by_choice.setdefault(columns[path], []).append(names[path])
    return columns, _columns_line(by_choice)


def _lacks_label(names: list[str], cfg: DataConfig) -> bool:
    if cfg.label_column is not None:
        return cfg.label_column not in names
    return not any(n.strip().lower() in LABEL_NAMES for n in names)


def _train_spec(source: TabularSource) -> str:
    """What to pass as ``--data`` for the training files alone: the file, their folder, or a glob."""
    files = source.train_files
    folders = {f.parent for f in files}
    if len(files) == 1:
        return shown(files[0])
    if len(folders) == 1 and folders.isdisjoint(t.parent for t in source.test_files):
        return shown(files[0].parent)
    return f"'{shown(files[0].parent)}/train*'" if len(folders) == 1 else listed(shown(f) for f in files)


def _columns_line(columns: dict[arrow.Columns, list[str]]) -> Optional[str]:
    """One line naming the columns found by name (per distinct choice, when files differ)."""
    detected = [(c, files) for c, files in columns.items() if c.detected]
    if not detected:
        return None
    parts = []
    for c, files in detected:
        split = f", split {c.split!r}" if c.split else ""
        where = f" in {listed(files)}" if len(detected) > 1 else ""
        parts.append(f"text {c.text!r}, label {c.label!r}{split}{where}")
    return f"columns: {'; '.join(parts)} (found by name; --text-column / --label-column choose others)"


def pick(names: list[str], path: Path, cfg: DataConfig, use_split: bool) -> arrow.Columns:
    """The text, label (and split) columns among a file's column ``names``."""
    text = _column(names, cfg.text_column, TEXT_NAMES, "text", path)
    label = _column(names, cfg.label_column, LABEL_NAMES, "label", path)
    split = None
    if use_split and cfg.split_column:
        split = _column(names, cfg.split_column, (), "split", path)
    elif use_split:
        split = next((c for c in names if c.strip().lower() == SPLIT_NAME), None)
    if len({text, label, split} - {None}) < 2 + (split is not None):
        raise DataError(f"{path}: the text, label and split columns must differ, got {text!r}, {label!r}, {split!r}")
    return arrow.Columns(text, label, split, cfg.text_column is None or cfg.label_column is None)


def _column(names: list[str], given: Optional[str], candidates: tuple[str, ...], what: str, path: Path) -> str:
    flag = f"--{what}-column"
    shown_names = listed(repr(n) for n in names)
    if given is not None:
        count = names.count(given)
        if count != 1:
            problem = "has no column" if not count else "has more than one column"
            raise DataError(f"{path} {problem} named {given!r} (its columns: {shown_names}): pass {flag} NAME")
        return given
    found = [n for n in names if n.strip().lower() in candidates]
    if len(found) == 1:
        return found[0]
    problem = (
        f"no column is named like {what} ({', '.join(candidates)})"
        if not found
        else f"several columns could be the {what} ({listed(repr(n) for n in found)})"
    )
    raise DataError(f"{path}: {problem}; its columns: {shown_names}: pass --text-column / --label-column NAME")


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
