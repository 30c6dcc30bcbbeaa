"""Classes and splits of labelled reviews, the same for every source: the class order, seeded stratified
hold-outs (a test set out of tabular rows without one, a validation set out of any training split) and
class-balanced subsets (``--limit``).

Items are tuples whose second element is the class index (``sources.Review``: ``(id, label, text)``;
the keras source's ``(id, label, token ids)``).

- **Class order**: ``DataConfig.labels`` when given, else sorted: numerically when every class name is
  an integer (``2`` before ``10``), otherwise as text.
- **Hold-outs** (:func:`hold_out`): ``round(fraction * n)`` items in all, shared out over the classes
  in proportion to their sizes (largest remainders first), each class keeping at least one item;
  which items of a class are held out is seeded (``seed`` and a salt per use, so the test and the
  validation hold-outs differ). Both parts keep the items' order.
- **Subsets** (:func:`balanced`): ``counts[c]`` seeded items of class ``c`` (a class with fewer gives
  what it has), class 0's first. :func:`subset` is ``--limit`` for aclImdb and the keras source (half
  of each class, an error when the data has too few); :func:`with_validation` the validation split.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence, TypeVar

import numpy as np

from toolkit.config import MAX_CLASSES, DataConfig
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.data.sources import LABEL_FOLDERS, Review

TEST_SALT, VALIDATION_SALT = 1, 2  # hold-outs of one seed that must not coincide
DEFAULT_TEST_FRACTION = 0.2  # of tabular rows without a test split
Item = TypeVar("Item", bound=tuple)
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def class_order(train_labels: Sequence[str], given: Optional[tuple[str, ...]], where: str) -> tuple[str, ...]:
    """The class names of the training rows' labels, in order; errors for fewer than two classes,
    more than ``MAX_CLASSES``, or a ``given`` class no training row has."""
    seen = set(train_labels)
    if given is not None:
        missing = [c for c in given if c not in seen]
        if missing:
            raise DataError(f"--labels names {_quoted(missing)}, which no training row of {where} has")
        classes = tuple(given)
    elif all(_INTEGER.fullmatch(c) for c in seen):
        classes = tuple(sorted(seen, key=int))
    else:
        classes = tuple(sorted(seen))
    if len(classes) < 2:
        raise DataError(
            f"the training rows of {where} hold one class only ({_quoted(classes)}): a classifier needs two or "
            "more; is --label-column the label?"
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"the training rows of {where} hold {len(classes):,} classes, more than {MAX_CLASSES:,}: "
            "is --label-column the label?"
        )
    return classes


def check_test_labels(test_labels: Sequence[str], classes: tuple[str, ...], where: str) -> None:
    """A one-line error for a test label that no training row has (the model could never predict it)."""
    known = set(classes)
    unseen: dict[str, int] = {}
    for label in test_labels:
        if label not in known:
            unseen[label] = unseen.get(label, 0) + 1
    if unseen:
        label, count = max(unseen.items(), key=lambda kv: kv[1])
        more = f" (and {len(unseen) - 1:,} more unseen labels)" if len(unseen) > 1 else ""
        raise DataError(
            f"{count:,} test rows of {where} have the label {label!r}, which no training row has{more}: "
            "a test label must be one of the training classes"
        )


def hold_out(items: list[Item], fraction: float, seed: int, salt: int) -> tuple[list[Item], list[Item]]:
    """``(kept, held out)``: a seeded, stratified ``fraction`` of ``items`` held out (see the module)."""
    labels = np.array([item[1] for item in items], dtype=np.int64)
    classes, sizes = np.unique(labels, return_counts=True)
    quotas = np.minimum(np.floor(fraction * sizes).astype(np.int64), sizes - 1)
    short = int(np.floor(fraction * len(items) + 0.5)) - int(quotas.sum())
    remainders = fraction * sizes - np.floor(fraction * sizes)
    for c in sorted(range(len(classes)), key=lambda c: (-remainders[c], c)):  # largest remainders first
        if short <= 0:
            break
        if quotas[c] < sizes[c] - 1:
            quotas[c] += 1
            short -= 1
    rng = np.random.default_rng([seed, salt])
    held = np.zeros(len(items), dtype=bool)
    pools = _pools(labels)
    for c, quota in zip(classes, quotas):
        pool = pools[int(c)]
        held[pool[rng.permutation(len(pool))[:quota]]] = True
    return [it for it, h in zip(items, held) if not h], [it for it, h in zip(items, held) if h]


def hold_out_validation(train: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """``(training, validation)``: ``fraction`` of the training items, seeded and stratified (never
    test items); an error when there are too few to hold any out."""
    kept, validation = hold_out(train, fraction, seed, VALIDATION_SALT)
    if not validation:
        raise DataError(
            f"{len(train):,} training reviews are too few to hold out {percent(fraction)} as a validation set "
            "(each class keeps one): use a larger --validation-fraction or more data"
        )
    return kept, validation


def with_validation(
    raw: dict[str, list[Review]], cfg: DataConfig, notes: Optional[list[str]] = None
) -> dict[str, list[Review]]:
    """``raw`` plus a ``validation`` split held out of its training split, when asked (its log line
    added to ``notes``, the lines a load from the cache repeats, when given)."""
    if not cfg.validation_fraction:
        return raw
    train, validation = hold_out_validation(raw["train"], cfg.validation_fraction, cfg.seed)
    line = (
        f"holding out {percent(cfg.validation_fraction)} of the training reviews (seeded, stratified by class) "
        f"as the validation set: {len(validation):,}"
    )
    log(line)
    if notes is not None:
        notes.append(line)
    return {**raw, "train": train, "validation": validation}


def balanced(labels: Sequence[int], counts: Sequence[int], seed: int) -> list[int]:
    """Indexes of a seeded subset of ``counts[c]`` items of each class ``c`` (fewer when a class has
    fewer), class by class, each class's in their order."""
    rng = np.random.default_rng(seed)
    pools = _pools(np.asarray(labels, dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    chosen: list[int] = []
    for label, count in enumerate(counts):
        pool = pools.get(label, empty)
        chosen.extend(int(pool[i]) for i in np.sort(rng.permutation(len(pool))[:count]))
    return chosen


def per_class(limit: int, num_classes: int) -> list[int]:
    """``limit`` shared out over the classes: ``limit // K`` each, the remainder to the first classes."""
    return [limit // num_classes + (1 if c < limit % num_classes else 0) for c in range(num_classes)]


def subset(items: list[Review], cfg: DataConfig, split: str) -> list[Review]:
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


def _pools(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Each class's item indexes, in order (one stable sort, not a pass per class: K can be 1,000)."""
    order = np.argsort(labels, kind="stable")
    classes, starts = np.unique(labels[order], return_index=True)
    return {int(c): part for c, part in zip(classes, np.split(order, starts[1:]))}


def percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _quoted(names: Sequence[str], shown: int = 10) -> str:
    more = f", ... ({len(names) - shown:,} more)" if len(names) > shown else ""
    return ", ".join(repr(n) for n in list(names)[:shown]) + more
