"""The rows of the user's own tabular files (CSV, TSV, JSON lines, Parquet): columns detected or named,
labels, which rows are test rows, bad rows skipped and counted (``files`` finds the files, ``arrow``
reads each with pyarrow and turns labels into text).

- **Columns**: ``DataConfig.text_column`` / ``label_column``, else the one column of each file whose
  name is a common one (``TEXT_NAMES``, ``LABEL_NAMES``, case-insensitive); none or several is an error.
- **Which rows are test rows** (:func:`files.find_tabular`, :func:`read_tabular`): ``DataConfig.test_path``;
  else, in a folder or glob, the files named ``test*`` (``train*`` ones train, ``validation*`` / ``dev*``
  and any other file are then ignored); else a split column (``DataConfig.split_column``, or one named
  ``split``) whose ``train`` / ``test`` values place each row; else none (``toolkit.data.splits`` holds
  a fraction out).
- **Bad rows** (``BAD_KINDS``): skipped and counted in one log line, or with ``DataConfig.strict`` the
  first one is an error. Row numbers count data rows from 1: the header and blank lines (pyarrow
  skips them in CSV and JSON) are not rows; a CSV row after
  a ragged line keeps its place in the file. A ragged line is named by pyarrow's line number: the
  header is line 1, blank lines are not counted and a quoted value holding newlines is one line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.data import arrow
from toolkit.data.files import TabularSource, count, listed
from toolkit.data.sources import MAX_REVIEW_BYTES

TEXT_NAMES = ("text", "review", "sentence", "content", "body", "document", "comment")
LABEL_NAMES = ("label", "sentiment", "stars", "class", "category", "target", "labels")
SPLIT_NAME = "split"
BAD_KINDS = ("empty text", "null label", "unknown label", "text too long", "invalid UTF-8", "ragged line")
_STRICT = "drop --strict to skip such rows"


class Row(NamedTuple):
    """One usable row: ``"<file name>:<row>"``, its label as text, its text."""

    review_id: str
    label: str
    text: str


@dataclass
class TabularRows:
    """The usable rows: training rows, test rows (None: the data has no test split), and the log
    lines worth repeating when the encoded arrays come from the cache (skipped rows)."""

    train: list[Row]
    test: Optional[list[Row]]
    notes: list[str] = field(default_factory=list)


# --- reading the rows ----------------------------------------------------------------------------
class _BadRows:
    """Bad rows per kind and where the first of each was; ``strict``: the first one is an error."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.counts: Counter = Counter()
        self.first: dict[str, str] = {}

    def add(self, path: Path, name: str, found: list[tuple[int, str, str]]) -> None:
        """``found``: ``(position in the file, kind, "row 7" or "line 12")`` of one file's bad rows."""
        if self.strict and found:
            _, kind, where = min(found)
            raise DataError(f"{path} {where}: {kind} ({_STRICT})")
        for _, kind, where in sorted(found):
            self.counts[kind] += 1
            self.first.setdefault(kind, f"{name} {where}")

    def summary(self) -> Optional[str]:
        total = sum(self.counts.values())
        if not total:
            return None
        parts = [f"{self.counts[k]:,} {k} (first: {self.first[k]})" for k in BAD_KINDS if self.counts[k]]
        return f"skipped {count(total, 'row')}: {', '.join(parts)}"


def read_tabular(source: TabularSource, cfg: DataConfig) -> TabularRows:
    """Every usable row of the files: training rows and test rows (from ``--test-path``, test* files
    or a split column; None when the data has none), bad rows skipped and counted (or ``strict``)."""
    for note in source.notes:
        log(note)
    names, bad = source.names(), _BadRows(cfg.strict)
    also = f" and {source.test_spec}" if source.test_spec else ""
    log(f"reading {count(len(source.files), 'tabular file')} from {source.spec}{also} ...")
    train: list[Row] = []
    test: list[Row] = []
    ignored: Counter = Counter()
    columns: dict[arrow.Columns, list[str]] = {}
    use_split = not source.test_from
    for role, files in (("train", source.train_files), ("test", source.test_files)):
        for path in files:
            cols, rows, skipped = _read_file(path, names[path], cfg, use_split and role == "train", bad)
            columns.setdefault(cols, []).append(names[path])
            ignored.update(skipped)
            for split, row in rows:
                (test if split == "test" or role == "test" else train).append(row)
    _log_columns(columns)
    notes = []
    if ignored:
        values = ", ".join(f"{v} {n:,}" for v, n in ignored.most_common(5))
        log(f"ignoring {count(sum(ignored.values()), 'row')} whose split is neither train nor test ({values})")
    split_columns = sorted({c.split for c in columns if c.split})
    if split_columns and not test:
        if cfg.split_column:
            raise DataError(f"no row's {cfg.split_column!r} value is 'test': the data has no test rows")
        log(f"column {split_columns[0]!r} names no test row: not used as the split")
    if test and split_columns and cfg.test_fraction is not None:
        raise DataError(
            f"--test-fraction holds test rows out, but the data has a test split (column {split_columns[0]!r}): "
            "drop --test-fraction"
        )
    summary = bad.summary()
    if summary:
        log(summary)
        notes.append(summary)
    if not train:
        raise DataError(f"{source.spec} has no usable training row")
    return TabularRows(train, test if test or source.test_from else None, notes)


