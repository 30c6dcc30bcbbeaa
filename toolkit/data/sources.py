"""Where the IMDB reviews come from, and reading them raw.

Sources, first match wins (``DataConfig.source == "aclimdb"``):

1. ``DataConfig.path``: the official ``aclImdb_v1.tar.gz``, the smaller
   ``aclImdb_v1_train_test.tar.gz`` (no ``train/unsup``), or an extracted ``aclImdb/`` folder
   (tabular files, a folder of them or a glob are found by ``files`` and read by ``tabular`` instead);
2. the environment variable ``TOOLKIT_DATA`` (same kinds of path);
3. the cache folder (``~/.cache/toolkit``; ``TOOLKIT_CACHE`` or ``DataConfig.cache_dir`` override it)
   holding one of those;
4. a download of the official tarball into the cache (progress bar, sha256 check, atomic rename).

Labels come from the ``pos``/``neg`` folder (``LABEL_FOLDERS``); ``train/unsup`` is ignored. Review
files are untrusted: regular files only, links must stay inside the data folder, at most
``MAX_REVIEW_BYTES`` each.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from toolkit.config import SPLITS, DataConfig
from toolkit.core.errors import DataError
from toolkit.core.files import sha256_file
from toolkit.core.progress import Progress, log

LABEL_FOLDERS = ("neg", "pos")  # the aclImdb folder of label 0 and label 1
_MEMBER_RE = re.compile(r"^(?:\./)?(?:.*/)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_HINT = (
    "pass the aclImdb_v1.tar.gz tarball, an extracted aclImdb/ folder, or tabular files (.csv, .tsv, .jsonl, "
    ".json, .parquet: a file, a folder of them or a glob)"
)
MAX_REVIEW_BYTES = 1_000_000  # the longest IMDB review is about 14 KB
Review = tuple[str, int, str]  # (review id such as "pos/123_8", label, text)


def resolve_source(cfg: DataConfig) -> Path:
    """The tarball or folder to read, downloading the official tarball as a last resort."""
    if cfg.path:
        return _existing(Path(cfg.path), "data path")
    if os.environ.get("TOOLKIT_DATA"):
        return _existing(Path(os.environ["TOOLKIT_DATA"]), "TOOLKIT_DATA")
    cache = cfg.resolved_cache_dir
    for name in ("aclImdb_v1.tar.gz", "aclImdb_v1_train_test.tar.gz", "aclImdb"):
        if (cache / name).exists():
            return cache / name
    if not cfg.download:
        raise DataError(
            f"no IMDB reviews found: pass --data PATH, set TOOLKIT_DATA, or put aclImdb_v1.tar.gz in {cache}"
        )
    return download(cfg.url, cache / "aclImdb_v1.tar.gz", cfg.sha256)


def _existing(path: Path, what: str) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise DataError(f"{what} {path} does not exist: {_HINT}")
    if not (path.is_file() or path.is_dir()):  # a FIFO or a device such as /dev/zero: reading would hang
        raise DataError(f"{what} {path} is not a regular file or a folder: {_HINT}")
    return path.resolve()


def download(url: str, dest: Path, sha256: str) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``; verify sha256; rename. Nothing partial stays."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log(f"downloading {url} -> {dest}")
    try:
        digest, received = hashlib.sha256(), 0
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = Progress(total, "download", unit="B")
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(received)
            bar.close()
        if total and received != total:
            raise DataError(f"download of {url} was interrupted ({received:,} of {total:,} bytes): run again to retry")
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256}; "
                "the partial file was removed, run again or pass --data with a local copy"
            )
        os.replace(part, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DataError(
            f"could not download {url} ({exc}): check the network, or pass --data with a local copy"
        ) from None
    finally:
        part.unlink(missing_ok=True)
    return dest


def read_reviews(source: Path) -> tuple[dict[str, list[Review]], int]:
    """All labelled reviews per split, sorted by (label, numeric id); and the non-UTF-8 count."""
    found: dict[str, list[tuple[tuple[int, int], Review]]] = {s: [] for s in SPLITS}
    invalid = 0

    def add(split: str, label: str, num: str, rating: str, payload: bytes) -> None:
        nonlocal invalid
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = payload.decode("utf-8", errors="replace")
            invalid += 1
        lab = LABEL_FOLDERS.index(label)
        found[split].append(((lab, int(num)), (f"{label}/{num}_{rating}", lab, text)))

    if source.is_dir():
        root = source if (source / "train").is_dir() else source / "aclImdb"
        for split in SPLITS:
            for label in LABEL_FOLDERS:
                folder = root / split / label
                if not folder.is_dir():
                    continue
                for f in folder.iterdir():
                    m = re.fullmatch(r"(\d+)_(\d+)\.txt", f.name)
                    if m:
                        add(split, label, m[1], m[2], _read_review_file(f, source))
    else:
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    m = _MEMBER_RE.match(member.name)
                    if m and member.isfile():
                        if member.size > MAX_REVIEW_BYTES:
                            raise DataError(
                                f"{source}: {member.name} is {member.size:,} bytes, more than a review can be "
                                f"({MAX_REVIEW_BYTES:,}): {_HINT}"
                            )
                        add(m[1], m[2], m[3], m[4], tar.extractfile(member).read())
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{source} is not a readable tar archive ({exc}): {_HINT}") from None

    for split in SPLITS:
        for label in LABEL_FOLDERS:
            if not any(r[1] == LABEL_FOLDERS.index(label) for _, r in found[split]):
                raise DataError(f"{source} has no reviews in aclImdb/{split}/{label}: {_HINT}")
    return {s: [r for _, r in sorted(items)] for s, items in found.items()}, invalid


def _read_review_file(f: Path, source: Path) -> bytes:
    """A review file's bytes: a regular file inside the data folder (a symlink may point elsewhere in it,
    never outside: its words would end up in a shared vocab.json), at most ``MAX_REVIEW_BYTES``."""
    try:
        target = f.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DataError(f"{f} is a broken link: {_HINT}") from None
    if not target.is_relative_to(source.resolve()):
        raise DataError(f"{f} links outside the data folder ({target}): refusing to read it")
    if not target.is_file():
        raise DataError(f"{f} is named like a review but is not a regular file: {_HINT}")
    size = target.stat().st_size
    if size > MAX_REVIEW_BYTES:
        raise DataError(f"{f} is {size:,} bytes, more than a review can be ({MAX_REVIEW_BYTES:,}): {_HINT}")
    try:
        return target.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {f}: {exc.strerror or exc}") from None


def raw_reviews(cfg: DataConfig) -> dict[str, dict[str, str]]:
    """The raw text of every review, ``{split: {review id: text}}`` (what the in-graph preprocessing is
    checked on); ``cfg``'s source, all reviews (``--limit`` subsets pick theirs by id). aclImdb only:
    ``dataset.raw_texts`` covers tabular files too."""
    if cfg.source != "aclimdb":
        raise DataError("the raw review text is only in the aclImdb sources, not in keras.datasets.imdb")
    log("reading the raw reviews ...")
    raw, _ = read_reviews(resolve_source(cfg))
    return {split: {rid: text for rid, _, text in items} for split, items in raw.items()}


def source_sha256(source: Path) -> str:
    digest = hashlib.sha256()
    if source.is_dir():  # a folder: hash names, sizes and modification times of the reviews
        for path in sorted(source.rglob("*.txt")):
            st = path.lstat()  # links are judged when the reviews are read
            digest.update(f"{path.relative_to(source)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()
    return sha256_file(source)


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
