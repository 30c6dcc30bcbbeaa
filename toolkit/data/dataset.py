"""The labelled text encoded: train and test splits (and a validation split when asked) of token ids,
class indexes and review ids, the class names, the vocabulary (built from the training split only),
loaded from aclImdb, keras' imdb.npz or the user's tabular files.

Encoded arrays are cached (``cache``), so a second load skips reading and tokenisation.
``DataConfig.source == "keras"`` reads ``keras.datasets.imdb`` instead (``keras_imdb``). Where the
reviews come from: ``sources`` (aclImdb), ``files`` and ``tabular`` (the user's CSV, JSON lines or
Parquet files); classes, hold-outs and subsets: ``splits``; the types: ``encoded``.

For tabular data ``--limit N`` takes at most N rows per split (train and test), seeded: ``N // K`` of
each of the K classes, the remainder to the first classes, a class with fewer rows giving what it
has (N below K is an error: a class without rows would be an output never trained). The validation
split is then held out of the (limited) training split, for every source. A load from the cache logs
the lines of the first (``TabularRows.notes``, the hold-outs and the classes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from toolkit.config import IMDB_CLASSES, DataConfig
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.data.cache import cache_path, read_cache, write_cache
from toolkit.data.encoded import LabelledData, Split
from toolkit.data.files import TabularSource, find_tabular
from toolkit.data.keras_imdb import load_keras
from toolkit.data.lines import say
from toolkit.data.prepared import check_finished, is_prepared, load_prepared
from toolkit.data.sources import Review, raw_reviews, read_reviews, resolve_source, source_sha256
from toolkit.data.splits import (
    DEFAULT_TEST_FRACTION,
    TEST_SALT,
    balanced,
    check_test_labels,
    class_order,
    hold_out,
    per_class,
    percent,
    subset,
    with_validation,
)
from toolkit.data.tabular import read_tabular
from toolkit.edge.text import Vocabulary


def load_data(cfg: DataConfig = DataConfig()) -> LabelledData:
    """Encoded train/test (and validation) splits, class names and the vocabulary, as ``cfg`` asks."""
    if cfg.source == "keras":
        _refuse_tabular_settings(cfg, "keras.datasets.imdb")
        return load_keras(cfg)
    if cfg.path and is_prepared(cfg.path):  # toolkit prepare's shards, read into memory
        return load_prepared(cfg.path, stream_train=False)
    if cfg.path:
        check_finished(cfg.path)
    tabular = find_tabular(cfg)
    if tabular is not None:
        return _load_tabular(cfg, tabular)
    _refuse_tabular_settings(cfg, "the aclImdb data")
    source = resolve_source(cfg)
    source_sha = source_sha256(source)
    cache_file = cache_path(cfg, source_sha)
    cached = read_cache(cache_file)
    if cached is not None:
        return replace(cached[0], source=str(source))

    log(f"reading reviews from {source} ...")
    raw, invalid = read_reviews(source)
    raw = {split: subset(items, cfg, split) for split, items in raw.items()}
    data = _encode(with_validation(raw, cfg), IMDB_CLASSES, cfg, str(source), source_sha, invalid)
    write_cache(cache_file, data)
    return data


def raw_texts(cfg: DataConfig) -> dict[str, dict[str, str]]:
    """The raw text of every review, ``{split: {review id: text}}``, for every source with text:
    ``sources.raw_reviews`` for aclImdb, the rows of tabular data (after their splits and limit)."""
    tabular = find_tabular(cfg) if cfg.source == "aclimdb" else None
    if tabular is None:
        return raw_reviews(cfg)
    reviews, _, _ = _tabular_reviews(cfg, tabular)
    return {split: {rid: text for rid, _, text in items} for split, items in reviews.items()}


def _load_tabular(cfg: DataConfig, tabular: TabularSource) -> LabelledData:
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
        "notes": 2,  # 2: every log line of a first load in the notes (older entries lack some)
    }
    cache_file = cache_path(cfg, source_sha, "tabular", settings)
    cached = read_cache(cache_file)
    if cached is not None:  # the lines of the first load: the files found (this path's), then the rows'
        for note in tabular.notes + tuple(cached[1]):
            log(note)
        return replace(cached[0], source=tabular.spec)
    reviews, classes, notes = _tabular_reviews(cfg, tabular)
    data = _encode(reviews, classes, cfg, tabular.spec, source_sha, None)  # bad UTF-8 rows: skipped
    write_cache(cache_file, data, notes)
    return data


def _tabular_reviews(cfg: DataConfig, tabular: TabularSource) -> tuple[dict[str, list[Review]], tuple[str, ...], list]:
    """``({split: reviews}, class names, notes)`` of tabular files: read, the test split (held out when
    the data has none), class order, limit, validation split."""
    rows = read_tabular(tabular, cfg)
    notes = list(rows.notes)
    where = tabular.spec
    classes = class_order([r.label for r in rows.train], cfg.labels, where)
    if cfg.limit is not None and cfg.limit < len(classes):  # a class with no row: an output never trained
        raise DataError(
            f"--limit {cfg.limit:,} is fewer than the {len(classes):,} classes: use at least {len(classes):,}"
        )
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
        say(
            notes,
            f"{how}: holding out {percent(fraction)} of the rows (seeded, stratified by class) as the test set{tail}",
        )
    else:
        check_test_labels([r.label for r in rows.test], classes, where)
        test = [(r.review_id, index[r.label], r.text) for r in rows.test]
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes) - 10:,} more)" if len(classes) > 10 else "")
    say(notes, f"{len(classes):,} classes: {shown}")
    reviews = {"train": train, "test": test}
    if cfg.limit is not None:
        counts = per_class(cfg.limit, len(classes))
        reviews = {
            s: [items[i] for i in sorted(balanced([r[1] for r in items], counts, cfg.seed))]
            for s, items in reviews.items()
        }
    return with_validation(reviews, cfg, notes), classes, notes


def _encode(
    raw: dict[str, list[Review]],
    classes: tuple[str, ...],
    cfg: DataConfig,
    source: str,
    source_sha: str,
    invalid: Optional[int],
) -> LabelledData:
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
    return LabelledData(
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
        "--test-data": cfg.test_path,
        "--test-fraction": cfg.test_fraction,
        "--labels": cfg.labels,
    }
    given = [flag for flag, value in flags.items() if value is not None]
    if given:
        raise DataError(
            f"{', '.join(given)} only apply to tabular data files (.csv, .tsv, .jsonl, .json, .parquet); "
            f"{what} has its own labels and test split"
        )


# the names before user data
load_imdb = load_data
ImdbData = LabelledData
