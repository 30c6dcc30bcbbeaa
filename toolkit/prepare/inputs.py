"""What ``toolkit prepare`` reads: the tabular files behind ``--data`` (and ``--test-data``) on any file
system (``core.uris``), their splits and columns, found and checked before any row is read, and Ray
Data datasets of them.

- ``--data`` is a file or a folder (or prefix) of ``.parquet``, ``.csv``, ``.tsv``, ``.jsonl`` /
  ``.json`` (JSON lines) files, optionally compressed (``.gz``, ``.bz2``, ``.zst``), below it at any depth.
- Splits: files in ``train/``, ``test/`` and ``validation/`` (or ``valid/``, ``dev/``) folders or
  named ``train*``, ``test*``, ``validation*``; ``--test-data``'s files are the test split; else the
  split column (``--split-column``, or one named ``split``) says per row. Data without a test split is
  an error (prepare does not hold rows out).
- Columns: named by ``--text-column`` / ``--label-column`` or detected by name (``data.columns``), the
  same in every file (checked from each file's schema or header, before Ray reads a row).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Optional

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from toolkit.config import DataConfig
from toolkit.core.errors import DataError, first_line
from toolkit.core.uris import UriError, file_type, list_files, open_uri
from toolkit.data import arrow, columns
from toolkit.data.files import SPLIT_FOLDERS, tabular_format
from toolkit.data.prepared import MARKER

HEAD_BYTES = 1 << 20  # read to find a CSV header or a JSON line's keys
SPLIT_VALUES = {
    "train": "train",
    "test": "test",
    "validation": "validation",
    "valid": "validation",
    "dev": "validation",
}


@dataclass(frozen=True)
class Inputs:
    """The files to prepare, by split (``"rows"``: the split column says), their columns, and what
    fingerprints them (each file's path, size and modification time)."""

    spec: str
    filesystem: pafs.FileSystem
    splits: dict  # {"train" | "test" | "validation" | "rows": (path, ...)}
    cols: arrow.Columns
    notes: tuple[str, ...]

    def files(self) -> list[str]:
        return [f for paths in self.splits.values() for f in paths]

    def fingerprint(self) -> list:
        infos = self.filesystem.get_file_info(self.files())
        roles = {f: role for role, paths in self.splits.items() for f in paths}
        return [[roles[i.path], i.path, i.size, i.mtime_ns] for i in infos]

    def total_bytes(self) -> int:
        return sum(i.size or 0 for i in self.filesystem.get_file_info(self.files()))


def find_inputs(cfg: DataConfig) -> Inputs:
    """The files, splits and columns of ``cfg.path`` (and ``cfg.test_path``); errors before any row."""
    fs, train_roles = _files(cfg.path, "--data")
    notes = []
    splits: dict[str, list[str]] = {}
    has_roles = any(role for role in train_roles.values())
    for path, role in train_roles.items():
        if has_roles and role is None:
            notes.append(f"{path}: not in a train/test/validation folder nor named so: left out")
            continue
        splits.setdefault(role or "train", []).append(path)
    if cfg.test_path:
        if "test" in splits:
            raise DataError(f"--data {cfg.path} has test files of its own and --test-data is given: pass one of them")
        test_fs, test_roles = _files(cfg.test_path, "--test-data")
        if type(test_fs) is not type(fs):
            raise DataError("--data and --test-data must be on the same file system")
        both = [f for f in splits.get("train", []) if f in test_roles]
        splits["train"] = [f for f in splits.get("train", []) if f not in test_roles]  # as one process does
        if both:
            notes.append(f"{len(both):,} file(s) of --test-data are in --data too: the test split only")
        if not splits["train"]:
            raise DataError(
                "--data and --test-data name the same files: the model would be tested on its training rows"
            )
        splits["test"] = list(test_roles)
    if "train" not in splits:
        raise DataError(f"--data {cfg.path} has no training files (train/ or train* files, or files of no split)")
    use_split = "test" not in splits
    cols = _columns(fs, splits, cfg, use_split)
    if use_split:
        if cols.split is None:
            raise DataError(
                f"{cfg.path} has no test split: put test files in a test/ folder or name them test*, pass "
                "--test-data, or a split column (--split-column) whose rows say train or test"
            )
        splits = {"rows": splits.pop("train"), **splits}
    return Inputs(cfg.path, fs, {k: tuple(v) for k, v in splits.items()}, cols, tuple(notes))


def _files(spec: str, flag: str) -> tuple[pafs.FileSystem, dict[str, Optional[str]]]:
    """``(file system, {file: its split by folder or name, or None})`` of a file or folder."""
    try:
        fs, path = open_uri(spec)
        kind = file_type(fs, path)
        if kind == "missing":
            raise DataError(f"{flag} {spec} does not exist")
        found = [path] if kind == "file" else list_files(fs, path, hidden=True)
    except UriError as exc:
        raise DataError(f"{flag} {spec}: {exc}") from None
    visible = [f for f in found if not any(p.startswith((".", "_")) for p in f[len(path) :].split("/"))]
    tabular = [f for f in visible if tabular_format(PurePosixPath(f))]
    if not tabular:
        raise DataError(
            f"{flag} {spec} holds no tabular files (.parquet, .csv, .tsv, .jsonl, .json, optionally .gz/.bz2/.zst)"
        )
    base = path.rstrip("/")
    ours = {f.rsplit("/", 1)[0] for f in found if f.endswith(f"/{MARKER}")}
    tabular = [f for f in tabular if not any(f.startswith(folder + "/") for folder in ours)]  # prepared shards
    if not tabular:
        raise DataError(f"{flag} {spec} holds only data the toolkit prepared: pass the files it was prepared from")
    roles = {}
    for f in tabular:
        below = PurePosixPath(f[len(base) :].lstrip("/")) if kind == "folder" else PurePosixPath(PurePosixPath(f).name)
        roles[f] = _role(below)
    return fs, roles


def _role(below: PurePosixPath) -> Optional[str]:
    for part in below.parts[:-1]:
        if part.lower() in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[part.lower()]
    name = below.name.lower()
    for prefix, split in (("train", "train"), ("test", "test"), *((p, "validation") for p in ("validation", "valid"))):
        if name.startswith(prefix):
            return split
    return None


def _columns(fs: pafs.FileSystem, splits: dict, cfg: DataConfig, use_split: bool) -> arrow.Columns:
    """The text, label (and split) columns, the same in every file."""
    chosen = None
    for role, paths in splits.items():
        for path in paths:
            names = column_names(fs, path)
            cols = columns.pick(names, path, cfg, use_split and role == "train")
            if chosen is not None and (cols.text, cols.label) != (chosen.text, chosen.label):
                raise DataError(
                    f"{path} has the columns {cols.text!r} / {cols.label!r}, other files {chosen.text!r} / "
                    f"{chosen.label!r}: pass --text-column and --label-column"
                )
            if chosen is None or (chosen.split is None and cols.split is not None):
                chosen = cols
    assert chosen is not None
    return chosen


def column_names(fs: pafs.FileSystem, path: str) -> list[str]:
    """A file's column names: its Parquet schema, CSV header or first JSON line's keys."""
    fmt, _ = tabular_format(PurePosixPath(path))
    try:
        if fmt == "parquet":
            with fs.open_input_file(path) as f:
                return list(pq.read_schema(f).names)
        with fs.open_input_stream(path) as stream:  # compression from the name
            head = stream.read(HEAD_BYTES)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {first_line(exc)}") from None
    lines = head.splitlines()
    if fmt == "json":
        first = next((line for line in lines if line.strip()), b"")
        try:
            keys = json.loads(first)
        except ValueError:
            keys = None
        if not isinstance(keys, dict):
            raise DataError(f"{path}: the first line is not a JSON object (JSON lines: one object per line)")
        return list(keys)
    if not lines:
        raise DataError(f"{path} is empty: a CSV or TSV file needs a header line")
    delimiter = "\t" if fmt == "tsv" else ","
    try:
        header = pacsv.read_csv(
            io.BytesIO(lines[0] + b"\n"),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            read_options=pacsv.ReadOptions(autogenerate_column_names=False),
        )
    except (pa.ArrowException, ValueError) as exc:
        raise DataError(f"{path}: cannot read its header line: {first_line(exc)}") from None
    return list(header.column_names)


def read_files(inputs: Inputs, role: str, rows: int):
    """A Ray Dataset of one split's files (``role``), only the columns used, texts as bytes, in blocks of
    ``rows`` rows."""
    import ray.data

    cols = inputs.cols
    wanted = [c for c in (cols.text, cols.label, cols.split if role == "rows" else None) if c]
    by_format: dict[str, list[str]] = {}
    for path in inputs.splits[role]:
        fmt, _ = tabular_format(PurePosixPath(path))
        by_format.setdefault(fmt, []).append(path)
    if len(by_format) > 1:  # Ray Data reads one format at a time: the rows' order would not be the files'
        raise DataError(f"the {role} files mix formats ({', '.join(sorted(by_format))}): convert them to one format")
    parts = []
    fs = inputs.filesystem
    for fmt, paths in by_format.items():
        if fmt == "parquet":
            parts.append(ray.data.read_parquet(paths, filesystem=fs, file_extensions=None))  # columns: below
        elif fmt == "json":
            parts.append(ray.data.read_json(paths, filesystem=fs, file_extensions=None))  # pyarrow: JSON lines
        else:
            text_types = {cols.text: pa.binary()}  # UTF-8 is judged per row (data.arrow)
            parts.append(
                ray.data.read_csv(
                    paths,
                    filesystem=fs,
                    file_extensions=None,
                    parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(include_columns=wanted, column_types=text_types),
                )
            )
    dataset = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    # blocks of ``rows`` rows: a map task handles a whole block, so one big file (one row group) would
    # otherwise be counted and encoded by one task on one CPU (measured: 2 CPUs no faster than 1)
    return dataset.select_columns(wanted).repartition(target_num_rows_per_block=rows)
