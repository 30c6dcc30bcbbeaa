"""The reviews encoded: train and test splits (and a validation split when asked) of token ids, class
indexes and review ids, the class names, the vocabulary (built from the training split only), and a
cache of the encoded arrays.

Encoded arrays are cached under ``<cache>/encoded/``, keyed by the source's sha256 and the settings
that change the result, so a second load skips reading and tokenisation. ``DataConfig.source ==
"keras"`` reads ``keras.datasets.imdb`` instead (the tutorial's exact, pre-tokenised data) from
``$KERAS_HOME/datasets/imdb.npz`` (default ``~/.keras``). Where the reviews come from: ``sources``
(aclImdb) and ``tabular`` (the user's CSV, JSON lines or Parquet files); classes, hold-outs and
subsets: ``splits``.

For tabular data ``--limit N`` takes at most N rows per split (train and test), seeded: ``N // K`` of
each of the K classes, the remainder to the first classes, a class with fewer rows giving what it
has. The validation split is then held out of the (limited) training split, for every source.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from toolkit.config import IMDB_CLASSES, DataConfig
from toolkit.core.errors import DataError, VocabularyError
from toolkit.core.progress import log
from toolkit.data.sources import (
    LABEL_FOLDERS,
    Review,
    keras_home,
    raw_reviews,
    read_reviews,
    resolve_source,
    source_sha256,
)
from toolkit.data.splits import (
    DEFAULT_TEST_FRACTION,
    TEST_SALT,
    balanced,
    check_test_labels,
    class_order,
    hold_out,
    hold_out_validation,
    per_class,
    percent,
)
from toolkit.data.tabular import TabularSource, find_tabular, read_tabular
from toolkit.edge.text import TOKENIZER_VERSION, Vocabulary, pad_sequences

# 2: class names, a validation split and notes in the cache; tabular sources
CACHE_FORMAT_VERSION = 2


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
    """Encoded train/test (and validation) splits, class names and the vocabulary, as ``cfg`` asks."""
    if cfg.source == "keras":
        _refuse_tabular_settings(cfg, "keras.datasets.imdb")
        return _load_keras(cfg)
    tabular = find_tabular(cfg)
    if tabular is not None:
        return _load_tabular(cfg, tabular)
    _refuse_tabular_settings(cfg, "the aclImdb data")
    source = resolve_source(cfg)
    source_sha = source_sha256(source)
    cache_file = _cache_path(cfg, source_sha)
    cached = _read_cache(cache_file)
    if cached is not None:
        return replace(cached[0], source=str(source))

    log(f"reading reviews from {source} ...")
    raw, invalid = read_reviews(source)
    raw = {split: _subset(items, cfg, split) for split, items in raw.items()}
    data = _encode(_with_validation(raw, cfg), IMDB_CLASSES, cfg, str(source), source_sha, invalid)
    _write_cache(cache_file, data)
    return data


def raw_texts(cfg: DataConfig) -> dict[str, dict[str, str]]:
    """The raw text of every review, ``{split: {review id: text}}``, for every source with text:
    ``sources.raw_reviews`` for aclImdb, the rows of tabular data (after their splits and limit)."""
    tabular = find_tabular(cfg) if cfg.source == "aclimdb" else None
    if tabular is None:
        return raw_reviews(cfg)
    reviews, _, _ = _tabular_reviews(cfg, tabular)
    return {split: {rid: text for rid, _, text in items} for split, items in reviews.items()}


def _load_tabular(cfg: DataConfig, tabular: TabularSource) -> ImdbData:
    source_sha, files = tabular.fingerprint()
    settings = {
        "files": files,
        "text_column": cfg.text_column,
        "label_column": cfg.label_column,
        "split_column": cfg.split_column,
        "test_fraction": cfg.test_fraction,
        "labels": cfg.labels,
        "strict": cfg.strict,
        "seed": cfg.seed,  # a held-out test set depends on it too
    }
    cache_file = _cache_path(cfg, source_sha, "tabular", settings)
    cached = _read_cache(cache_file)
    if cached is not None:
        for note in cached[1]:
            log(note)
        return replace(cached[0], source=tabular.spec)
    reviews, classes, notes = _tabular_reviews(cfg, tabular)
    data = _encode(reviews, classes, cfg, tabular.spec, source_sha, 0)
    _write_cache(cache_file, data, notes)
    return data


def _tabular_reviews(cfg: DataConfig, tabular: TabularSource) -> tuple[dict[str, list[Review]], tuple[str, ...], list]:
    """``({split: reviews}, class names, notes)`` of tabular files: read, the test split (held out when
    the data has none), class order, limit, validation split."""
    rows = read_tabular(tabular, cfg)
    notes = list(rows.notes)
    where = tabular.spec
    classes = class_order([r.label for r in rows.train], cfg.labels, where)
    index = {name: i for i, name in enumerate(classes)}
    train: list[Review] = [(r.review_id, index[r.label], r.text) for r in rows.train]
    if rows.test is None:
        fraction = cfg.test_fraction or DEFAULT_TEST_FRACTION
        train, test = hold_out(train, fraction, cfg.seed, TEST_SALT)
        if not test:
            raise DataError(
                f"{len(train):,} rows of {where} are too few to hold out {percent(fraction)} as the test set "
                "(each class keeps one training row): add rows or a test split"
            )
        how = "--test-fraction" if cfg.test_fraction else "no test split in the data"
        tail = "" if cfg.test_fraction else "; --test-fraction changes it"
        note = f"{how}: holding out {percent(fraction)} of the rows (seeded, stratified by class) as the test set{tail}"
        log(note)
        notes.append(note)
    else:
        check_test_labels([r.label for r in rows.test], classes, where)
        test = [(r.review_id, index[r.label], r.text) for r in rows.test]
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes) - 10:,} more)" if len(classes) > 10 else "")
    log(f"{len(classes):,} classes: {shown}")
    reviews = {"train": train, "test": test}
    if cfg.limit is not None:
        counts = per_class(cfg.limit, len(classes))
        reviews = {
            s: [items[i] for i in sorted(balanced([r[1] for r in items], counts, cfg.seed))]
            for s, items in reviews.items()
        }
    return _with_validation(reviews, cfg), classes, notes


def _with_validation(raw: dict[str, list[Review]], cfg: DataConfig) -> dict[str, list[Review]]:
    """``raw`` plus a ``validation`` split held out of its training split, when asked."""
    if not cfg.validation_fraction:
        return raw
    train, validation = hold_out_validation(raw["train"], cfg.validation_fraction, cfg.seed)
    log(
        f"holding out {percent(cfg.validation_fraction)} of the training reviews (seeded, stratified by class) "
        f"as the validation set: {len(validation):,}"
    )
    return {**raw, "train": train, "validation": validation}


def _encode(
    raw: dict[str, list[Review]],
    classes: tuple[str, ...],
    cfg: DataConfig,
    source: str,
    source_sha: str,
    invalid: int,
) -> ImdbData:
    """The reviews as token ids, with a vocabulary from the training split only."""
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
    return ImdbData(
        splits["train"],
        splits["test"],
        vocab,
        source,
        source_sha,
        invalid,
        from_cache=False,
        classes=classes,
        validation=splits.get("validation"),
    )


def _refuse_tabular_settings(cfg: DataConfig, what: str) -> None:
    """Tabular-only settings given for a source with its own columns, labels and test split."""
    flags = {
        "--text-column": cfg.text_column,
        "--label-column": cfg.label_column,
        "--split-column": cfg.split_column,
        "--test-path": cfg.test_path,
        "--test-fraction": cfg.test_fraction,
        "--labels": cfg.labels,
    }
    given = [flag for flag, value in flags.items() if value is not None]
    if given:
        raise DataError(
            f"{', '.join(given)} only apply to tabular data files (.csv, .tsv, .jsonl, .json, .parquet); "
            f"{what} has its own labels and test split"
        )


def _subset(items: list[Review], cfg: DataConfig, split: str) -> list[Review]:
    """A class-balanced, seeded subset of ``cfg.limit`` reviews (all of them when limit is None)."""
    if cfg.limit is None:
        return items
    if cfg.limit > len(items):
        raise DataError(
            f"--limit {cfg.limit:,} is larger than the data ({len(items):,} {split} reviews): use a smaller limit"
        )
    counts = (cfg.limit // 2, cfg.limit - cfg.limit // 2)
    for label, count in enumerate(counts):
        have = sum(1 for r in items if r[1] == label)
        if count > have:
            raise DataError(
                f"--limit {cfg.limit:,} needs {count:,} {LABEL_FOLDERS[label]} {split} reviews, the data has {have:,}"
            )
    return [items[i] for i in balanced([r[1] for r in items], counts, cfg.seed)]


def _cache_path(cfg: DataConfig, source_sha: str, prefix: str = "imdb", extra: Optional[dict] = None) -> Path:
    held_out = cfg.limit is not None or cfg.validation_fraction > 0
    key = {
        "cache_format": CACHE_FORMAT_VERSION,
        "tokenizer": TOKENIZER_VERSION,
        "source_sha256": source_sha,
        "num_words": cfg.num_words,
        "maxlen": cfg.maxlen,
        "limit": cfg.limit,
        "validation_fraction": cfg.validation_fraction,
        "seed": cfg.seed if held_out else None,
        **(extra or {}),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cfg.resolved_cache_dir / "encoded" / f"{prefix}-{digest}.npz"


def _write_cache(path: Path, data: ImdbData, notes: Sequence[str] = ()) -> None:
    """The encoded splits, classes and vocabulary, plus ``notes`` (log lines to repeat on a hit)."""
    tmp: Optional[str] = None
    splits = {"train": data.train, "test": data.test}
    if data.validation is not None:
        splits["validation"] = data.validation
    arrays = {}
    for name, split in splits.items():
        arrays.update({f"x_{name}": split.x, f"y_{name}": split.y, f"ids_{name}": split.review_ids})
    meta = {
        "source_sha256": data.source_sha256,
        "invalid_utf8": data.invalid_utf8,
        "classes": list(data.classes),
        "notes": list(notes),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, vocabulary=np.array(data.vocabulary.to_json()), meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs speed
        log(f"warning: could not write the encoded-data cache {path}: {exc}")
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def _read_cache(path: Path) -> Optional[tuple[ImdbData, list[str]]]:
    """``(the cached data, its notes)``, or None (missing or unreadable: rebuilt from the reviews)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            vocab = Vocabulary.from_json(str(z["vocabulary"]))
            train = Split(z["x_train"], z["y_train"], z["ids_train"])
            test = Split(z["x_test"], z["y_test"], z["ids_test"])
            validation = (
                Split(z["x_validation"], z["y_validation"], z["ids_validation"]) if "x_validation" in z else None
            )
            classes = tuple(str(c) for c in meta["classes"])
            data = ImdbData(
                train,
                test,
                vocab,
                "",
                meta["source_sha256"],
                meta["invalid_utf8"],
                from_cache=True,
                classes=classes,
                validation=validation,
            )
            return data, [str(n) for n in meta["notes"]]
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
    raw = {}
    for name, xs, ys in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        items = [(str(i), int(lab), seq) for i, (seq, lab) in enumerate(zip(xs, ys))]
        raw[name] = _subset(items, cfg, name)
    splits = {
        name: Split(
            x=pad_sequences([seq for _, _, seq in items], cfg.maxlen),
            y=np.array([lab for _, lab, _ in items], dtype=np.int32),
            review_ids=np.array([f"keras/{rid}" for rid, _, _ in items], dtype=str),
        )
        for name, items in _with_validation(raw, cfg).items()
    }
    vocab = _keras_vocabulary(home, cfg)
    sha = source_sha256(npz)
    validation = splits.get("validation")
    return ImdbData(splits["train"], splits["test"], vocab, str(npz), sha, 0, from_cache=False, validation=validation)


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
