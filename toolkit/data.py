"""IMDB reviews: find them, read them, encode them, cache the encoded arrays.

Sources, first match wins (``DataConfig.source == "aclimdb"``):

1. ``DataConfig.path``: the official ``aclImdb_v1.tar.gz``, the smaller
   ``aclImdb_v1_train_test.tar.gz`` (no ``train/unsup``), or an extracted ``aclImdb/`` folder;
2. the environment variable ``TOOLKIT_DATA`` (same kinds of path);
3. the cache folder (``~/.cache/toolkit``; ``TOOLKIT_CACHE`` or ``DataConfig.cache_dir`` override it)
   holding one of those;
4. a download of the official tarball into the cache (progress bar, sha256 check, atomic rename).

Labels come from the ``pos``/``neg`` folder; ``train/unsup`` is ignored. The vocabulary is built from
the training split only. Encoded arrays are cached under ``<cache>/encoded/``, keyed by the source's
sha256 and the settings that change the encoding, so a second load skips tokenisation.

``DataConfig.source == "keras"`` reads ``keras.datasets.imdb`` instead (the tutorial's exact,
pre-tokenised data) from ``$KERAS_HOME/datasets/imdb.npz`` (default ``~/.keras``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from .config import DataConfig
from .errors import DataError
from .files import sha256_file
from .progress import Progress, log
from .text import TOKENIZER_VERSION, Vocabulary, VocabularyError, pad_sequences

SPLITS = ("train", "test")
LABELS = ("neg", "pos")  # label 0, label 1
CACHE_FORMAT_VERSION = 1
_MEMBER_RE = re.compile(r"^(?:\./)?(?:.*/)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_HINT = "pass the aclImdb_v1.tar.gz tarball or an extracted aclImdb/ folder"
MAX_REVIEW_BYTES = 1_000_000  # the longest IMDB review is about 14 KB


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # int32 [n, maxlen] token ids
    y: np.ndarray  # int32 [n] 0 = negative, 1 = positive
    ids: np.ndarray  # str [n] review ids such as "pos/123_8" ("" for the keras source)

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class ImdbData:
    train: Split
    test: Split
    vocabulary: Optional[Vocabulary]  # None for the keras source without its word index
    source: str  # where the reviews came from
    source_sha256: str
    invalid_utf8: int  # reviews whose bytes were not UTF-8 (decoded with replacement)
    from_cache: bool

    def summary(self) -> str:
        counts = ", ".join(
            f"{name} {len(s):,} ({int((s.y == 0).sum()):,} neg / {int((s.y == 1).sum()):,} pos)"
            for name, s in (("train", self.train), ("test", self.test))
        )
        cached = " [encoded arrays from cache]" if self.from_cache else ""
        return f"reviews: {counts} from {self.source}; {self.invalid_utf8} not valid UTF-8 (decoded with replacement){cached}"


# --- public entry point ----------------------------------------------------------------------
def load_imdb(cfg: DataConfig = DataConfig()) -> ImdbData:
    """Encoded train/test splits, labels and the vocabulary, as ``cfg`` asks."""
    if cfg.source == "keras":
        return _load_keras(cfg)
    source = resolve_source(cfg)
    source_sha = _source_sha256(source)
    cache_file = _cache_path(cfg, source_sha)
    cached = _read_cache(cache_file)
    if cached is not None:
        return replace(cached, source=str(source))

    log(f"reading reviews from {source} ...")
    raw, invalid = read_reviews(source)
    raw = {split: _subset(items, cfg, split) for split, items in raw.items()}
    log(f"tokenising {sum(len(v) for v in raw.values()):,} reviews (vocabulary from the training split) ...")
    vocab = Vocabulary.build((text for _, _, text in raw["train"]), cfg.num_words, cfg.maxlen)
    splits = {
        name: Split(
            x=vocab.encode(text for _, _, text in items),
            y=np.array([label for _, label, _ in items], dtype=np.int32),
            ids=np.array([rid for rid, _, _ in items], dtype=str),
        )
        for name, items in raw.items()
    }
    data = ImdbData(splits["train"], splits["test"], vocab, str(source), source_sha, invalid, from_cache=False)
    _write_cache(cache_file, data)
    return data


# --- finding the reviews -----------------------------------------------------------------------
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


# --- reading raw reviews -------------------------------------------------------------------------
Review = tuple[str, int, str]  # (id such as "pos/123_8", label, text)


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
        lab = LABELS.index(label)
        found[split].append(((lab, int(num)), (f"{label}/{num}_{rating}", lab, text)))

    if source.is_dir():
        root = source if (source / "train").is_dir() else source / "aclImdb"
        for split in SPLITS:
            for label in LABELS:
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
        for label in LABELS:
            if not any(r[1] == LABELS.index(label) for _, r in found[split]):
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
    checked on); ``cfg``'s source, all reviews (``--limit`` subsets pick theirs by id)."""
    if cfg.source != "aclimdb":
        raise DataError("the raw review text is only in the aclImdb sources, not in keras.datasets.imdb")
    log("reading the raw reviews ...")
    raw, _ = read_reviews(resolve_source(cfg))
    return {split: {rid: text for rid, _, text in items} for split, items in raw.items()}


