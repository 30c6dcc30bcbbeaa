"""Labelled text in the user's own tabular files: CSV, TSV, JSON lines and Parquet, read with pyarrow.

``--data PATH`` is a file, a folder of such files (its own files, not its subfolders') or a glob
(``data/*.csv``, ``data/**/*.parquet``); a folder holding an aclImdb layout is aclImdb (``sources``).
Names end in ``.csv``,
``.tsv``, ``.jsonl``, ``.ndjson``, ``.json`` (JSON lines: one object per line) or ``.parquet``,
optionally followed by ``.gz``, ``.bz2`` or ``.zst`` (read through ``pa.input_stream``; a compressed
Parquet file is decompressed into memory first). CSV and TSV files need a header line; a TSV file
is read as CSV with tabs (a field may be quoted, as pandas writes it).

- **Columns**: ``DataConfig.text_column`` / ``label_column``, else the one column of each file whose
  name is a common one (``TEXT_NAMES``, ``LABEL_NAMES``, case-insensitive); none or several is an error.
- **Which rows are test rows** (:func:`find_tabular`, :func:`read_tabular`): ``DataConfig.test_path``;
  else, in a folder or glob, the files named ``test*`` (``train*`` ones train, ``validation*`` / ``dev*``
  and any other file are then ignored); else a split column (``DataConfig.split_column``, or one named
  ``split``) whose ``train`` / ``test`` values place each row; else none (``toolkit.data.splits`` holds
  a fraction out).
- **Bad rows** (``BAD_KINDS``): skipped and counted in one log line, or with ``DataConfig.strict`` the
  first one is an error. Row numbers count data rows from 1: the header and blank lines (pyarrow
  skips them in CSV and JSON) are not rows; a CSV row after
  a ragged line keeps its place in the file. A ragged line is named by pyarrow's line number: the
  header is line 1, blank lines are not counted and a quoted value holding newlines is one line.
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
import glob
import hashlib
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from toolkit.config import DataConfig
from toolkit.core.errors import DataError, first_line
from toolkit.core.files import sha256_file
from toolkit.core.progress import log
from toolkit.data.sources import MAX_REVIEW_BYTES

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
TEXT_NAMES = ("text", "review", "sentence", "content", "body", "document", "comment")
LABEL_NAMES = ("label", "sentiment", "stars", "class", "category", "target", "labels")
SPLIT_NAME = "split"
NOT_SPLIT_FILES = ("validation", "valid", "dev")  # file name prefixes ignored next to train*/test* files
BAD_KINDS = ("empty text", "null label", "unknown label", "text too long", "invalid UTF-8", "ragged line")
_GLOB = re.compile(r"[*?[]")
_BLOCK = 16 << 20  # pyarrow's block: a JSON line must fit in one (its default, 1 MiB, is about one review)
_SHOWN = 12  # column and file names listed in one line
_STRICT = "drop --strict to skip such rows"
_INVALID = object()  # a label or split value whose bytes are not UTF-8


class Row(NamedTuple):
    """One usable row: ``"<file name>:<row>"``, its label as text, its text."""

    review_id: str
    label: str
    text: str


@dataclass(frozen=True)
class TabularSource:
    """The files behind ``--data`` (and ``--test-path``), classified by name, none read yet."""

    spec: str  # the data path, absolute: a file, folder or glob that finds these files again
    train_files: tuple[Path, ...]
    test_files: tuple[Path, ...]  # --test-path's files, or test* files; empty: a split column or a hold-out
    test_from: str  # "--test-path", "file names" or "" (the rows say, or nothing does)
    notes: tuple[str, ...] = ()  # files left out, logged when the files are read
    test_spec: Optional[str] = None  # --test-path, absolute

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(sorted(self.train_files + self.test_files))

    def names(self) -> dict[Path, str]:
        """Each file's name in review ids and messages: its base name, or its path below the files'
        common folder when two files share a base name."""
        files = self.files
        if len({f.name for f in files}) == len(files):
            return {f: f.name for f in files}
        common = Path(os.path.commonpath([str(f.parent) for f in files]))
        return {f: str(f.relative_to(common)) for f in files}

    def fingerprint(self) -> tuple[str, list[list[str]]]:
        """``(source sha256, cache key)``: the sha256 over the files' sha256s (sorted by path), and
        ``[role, name, sha256]`` per file (a renamed or re-roled file changes ids or splits)."""
        names, test = self.names(), set(self.test_files)
        shas = {f: sha256_file(f) for f in self.files}
        digest = hashlib.sha256("".join(shas[f] for f in self.files).encode()).hexdigest()
        return digest, [["test" if f in test else "train", names[f], shas[f]] for f in self.files]


@dataclass
class TabularRows:
    """The usable rows: training rows, test rows (None: the data has no test split), and the log
    lines worth repeating when the encoded arrays come from the cache (skipped rows)."""

    train: list[Row]
    test: Optional[list[Row]]
    notes: list[str] = field(default_factory=list)


# --- finding the files ---------------------------------------------------------------------------
def tabular_format(path: Path) -> Optional[tuple[str, Optional[str]]]:
    """``(format, compression)`` of a tabular file's name (``reviews.csv.gz``: csv, gzip), else None."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    return (fmt, compression) if fmt else None


