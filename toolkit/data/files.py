"""Which files make the labelled data: the user's tabular files (CSV, TSV, JSON lines, Parquet) that
``--data`` (and ``--test-path``) name, classified by name, none read yet (``arrow`` reads one,
``tabular`` takes the rows).

``--data PATH`` is a file, a folder of such files (its own files, not its subfolders') or a glob
(``data/*.csv``, ``data/**/*.parquet``); a folder holding an aclImdb layout is aclImdb (``sources``).
Names end in ``.csv``,
``.tsv``, ``.jsonl``, ``.ndjson``, ``.json`` (JSON lines: one object per line) or ``.parquet``,
optionally followed by ``.gz``, ``.bz2`` or ``.zst``.

**Test files** (:func:`find_tabular`): ``DataConfig.test_path``'s; else, in a folder or glob, the files
named ``test*`` (``train*`` ones train, ``validation*`` / ``dev*`` and any other file are then ignored);
else none (the rows may say: ``tabular``).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.core.files import sha256_file

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
NOT_SPLIT_FILES = ("validation", "valid", "dev")  # file name prefixes ignored next to train*/test* files
_GLOB = re.compile(r"[*?[]")
_SHOWN = 12  # column and file names listed in one line


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
                f"{what} {spec} holds test files ({listed(f.name for f in test)}) and --test-path is given: "
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
        [f"ignoring {count(len(others), 'file')} that {_is(others)} not tabular: {listed(others)}"] if others else []
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
            f"data path {spec} holds test files ({listed(f.name for f in test)}) but no train* file: name the "
            "training files train*, or pass them as --data and the test files as --test-path"
        )
    rest = [f.name for f in files if f not in train and f not in test]
    if rest:
        splits = [n for n in rest if n.lower().startswith(NOT_SPLIT_FILES)]
        kind = "validation" if len(splits) == len(rest) else "neither train* nor test*"
        notes = notes + [f"ignoring {count(len(rest), 'file')} ({kind}): {listed(rest)}"]
    return train, test, notes


# --- one-line lists ------------------------------------------------------------------------------
def listed(items) -> str:
    items = list(items)
    more = f", ... ({len(items) - _SHOWN:,} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _is(items: list) -> str:
    return "is" if len(items) == 1 else "are"