def _subset(items: list[Review], cfg: DataConfig, split: str) -> list[Review]:
    """A class-balanced, seeded subset of ``cfg.limit`` reviews (all of them when limit is None)."""
    if cfg.limit is None:
        return items
    if cfg.limit > len(items):
        raise DataError(
            f"--limit {cfg.limit:,} is larger than the data ({len(items):,} {split} reviews): use a smaller limit"
        )
    rng = np.random.default_rng(cfg.seed)
    chosen: list[Review] = []
    for label, count in ((0, cfg.limit // 2), (1, cfg.limit - cfg.limit // 2)):
        pool = [r for r in items if r[1] == label]
        if count > len(pool):
            raise DataError(
                f"--limit {cfg.limit:,} needs {count:,} {LABELS[label]} {split} reviews, the data has {len(pool):,}"
            )
        keep = np.sort(rng.permutation(len(pool))[:count])
        chosen.extend(pool[i] for i in keep)
    return chosen


# --- the encoded-array cache -------------------------------------------------------------------
def _source_sha256(source: Path) -> str:
    digest = hashlib.sha256()
    if source.is_dir():  # a folder: hash names, sizes and modification times of the reviews
        for path in sorted(source.rglob("*.txt")):
            st = path.lstat()  # links are judged when the reviews are read
            digest.update(f"{path.relative_to(source)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()
    return sha256_file(source)


def _cache_path(cfg: DataConfig, source_sha: str) -> Path:
    key = {
        "cache_format": CACHE_FORMAT_VERSION,
        "tokenizer": TOKENIZER_VERSION,
        "source_sha256": source_sha,
        "num_words": cfg.num_words,
        "maxlen": cfg.maxlen,
        "limit": cfg.limit,
        "seed": cfg.seed if cfg.limit is not None else None,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cfg.resolved_cache_dir / "encoded" / f"imdb-{digest}.npz"


def _write_cache(path: Path, data: ImdbData) -> None:
    tmp: Optional[str] = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                x_train=data.train.x,
                y_train=data.train.y,
                ids_train=data.train.ids,
                x_test=data.test.x,
                y_test=data.test.y,
                ids_test=data.test.ids,
                vocabulary=np.array(data.vocabulary.to_json()),
                meta=np.array(json.dumps({"source_sha256": data.source_sha256, "invalid_utf8": data.invalid_utf8})),
            )
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs speed
        log(f"warning: could not write the encoded-data cache {path}: {exc}")
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def _read_cache(path: Path) -> Optional[ImdbData]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            vocab = Vocabulary.from_json(str(z["vocabulary"]))
            train = Split(z["x_train"], z["y_train"], z["ids_train"])
            test = Split(z["x_test"], z["y_test"], z["ids_test"])
    except (OSError, ValueError, KeyError, VocabularyError) as exc:
        log(f"warning: ignoring unreadable cache file {path} ({exc})")
        return None
    return ImdbData(train, test, vocab, "", meta["source_sha256"], meta["invalid_utf8"], from_cache=True)


# --- keras.datasets.imdb -----------------------------------------------------------------------
def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _load_keras(cfg: DataConfig) -> ImdbData:
    """``keras.datasets.imdb.load_data(num_words=...)`` + the same padding as the aclimdb source."""
    home = keras_home()
    npz = home / "datasets" / "imdb.npz"
    if not npz.is_file():
        raise DataError(f"{npz} not found: place keras' imdb.npz there (or set KERAS_HOME), or use the aclimdb source")
    from ._tf import keras  # TensorFlow only for this source

    try:
        (x_tr, y_tr), (x_te, y_te) = keras.datasets.imdb.load_data(num_words=cfg.num_words, cache_dir=str(home))
    except Exception as exc:  # keras wraps download/hash/np.load failures in many types
        raise DataError(f"keras.datasets.imdb could not load {npz}: {exc}") from None
    splits = {}
    for name, xs, ys in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        items = [(str(i), int(lab), seq) for i, (seq, lab) in enumerate(zip(xs, ys))]
        items = _subset(items, cfg, name)
        splits[name] = Split(
            x=pad_sequences([seq for _, _, seq in items], cfg.maxlen),
            y=np.array([lab for _, lab, _ in items], dtype=np.int32),
            ids=np.array([f"keras/{rid}" for rid, _, _ in items], dtype=str),
        )
    vocab = _keras_vocabulary(home, cfg)
    return ImdbData(splits["train"], splits["test"], vocab, str(npz), _source_sha256(npz), 0, from_cache=False)


def _keras_vocabulary(home: Path, cfg: DataConfig) -> Optional[Vocabulary]:
    """The words behind keras' ids, from ``imdb_word_index.json`` when it is on disk (rank r -> id r + 3)."""
    index_file = home / "datasets" / "imdb_word_index.json"
    if not index_file.is_file():
        log(f"note: {index_file} not found; the run will have no vocab.json (raw-text prediction needs one)")
        return None
    ranks = json.loads(index_file.read_text(encoding="utf-8"))
    words = [""] * (cfg.num_words - 3)  # id 3 is never used by keras (ranks start at 1)
    for word, rank in ranks.items():
        if 1 <= rank <= cfg.num_words - 4:
            words[rank] = word
    return Vocabulary(tuple(words), cfg.num_words, cfg.maxlen)