def _log_columns(columns: dict[arrow.Columns, list[str]]) -> None:
    """One line naming the columns found by name (per distinct choice, when files differ)."""
    detected = [(c, files) for c, files in columns.items() if c.detected]
    if not detected:
        return
    parts = []
    for c, files in detected:
        split = f", split {c.split!r}" if c.split else ""
        where = f" in {listed(files)}" if len(detected) > 1 else ""
        parts.append(f"text {c.text!r}, label {c.label!r}{split}{where}")
    log(f"columns: {'; '.join(parts)} (found by name; --text-column / --label-column choose others)")


def _read_file(
    path: Path, name: str, cfg: DataConfig, use_split: bool, bad: _BadRows
) -> tuple[arrow.Columns, list[tuple[Optional[str], Row]], Counter]:
    """``(columns, [(split value or None, row)], split values ignored)`` of one file's usable rows."""
    table, cols, ragged = arrow.read_table(path, lambda names: _pick_columns(names, path, cfg, use_split))
    n = table.num_rows
    texts = arrow.texts(table.column(cols.text), path, cols.text)
    labels = arrow.values(table.column(cols.label), path, cols.label)
    splits = arrow.values(table.column(cols.split), path, cols.split) if cols.split else [None] * n
    numbers = _row_numbers(n, ragged)
    allowed = set(cfg.labels) if cfg.labels else None
    rows: list[tuple[Optional[str], Row]] = []
    ignored: Counter = Counter()
    found = [(r, "ragged line", f"line {r + 1}") for r in ragged]
    for i in range(n):
        split = splits[i]
        if cols.split:
            split = split.lower() if isinstance(split, str) else None
            if split not in ("train", "test"):
                ignored[split or "(none)"] += 1
                continue
        kind, text = _check_text(texts[i])
        label = labels[i]
        kind = kind or _check_label(label, allowed)
        if kind is not None:
            found.append((numbers[i], kind, f"row {numbers[i]}"))
        else:
            rows.append((split, Row(f"{name}:{numbers[i]}", label, text)))
    bad.add(path, name, found)
    if not rows and not ignored:
        skipped = f" ({count(len(found), 'bad row')} skipped)" if found else ""
        raise DataError(f"{path} has no usable row{skipped}")
    return cols, rows, ignored


def _check_text(payload: Optional[bytes]) -> tuple[Optional[str], str]:
    """``(bad-row kind or None, the text)``."""
    if not payload:
        return "empty text", ""
    if len(payload) > MAX_REVIEW_BYTES:
        return "text too long", ""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid UTF-8", ""
    return ("empty text", "") if not text.strip() else (None, text)


def _check_label(label: object, allowed: Optional[set[str]]) -> Optional[str]:
    """The bad-row kind of a label (None: a usable one)."""
    if label is None:
        return "null label"
    if label is arrow.INVALID:
        return "invalid UTF-8"
    if allowed is not None and label not in allowed:
        return "unknown label"
    return None


def _row_numbers(n: int, ragged: list[int]) -> list[int]:
    """The 1-based data row of each of the ``n`` rows pyarrow kept, around the skipped ``ragged`` ones."""
    skip, numbers, row = set(ragged), [], 0
    while len(numbers) < n:
        row += 1
        if row not in skip:
            numbers.append(row)
    return numbers


def _pick_columns(names: list[str], path: Path, cfg: DataConfig, use_split: bool) -> arrow.Columns:
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
    shown = listed(repr(n) for n in names)
    if given is not None:
        count = names.count(given)
        if count != 1:
            problem = "has no column" if not count else "has more than one column"
            raise DataError(f"{path} {problem} named {given!r} (its columns: {shown}): pass {flag} NAME")
        return given
    found = [n for n in names if n.strip().lower() in candidates]
    if len(found) == 1:
        return found[0]
    problem = (
        f"no column is named like {what} ({', '.join(candidates)})"
        if not found
        else f"several columns could be the {what} ({listed(repr(n) for n in found)})"
    )
    raise DataError(f"{path}: {problem}; its columns: {shown}: pass --text-column / --label-column NAME")
