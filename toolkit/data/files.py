"""Which files make the labelled data: the user's tabular files (CSV, TSV, JSON lines, Parquet) that
``--data`` (and ``--test-data``) name, classified by name, none read yet (``arrow`` reads one,
``columns`` picks their columns, ``tabular`` takes the rows).

``--data PATH`` is a file, a folder of such files (its own files, not its subfolders'; a folder with
none of its own whose ``train/`` and ``test/`` (and ``validation/``) subfolders hold them: those splits,
Hugging Face's ``plain_text/train/0000.parquet``) or a glob (``data/*.csv``, ``data/**/*.parquet``). A
folder holding ``train/neg`` or ``train/pos`` (or ``aclImdb/train/...``) is aclImdb (``sources``).
Names end in ``.csv``, ``.tsv``, ``.jsonl``, ``.ndjson``, ``.json`` (JSON lines: one object per line)
or ``.parquet``, optionally followed by ``.gz``, ``.bz2`` or ``.zst``.

**Test files** (:func:`find_tabular`): ``DataConfig.test_path``'s (left out of the training files when
a folder or glob also finds them; the same file twice is an error: the model would be tested on rows
it trained on); else, in a folder or glob, the files in a ``test/`` folder or named ``test*``
(``train*`` ones train, ``validation*`` / ``dev*`` and any other file are then ignored); else none (the
rows may say: ``tabular``).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.core.files import sha256_file
from toolkit.data.lines import count, listed, shown

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
NOT_SPLIT_FILES = ("validation", "valid", "dev")  # file name prefixes ignored next to train*/test* files
SPLIT_FOLDERS = {"train": "train", "test": "test", **{name: "validation" for name in NOT_SPLIT_FILES}}
_GLOB = re.compile(r"[*?[]")
_FORMATS_HINT = "names ending in .csv, .tsv, .jsonl, .json or .parquet, optionally .gz, .bz2 or .zst"


@dataclass(frozen=True)
class TabularSource:
    """The files behind ``--data`` (and ``--test-data``), classified by name, none read yet."""

    spec: str  # the data path, absolute: a file, folder or glob that finds these files again
    train_files: tuple[Path, ...]
    test_files: tuple[Path, ...]  # --test-data's files, or test* files; empty: a split column or a hold-out
    test_from: str  # "--test-data", "file names" or "" (the rows say, or nothing does)
    notes: tuple[str, ...] = ()  # files left out, logged when the files are read
    test_spec: Optional[str] = None  # --test-data, absolute

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
class _Found:
    """Files of one path; a folder's or glob's ``roles``: each file's split by its folder or name
    (None: neither says) and its path below the folder or the glob's fixed part."""

    files: list[Path]
    notes: list[str]
    roles: Optional[dict[Path, tuple[Optional[str], str]]] = None


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
    found = _expand(spec, what, for_data=True)
    if found is None:
        return None
    notes, test, test_from = found.notes, [], ""
    if cfg.test_path:
        given = _expand(cfg.test_path, "--test-data", for_data=False)
        if given is None:
            exists = Path(cfg.test_path).expanduser().exists()
            problem = f"holds no tabular file ({_FORMATS_HINT})" if exists else "does not exist"
            raise DataError(f"--test-data {cfg.test_path} {problem}")
        test, test_from, notes = given.files, "--test-data", notes + given.notes
        notes += _leave_out_test_files(found, set(test), f"--data {spec}" if cfg.path else f"TOOLKIT_DATA {spec}")
    train = found.files
    if found.roles is not None:
        train, by_name, notes = _split_by_role(found, spec, notes)
        if by_name and test:
            raise DataError(
                f"{what} {spec} holds test files ({listed(found.roles[f][1] for f in by_name)}) and --test-data "
                "is given: pass one of them"
            )
        if by_name:
            test, test_from = by_name, "file names"
    if cfg.split_column and test_from:
        raise DataError(f"--split-column and test rows from {test_from} both say which rows are test rows: pass one")
    if cfg.test_fraction is not None and test_from:
        raise DataError(
            f"--test-fraction holds test rows out, but the data has a test split ({test_from}): drop --test-fraction"
        )
    test_spec = os.path.abspath(os.path.expanduser(cfg.test_path)) if cfg.test_path else None
    absolute = os.path.abspath(os.path.expanduser(spec))
    return TabularSource(absolute, tuple(sorted(train)), tuple(sorted(test)), test_from, tuple(notes), test_spec)


def _leave_out_test_files(found: _Found, test: set[Path], data: str) -> list[str]:
    """Drop the ``--test-data`` files from a folder's or glob's training files (tested on rows it
    trained on, a model's test figures would be worthless); the one file of ``--data`` is an error."""
    overlap = [f for f in found.files if f in test]
    if overlap and found.roles is None:
        raise DataError(
            f"{data} is also the --test-data: the model would be tested on the rows it trained on; pass "
            "other files as --test-data, or --test-fraction to hold rows out"
        )
    found.files = [f for f in found.files if f not in test]
    if not overlap:
        return []
    if not found.files:
        raise DataError(f"every file of {data} is also --test-data: pass the training files as --data")
    they = "it is" if len(overlap) == 1 else "they are"
    return [f"leaving {listed(shown(f) for f in overlap)} out of the training files: {they} the --test-data"]


