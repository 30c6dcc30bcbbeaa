"""The encoded data set's types: a split of token ids, class indexes and review ids (``Split``), and
the splits with their class names, vocabulary and source (``LabelledData``, what ``dataset.load_data``
returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from toolkit.config import IMDB_CLASSES
from toolkit.edge.text import Vocabulary


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # int32 [n, maxlen] token ids
    y: np.ndarray  # int32 [n] class index into LabelledData.classes (IMDB: 0 = negative, 1 = positive)
    review_ids: np.ndarray  # str [n] review identifiers such as "pos/123_8" ("keras/<n>" for the keras source)

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class TrainStream:
    """A training split that stays where it is (prepared shards, ``toolkit.data.prepared``): Ray workers
    stream it; ``LabelledData.train`` is then empty."""

    uri: str  # the prepared data
    shards: tuple[str, ...]  # the training shards' URIs
    rows: int
    class_counts: tuple[int, ...]
    test_rows: int  # the test split stays in its shards too


@dataclass(frozen=True)
class LabelledData:
    train: Split
    test: Split
    vocabulary: Optional[Vocabulary]  # None for the keras source without its word index
    source: str  # where the reviews came from
    source_sha256: str
    invalid_utf8: Optional[int]  # aclImdb reviews not UTF-8 (decoded with replacement); None: tabular (skipped)
    from_cache: bool
    classes: tuple[str, ...] = IMDB_CLASSES  # class names; Split.y indexes them
    validation: Optional[Split] = None  # held out of the training split (DataConfig.validation_fraction)
    stream: Optional[TrainStream] = None  # prepared data streamed to Ray workers (``train`` is then empty)

    @property
    def train_reviews(self) -> int:
        return self.stream.rows if self.stream is not None else len(self.train)

    def summary(self) -> str:
        splits = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        counts = ", ".join(f"{name} {len(s):,} ({self.class_counts(s)})" for name, s in splits if s is not None)
        if self.stream is not None:
            shown = " / ".join(f"{c:,}" for c in self.stream.class_counts[:5])
            kept = [f"{name} {len(s):,} ({self.class_counts(s)})" for name, s in splits[1:2] if s is not None]
            counts = ", ".join([f"train {self.stream.rows:,} streamed ({shown})", *kept])
            counts += f", test {self.stream.test_rows:,} (evaluated shard by shard)"
        cached = " [encoded arrays from cache]" if self.from_cache else ""
        # tabular rows that are not UTF-8 are skipped (and counted when read), never decoded
        invalid = (
            "" if self.invalid_utf8 is None else f"; {self.invalid_utf8} not valid UTF-8 (decoded with replacement)"
        )
        return f"reviews: {counts} from {self.source}{invalid}{cached}"

    def class_counts(self, split: Split, shown: int = 5) -> str:
        """``20 neg / 21 pos`` for IMDB; ``12 a / 30 b / ...`` (the first ``shown`` classes) otherwise."""
        names = ("neg", "pos") if self.classes == IMDB_CLASSES else self.classes
        counts = np.bincount(split.y, minlength=len(names))
        parts = [f"{int(c):,} {n}" for n, c in zip(names[:shown], counts)]
        more = f" / ... ({len(names) - shown:,} more classes)" if len(names) > shown else ""
        return " / ".join(parts) + more