def find_tabular(cfg: DataConfig) -> Optional[TabularSource]:
    """The tabular files ``cfg.path`` (else ``$TOOLKIT_DATA``) names, or None when it names none
    (an aclImdb tarball or folder, a missing path: ``sources.resolve_source`` judges those)."""
    spec, what = (cfg.path, "data path") if cfg.path else (os.environ.get("TOOLKIT_DATA"), "TOOLKIT_DATA")
    if not spec:
        return None
    found = _expand(spec, what, aclimdb_stays=True)
    if found is None:
        return None
    files, notes, by_name = found
    train, test, test_from = files, [], ""
    if by_name:
        train, test, notes = _split_by_name(files, spec, notes)
        test_from = "file names" if test else ""
    if cfg.test_path:
        if test:
            raise DataError(
                f"{what} {spec} holds test files ({_listed(f.name for f in test)}) and --test-path is given: "
                "pass one of them"
            )
        expanded = _expand(cfg.test_path, "test path", aclimdb_stays=False)
        if expanded is None:
            raise DataError(f"test path {cfg.test_path} holds no tabular file ({_FORMATS_HINT})")
        test, test_from, notes = expanded[0], "--test-path", notes + expanded[1]
    if cfg.split_column and test_from:
        raise DataError(f"--split-column and test rows from {test_from} both say which rows are test rows: pass one")
    if cfg.test_fraction is not None and test_from:
        raise DataError(
            f"--test-fraction holds test rows out, but the data has a test split ({test_from}): drop --test-fraction"
        )
    test_spec = os.path.abspath(os.path.expanduser(cfg.test_path)) if cfg.test_path else None
    absolute = os.path.abspath(os.path.expanduser(spec))
    return TabularSource(absolute, tuple(sorted(train)), tuple(sorted(test)), test_from, tuple(notes), test_spec)


_FORMATS_HINT = "names ending in .csv, .tsv, .jsonl, .json or .parquet, optionally .gz, .bz2 or .zst"


def _expand(spec: str, what: str, aclimdb_stays: bool) -> Optional[tuple[list[Path], list[str], bool]]:
    """``(files, notes, from a folder or glob)`` for a tabular file, folder or glob; None otherwise."""
    path = Path(spec).expanduser()
    if _GLOB.search(spec) and not path.exists():
        matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        if not matches:
            raise DataError(f"{what} {spec} matches no file ({_FORMATS_HINT})")
        return _tabular_files([m for m in matches if m.is_file()], spec, what)
    if path.is_dir():
        if aclimdb_stays and ((path / "train").is_dir() or (path / "aclImdb").is_dir()):
            return None  # an aclImdb layout
        found = _tabular_files([p for p in sorted(path.iterdir()) if p.is_file()], spec, what, quiet=True)
        if not found[0]:
            _refuse_nested(path, spec, what)
            return None
        return found
    if path.is_file() and tabular_format(path):
        return [path.resolve()], [], False
    if path.exists() and tabular_format(path):  # a FIFO or a device: reading would hang
        raise DataError(f"{what} {spec} is not a regular file")
    return None


def _refuse_nested(path: Path, spec: str, what: str) -> None:
    """A folder whose tabular files are all in subfolders (a Hugging Face snapshot: ``plain_text/``):
    say which to pass, rather than read every subfolder (they may hold other data sets)."""
    for found in path.rglob("*"):
        inner = found.relative_to(path)
        if tabular_format(found) and found.is_file() and not any(p.startswith(".") for p in inner.parts):
            raise DataError(
                f"{what} {spec} holds no tabular file itself, but {inner.parent} in it does: pass that folder, "
                f"or a glob such as '{Path(spec) / '**' / ('*' + ''.join(found.suffixes[-2:]))}'"
            )


def _tabular_files(
    candidates: list[Path], spec: str, what: str, quiet: bool = False
) -> tuple[list[Path], list[str], bool]:
    files = [p.resolve() for p in candidates if tabular_format(p) and not p.name.startswith(".")]
    others = [p.name for p in candidates if not tabular_format(p) and not p.name.startswith(".")]
    if not files and not quiet:
        raise DataError(f"{what} {spec} matches no tabular file ({_FORMATS_HINT})")
    notes = (
        [f"ignoring {_count(len(others), 'file')} that {_is(others)} not tabular: {_listed(others)}"] if others else []
    )
    return files, notes, True


def _split_by_name(files: list[Path], spec: str, notes: list[str]) -> tuple[list[Path], list[Path], list[str]]:
    """Files named ``train*`` / ``test*`` (Hugging Face: ``train-00000-of-00001.parquet``) when any is."""
    train = [f for f in files if f.name.lower().startswith("train")]
    test = [f for f in files if f.name.lower().startswith("test")]
    if not train and not test:
        return files, [], notes
    if not train:
        raise DataError(
            f"data path {spec} holds test files ({_listed(f.name for f in test)}) but no train* file: name the "
            "training files train*, or pass them as --data and the test files as --test-path"
        )
    rest = [f.name for f in files if f not in train and f not in test]
    if rest:
        splits = [n for n in rest if n.lower().startswith(NOT_SPLIT_FILES)]
        kind = "validation" if len(splits) == len(rest) else "neither train* nor test*"
        notes = notes + [f"ignoring {_count(len(rest), 'file')} ({kind}): {_listed(rest)}"]
    return train, test, notes