def _expand(spec: str, what: str, for_data: bool) -> Optional[_Found]:
    """The files of a tabular file, folder or glob; None for anything else."""
    path = Path(spec).expanduser()
    if _GLOB.search(spec) and not path.exists():
        matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        if not matches:
            raise DataError(f"{what} {spec} matches no file ({_FORMATS_HINT})")
        return _tabular_files([m for m in matches if m.is_file()], spec, what, _glob_base(path))
    if path.is_dir():
        if for_data and _is_aclimdb(path):
            return None
        found = _tabular_files([p for p in sorted(path.iterdir()) if p.is_file()], spec, what, path, quiet=True)
        if not found.files and for_data:
            found = _split_folders(path, spec, what) or found
        if not found.files:
            _refuse_nested(path, spec, what)
            return None
        return found
    if path.is_file() and tabular_format(path):
        return _Found([path.resolve()], [])
    if path.exists() and tabular_format(path):  # a FIFO or a device: reading would hang
        raise DataError(f"{what} {spec} is not a regular file")
    return None


def _is_aclimdb(path: Path) -> bool:
    return any((root / "train" / label).is_dir() for root in (path, path / "aclImdb") for label in ("neg", "pos"))


def _split_folders(path: Path, spec: str, what: str) -> Optional[_Found]:
    """A folder's ``train/``, ``test/`` (and ``validation/``) subfolders' tabular files, when ``train/`` or
    ``test/`` holds any (a Hugging Face conversion: ``plain_text/train/0000.parquet``)."""
    folders = [d for d in sorted(path.iterdir()) if d.is_dir() and d.name.lower() in SPLIT_FOLDERS]
    candidates = [p for d in folders for p in sorted(d.iterdir()) if p.is_file()]
    found = _tabular_files(candidates, spec, what, path, quiet=True)
    if not any(role in ("train", "test") for role, _ in (found.roles or {}).values()):
        return None
    tops = [Path(name).parts[0] for _, name in (found.roles or {}).values()]
    parts = [f"{d.name}/ ({count(tops.count(d.name), 'file')})" for d in folders]
    found.notes.insert(0, f"{spec}: reading the split folders {', '.join(parts)}")
    return found


def _glob_base(pattern: Path) -> Path:
    """The part of a glob before its first wildcard (``nest`` of ``nest/**/*.parquet``)."""
    fixed = list(itertools.takewhile(lambda part: not _GLOB.search(part), pattern.parts))
    return Path(*fixed) if fixed else Path(".")


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


def _tabular_files(candidates: list[Path], spec: str, what: str, base: Path, quiet: bool = False) -> _Found:
    files = [p for p in candidates if tabular_format(p) and not p.name.startswith(".")]
    others = [p.name for p in candidates if not tabular_format(p) and not p.name.startswith(".")]
    if not files and not quiet:
        raise DataError(f"{what} {spec} matches no tabular file ({_FORMATS_HINT})")
    are = "is" if len(others) == 1 else "are"
    notes = [f"ignoring {count(len(others), 'file')} that {are} not tabular: {listed(others)}"] if others else []
    roles = {f.resolve(): _role(f, base) for f in files}
    return _Found(list(roles), notes, roles)


def _role(path: Path, base: Path) -> tuple[Optional[str], str]:
    """``(split, shown name)`` of a file below ``base``: its first folder named train, test or validation
    (``valid``, ``dev``), else its name's prefix (Hugging Face: ``train-00000-of-00001.parquet``)."""
    try:
        inner = path.relative_to(base)
    except ValueError:
        inner = Path(path.name)
    for part in inner.parts[:-1]:
        if part.lower() in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[part.lower()], str(inner)
    prefix = next((p for p in ("train", "test", *NOT_SPLIT_FILES) if path.name.lower().startswith(p)), None)
    return SPLIT_FOLDERS.get(prefix or ""), str(inner)


def _split_by_role(found: _Found, spec: str, notes: list[str]) -> tuple[list[Path], list[Path], list[str]]:
    """``(train, test, notes)``: the files in train/ and test/ folders or named train*/test*, when any is."""
    roles = found.roles or {}
    train = [f for f in found.files if roles[f][0] == "train"]
    test = [f for f in found.files if roles[f][0] == "test"]
    if not train and not test:
        return found.files, [], notes
    if not train:
        raise DataError(
            f"data path {spec} holds test files ({listed(roles[f][1] for f in test)}) but no train* file: name the "
            "training files train* (or put them in train/), or pass them as --data and the test files as --test-data"
        )
    rest = [f for f in found.files if f not in train and f not in test]
    if rest:
        kind = "validation" if all(roles[f][0] == "validation" for f in rest) else "neither train* nor test*"
        notes = notes + [f"ignoring {count(len(rest), 'file')} ({kind}): {listed(roles[f][1] for f in rest)}"]
    return train, test, notes
