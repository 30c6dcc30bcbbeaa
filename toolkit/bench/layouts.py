"""The IMDB reviews rewritten in the layouts users hold them in, for the benchmarks and the tests:
Hugging Face's parquet files (``train-00000-of-00001.parquet``/``test-...``, columns ``text`` and
``label`` int64), Kaggle's ``IMDB Dataset.csv`` (both splits in one file, columns ``review`` and
``sentiment`` = ``positive``/``negative``), and JSON lines with the star rating as a many-class label.
Written with pyarrow, from ``data.sources.read_reviews``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from toolkit.config import SPLITS
from toolkit.data.sources import LABEL_FOLDERS, Review, read_reviews
from toolkit.data.splits import balanced, per_class

HF_FILES = {split: f"{split}-00000-of-00001.parquet" for split in SPLITS}
KAGGLE_FILE = "IMDB Dataset.csv"
KAGGLE_LABELS = ("negative", "positive")


def imdb_reviews(tarball: Path, per_split: Optional[int] = None, seed: int = 0) -> dict[str, list[Review]]:
    """``{split: [(review id, label, text)]}`` from an aclImdb tarball or folder; ``per_split``: a seeded
    class-balanced subset of that many reviews per split (all when None)."""
    raw, _ = read_reviews(Path(tarball))
    if per_split is None:
        return raw
    counts = per_class(per_split, len(LABEL_FOLDERS))
    return {split: [items[i] for i in balanced([r[1] for r in items], counts, seed)] for split, items in raw.items()}


def stars(review_id: str) -> int:
    """The star rating in an aclImdb review id such as ``pos/123_8``."""
    return int(review_id.rsplit("_", 1)[1])


def write_hf_parquet(reviews: dict[str, list[Review]], folder: Path) -> Path:
    """``folder/train-00000-of-00001.parquet`` and ``test-...``: columns ``text`` (string), ``label`` (int64)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in reviews.items():
        table = pa.table(
            {"text": [t for _, _, t in items], "label": pa.array([label for _, label, _ in items], pa.int64())}
        )
        pq.write_table(table, folder / HF_FILES[split])
    return folder


def write_kaggle_csv(reviews: dict[str, list[Review]], path: Path, seed: int = 0) -> Path:
    """One CSV of both splits, shuffled (seeded): ``review``, ``sentiment`` (``positive``/``negative``)."""
    items = [r for split in SPLITS for r in reviews[split]]
    order = np.random.default_rng(seed).permutation(len(items))
    table = pa.table(
        {
            "review": [items[i][2] for i in order],
            "sentiment": [KAGGLE_LABELS[items[i][1]] for i in order],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return path


def write_stars_jsonl(reviews: dict[str, list[Review]], folder: Path) -> Path:
    """``folder/train.jsonl`` and ``test.jsonl``: ``{"review": ..., "stars": 1-4 or 7-10}`` (8 classes)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for split, items in reviews.items():
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for rid, _, text in items:
                f.write(json.dumps({"review": text, "stars": stars(rid)}) + "\n")
    return folder
