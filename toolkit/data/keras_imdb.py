"""``DataConfig.source == "keras"``: ``keras.datasets.imdb`` (the tutorial's exact, pre-tokenised data)
from ``$KERAS_HOME/datasets/imdb.npz`` (default ``~/.keras``), padded as the aclimdb source is, with
the words behind its ids when ``imdb_word_index.json`` is on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.data.encoded import LabelledData, Split
from toolkit.data.sources import keras_home, source_sha256
from toolkit.data.splits import subset, with_validation
from toolkit.edge.text import Vocabulary, pad_sequences


def load_keras(cfg: DataConfig) -> LabelledData:
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
        raw[name] = subset(items, cfg, name)
    splits = {
        name: Split(
            x=pad_sequences([seq for _, _, seq in items], cfg.maxlen),
            y=np.array([lab for _, lab, _ in items], dtype=np.int32),
            review_ids=np.array([f"keras/{rid}" for rid, _, _ in items], dtype=str),
        )
        for name, items in with_validation(raw, cfg).items()
    }
    vocab = _keras_vocabulary(home, cfg)
    sha = source_sha256(npz)
    validation = splits.get("validation")
    return LabelledData(
        splits["train"], splits["test"], vocab, str(npz), sha, 0, from_cache=False, validation=validation
    )


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