# --- reading the rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Columns:
    text: str
    label: str
    split: Optional[str]
    detected: bool  # the text or the label column was found by its name


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
        return f"skipped {_count(total, 'row')}: {', '.join(parts)}"


def read_tabular(source: TabularSource, cfg: DataConfig) -> TabularRows:
    """Every usable row of the files: training rows and test rows (from ``--test-path``, test* files
    or a split column; None when the data has none), bad rows skipped and counted (or ``strict``)."""
    for note in source.notes:
        log(note)
    names, bad = source.names(), _BadRows(cfg.strict)
    also = f" and {source.test_spec}" if source.test_spec else ""
    log(f"reading {_count(len(source.files), 'tabular file')} from {source.spec}{also} ...")
    train: list[Row] = []
    test: list[Row] = []
    ignored: Counter = Counter()
    columns: dict[_Columns, list[str]] = {}
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
        log(f"ignoring {_count(sum(ignored.values()), 'row')} whose split is neither train nor test ({values})")
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


def _log_columns(columns: dict[_Columns, list[str]]) -> None:
    """One line naming the columns found by name (per distinct choice, when files differ)."""
    detected = [(c, files) for c, files in columns.items() if c.detected]
    if not detected:
        return
    parts = []
    for c, files in detected:
        split = f", split {c.split!r}" if c.split else ""
        where = f" in {_listed(files)}" if len(detected) > 1 else ""
        parts.append(f"text {c.text!r}, label {c.label!r}{split}{where}")
    log(f"columns: {'; '.join(parts)} (found by name; --text-column / --label-column choose others)")


def _read_file(
    path: Path, name: str, cfg: DataConfig, use_split: bool, bad: _BadRows
) -> tuple[_Columns, list[tuple[Optional[str], Row]], Counter]:
    """``(columns, [(split value or None, row)], split values ignored)`` of one file's usable rows."""
    table, cols, ragged = _read_table(path, lambda names: _pick_columns(names, path, cfg, use_split))
    n = table.num_rows
    texts = _texts(table.column(cols.text), path, cols.text)
    labels = _values(table.column(cols.label), path, cols.label)
    splits = _values(table.column(cols.split), path, cols.split) if cols.split else [None] * n
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
        skipped = f" ({_count(len(found), 'bad row')} skipped)" if found else ""
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
    if label is _INVALID:
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


def _pick_columns(names: list[str], path: Path, cfg: DataConfig, use_split: bool) -> _Columns:
    text = _column(names, cfg.text_column, TEXT_NAMES, "text", path)
    label = _column(names, cfg.label_column, LABEL_NAMES, "label", path)
    split = None
    if use_split and cfg.split_column:
        split = _column(names, cfg.split_column, (), "split", path)
    elif use_split:
        split = next((c for c in names if c.strip().lower() == SPLIT_NAME), None)
    if len({text, label, split} - {None}) < 2 + (split is not None):
        raise DataError(f"{path}: the text, label and split columns must differ, got {text!r}, {label!r}, {split!r}")
    return _Columns(text, label, split, cfg.text_column is None or cfg.label_column is None)


def _column(names: list[str], given: Optional[str], candidates: tuple[str, ...], what: str, path: Path) -> str:
    flag = f"--{what}-column"
    shown = _listed(repr(n) for n in names)
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
        else f"several columns could be the {what} ({_listed(repr(n) for n in found)})"
    )
    raise DataError(f"{path}: {problem}; its columns: {shown}: pass --text-column / --label-column NAME")


def _read_table(path: Path, pick: Callable[[list[str]], _Columns]) -> tuple[pa.Table, _Columns, list[int]]:
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
    path: Path, compression: Optional[str], fmt: str, pick: Callable[[list[str]], _Columns], ragged: list[int]
) -> tuple[pa.Table, _Columns]:
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


def _texts(column: pa.ChunkedArray, path: Path, name: str) -> list[Optional[bytes]]:
    column = _decoded(column)
    t = column.type
    if pa.types.is_null(t):
        return [None] * len(column)
    if pa.types.is_string(t) or pa.types.is_large_string(t):  # string -> binary: the bytes, never validated
        column = column.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
    elif not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        raise DataError(f"{path}: column {name!r} holds {t} values, not text: pass --text-column NAME")
    return column.to_pylist()


def _values(column: pa.ChunkedArray, path: Path, name: str) -> list:
    """A label or split column as text per row: None for a null, ``_INVALID`` for bytes not UTF-8."""
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
        return _INVALID
    return text or None


# --- one-line lists ------------------------------------------------------------------------------
def _listed(items) -> str:
    items = list(items)
    more = f", ... ({len(items) - _SHOWN:,} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _is(items: list) -> str:
    return "is" if len(items) == 1 else "are"
