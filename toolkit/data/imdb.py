"""The IMDB reviews encoded: train and test splits of token ids, labels and review ids, the vocabulary
(built from the training split only), and a cache of the encoded arrays.

Encoded arrays are cached under ``<cache>/encoded/``, keyed by the source's sha256 and the settings
that change the encoding, so a second load skips tokenisation. ``DataConfig.source == "keras"``
reads ``keras.datasets.imdb`` instead (the tutorial's exact, pre-tokenised data) from
``$KERAS_HOME/datasets/imdb.npz`` (default ``~/.keras``). Where the reviews come from: ``sources``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from toolkit.config import IMDB_CLASSES, DataConfig
from toolkit.core.errors import DataError, VocabularyError
from toolkit.core.progress import log
from toolkit.data.sources import LABEL_FOLDERS, Review, keras_home, read_reviews, resolve_source, source_sha256
from toolkit.edge.text import TOKENIZER_VERSION, Vocabulary, pad_sequences

CACHE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # int32 [n, maxlen] token ids
    y: np.ndarray  # int32 [n] class index into LabelledData.classes (IMDB: 0 = negative, 1 = positive)
    review_ids: np.ndarray  # str [n] review identifiers such as "pos/123_8" ("keras/<n>" for the keras source)

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
    classes: tuple[str, ...] = IMDB_CLASSES  # class names; Split.y indexes them
    validation: Optional[Split] = None  # held out of the training split (DataConfig.validation_fraction)

    def summary(self) -> str:
        splits = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        counts = ", ".join(f"{name} {len(s):,} ({self.class_counts(s)})" for name, s in splits if s is not None)
        cached = " [encoded arrays from cache]" if self.from_cache else ""
        invalid = f"{self.invalid_utf8} not valid UTF-8 (decoded with replacement)"
        return f"reviews: {counts} from {self.source}; {invalid}{cached}"

    def class_counts(self, split: Split, shown: int = 5) -> str:
        """``20 neg / 21 pos`` for IMDB; ``12 a / 30 b / ...`` (the first ``shown`` classes) otherwise."""
        names = ("neg", "pos") if self.classes == IMDB_CLASSES else self.classes
        counts = np.bincount(split.y, minlength=len(names))
        parts = [f"{int(c):,} {n}" for n, c in zip(names[:shown], counts)]
        more = f" / ... ({len(names) - shown:,} more classes)" if len(names) > shown else ""
        return " / ".join(parts) + more


def load_imdb(cfg: DataConfig = DataConfig()) -> ImdbData:
    """Encoded train/test splits, labels and the vocabulary, as ``cfg`` asks."""
    if cfg.source == "keras":
        return _load_keras(cfg)
    source = resolve_source(cfg)
    source_sha = source_sha256(source)
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
            review_ids=np.array([rid for rid, _, _ in items], dtype=str),
        )
        for name, items in raw.items()
    }
    data = ImdbData(splits["train"], splits["test"], vocab, str(source), source_sha, invalid, from_cache=False)
    _write_cache(cache_file, data)
    return data


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
                f"--limit {cfg.limit:,} needs {count:,} {LABEL_FOLDERS[label]} {split} reviews, "
                f"the data has {len(pool):,}"
            )
        keep = np.sort(rng.permutation(len(pool))[:count])
        chosen.extend(pool[i] for i in keep)
    return chosen


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
                ids_train=data.train.review_ids,
                x_test=data.test.x,
                y_test=data.test.y,
                ids_test=data.test.review_ids,
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
            return ImdbData(train, test, vocab, "", meta["source_sha256"], meta["invalid_utf8"], from_cache=True)
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        RecursionError,
        zipfile.BadZipFile,
        VocabularyError,
    ) as exc:
        log(f"warning: ignoring unreadable cache file {path} ({exc}); rebuilding it from the reviews")
        return None


def _load_keras(cfg: DataConfig) -> ImdbData:
    """``keras.datasets.imdb.load_data(num_words=...)`` + the same padding as the aclimdb source."""
    home = keras_home()
    npz = home / "datasets" / "imdb.npz"
    if not npz.is_file():
        raise DataError(f"{npz} not found: place keras' imdb.npz there (or set KERAS_HOME), or use the aclimdb source")
    from toolkit._tf import keras

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
            review_ids=np.array([f"keras/{rid}" for rid, _, _ in items], dtype=str),
        )
    vocab = _keras_vocabulary(home, cfg)
    return ImdbData(splits["train"], splits["test"], vocab, str(npz), source_sha256(npz), 0, from_cache=False)


def _keras_vocabulary(home: Path, cfg: DataConfig) -> Optional[Vocabulary]:
    """The words behind keras' ids, from ``imdb_word_index.json`` when it is on disk (rank r -> id r + 3)."""
    index_file = home / "datasets" / "imdb_word_index.json"
    if not index_file.is_file():
        log(f"note: {index_file} not found; the run will have no vocab.json (raw-text prediction needs one)")
        return None
    try:  # someone else's file: a table of word -> whole-number rank, or a one-line error
        ranks = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DataError(f"{index_file} is not a readable word index ({type(exc).__name__}): delete it") from None
    if not isinstance(ranks, dict) or not all(isinstance(r, int) and not isinstance(r, bool) for r in ranks.values()):
        raise DataError(f"{index_file} is not a table of words and whole-number ranks: delete it")
    words = [""] * (cfg.num_words - 3)  # id 3 is never used by keras (ranks start at 1)
    for word, rank in ranks.items():
        if 1 <= rank <= cfg.num_words - 4:
            words[rank] = word
    return Vocabulary(tuple(words), cfg.num_words, cfg.maxlen)
