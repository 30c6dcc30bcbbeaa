"""The rows of the user's own tabular files (CSV, TSV, JSON lines, Parquet): columns detected or named,
labels, which rows are test rows, bad rows skipped and counted (``files`` finds the files, ``arrow``
reads each with pyarrow and turns labels into text).

- **Columns** (``columns``): named or detected by name, in every file before any row is read.
- **Which rows are test rows** (:func:`files.find_tabular`, :func:`read_tabular`): ``DataConfig.test_path``;
  else, in a folder or glob, the files in ``test/`` or named ``test*`` (``train*`` ones train,
  ``validation*`` / ``dev*`` and any other file are then ignored); else a split column
  (``DataConfig.split_column``, or one named ``split`` when some row says ``test``: else it is ignored)
  whose ``train`` / ``test`` values place each row, other rows ignored; else none (``toolkit.data.splits``
  holds a fraction out).
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
from toolkit.data import arrow, columns
from toolkit.data.files import TabularSource
from toolkit.data.lines import count, say
from toolkit.data.sources import MAX_REVIEW_BYTES

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
    lines to repeat when the encoded arrays come from the cache (columns, rows ignored or skipped)."""

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
    """Every usable row of the files: training rows and test rows (from ``--test-data``, test* files
    or a split column; None when the data has none), bad rows skipped and counted (or ``strict``).
    Every file's columns are picked (``columns``) before any row is read."""
    for note in source.notes:  # not in the notes: a load from the cache logs the source's own, fresh
        log(note)
    notes: list[str] = []
    picked, line = columns.pick_columns(source, cfg)
    if line:
        say(notes, line)
    names, bad = source.names(), _BadRows(cfg.strict)
    also = f" and {source.test_spec}" if source.test_spec else ""
    log(f"reading {count(len(source.files), 'tabular file')} from {source.spec}{also} ...")
    # A split column found by its name is only the split when a row says "test": until every file is
    # read, its files' rows wait (their bad rows too: a row of an ignored split is not a bad row).
    detected = sorted({c.split for c in picked.values() if c.split}) if not cfg.split_column else []
    placed = _Placed()
    waiting: list[tuple[str, Path, _FileRows]] = []
    for role, files in (("train", source.train_files), ("test", source.test_files)):
        for path in files:
            rows = _read_file(path, names[path], picked[path], cfg)
            if detected:
                waiting.append((role, path, rows))
            else:
                placed.add(role, path, names[path], rows, bool(picked[path].split), bad)
    values = Counter(split for _, _, rows in waiting for split in rows.splits())
    use_detected = values["test"] > 0
    for role, path, rows in waiting:
        placed.add(role, path, names[path], rows, use_detected and bool(picked[path].split), bad)
    if detected and not use_detected:
        shown = ", ".join(f"{v or '(none)'} {n:,}" for v, n in values.most_common(5))
        say(notes, f"column {detected[0]!r} names no test row: not used as the split, every row trains ({shown})")
    if placed.ignored:
        shown = ", ".join(f"{v} {n:,}" for v, n in placed.ignored.most_common(5))
        ignored = count(sum(placed.ignored.values()), "row")
        say(notes, f"ignoring {ignored} whose split is neither train nor test ({shown})")
    split_columns = sorted({c.split for c in picked.values() if c.split})
    if cfg.split_column and not placed.test:
        raise DataError(f"no row's {cfg.split_column!r} value is 'test': the data has no test rows")
    if placed.test and split_columns and cfg.test_fraction is not None:
        raise DataError(
            f"--test-fraction holds test rows out, but the data has a test split (column {split_columns[0]!r}): "
            "drop --test-fraction"
        )
    summary = bad.summary()
    if summary:
        say(notes, summary)
    if not placed.train:
        raise DataError(f"{source.spec} has no usable training row")
    return TabularRows(placed.train, placed.test if placed.test or source.test_from else None, notes)


@dataclass
class _FileRows:
    """One file's rows as read: ``(split value, row)`` of the usable ones, ``(position, kind, where,
    split value)`` of the bad ones; the split value is lower-case text or None. A ragged line has no
    split value: it is a bad row whatever the split."""

    rows: list[tuple[Optional[str], Row]]
    bad: list[tuple[int, str, str, Optional[str]]]
    ragged: list[tuple[int, str, str]]

    def splits(self):
        yield from (split for split, _ in self.rows)
        yield from (split for *_, split in self.bad)


@dataclass
class _Placed:
    """The rows placed in the training or the test split, and the split values ignored."""

    train: list[Row] = field(default_factory=list)
    test: list[Row] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)

    def add(self, role: str, path: Path, name: str, found: _FileRows, use_split: bool, bad: _BadRows) -> None:
        rows, kept_bad, ignored = found.rows, found.bad, Counter()
        if use_split:  # rows whose split is neither train nor test are left out, bad or not
            ignored.update(s or "(none)" for s in found.splits() if s not in ("train", "test"))
            rows = [(s, r) for s, r in rows if s in ("train", "test")]
            kept_bad = [b for b in kept_bad if b[3] in ("train", "test")]
        kept = found.ragged + [b[:3] for b in kept_bad]
        bad.add(path, name, kept)
        if not rows and not ignored:
            skipped = f" ({count(len(kept), 'bad row')} skipped)" if kept else ""
            raise DataError(f"{path} has no usable row{skipped}")
        self.ignored.update(ignored)
        for split, row in rows:
            (self.test if split == "test" or role == "test" else self.train).append(row)


def _read_file(path: Path, name: str, cols: arrow.Columns, cfg: DataConfig) -> _FileRows:
    """One file's rows, each checked (text, label) and with its split value."""
    table, ragged = arrow.read_table(path, cols)
    n = table.num_rows
    texts = columns.texts(table.column(cols.text), path, cols.text)
    labels = columns.values(table.column(cols.label), path, cols.label)
    splits = columns.values(table.column(cols.split), path, cols.split) if cols.split else [None] * n
    numbers = _row_numbers(n, ragged)
    allowed = set(cfg.labels) if cfg.labels else None
    found = _FileRows([], [], [(r, "ragged line", f"line {r + 1}") for r in ragged])
    for i in range(n):
        split = splits[i].lower() if isinstance(splits[i], str) else None
        kind, text = check_text(texts[i])
        label = labels[i]
        kind = kind or check_label(label, allowed)
        if kind is not None:
            found.bad.append((numbers[i], kind, f"row {numbers[i]}", split))
        else:
            found.rows.append((split, Row(f"{name}:{numbers[i]}", label, text)))
    return found


def check_text(payload: Optional[bytes]) -> tuple[Optional[str], str]:
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


def check_label(label: object, allowed: Optional[set[str]]) -> Optional[str]:
    """The bad-row kind of a label (None: a usable one)."""
    if label is None:
        return "null label"
    if label is columns.INVALID:
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
