"""The cache of the encoded arrays: ``<cache>/encoded/<prefix>-<key>.npz``.

Encoded arrays are cached under ``<cache>/encoded/``, keyed by the source's sha256 and the settings
that change the result, so a second load skips reading and tokenisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from toolkit.config import DataConfig
from toolkit.core.errors import VocabularyError
from toolkit.core.progress import log
from toolkit.data.encoded import LabelledData, Split
from toolkit.edge.text import TOKENIZER_VERSION, Vocabulary

# 2: class names, a validation split and notes in the cache; tabular sources
CACHE_FORMAT_VERSION = 2


def cache_path(cfg: DataConfig, source_sha: str, prefix: str = "imdb", extra: Optional[dict] = None) -> Path:
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


def write_cache(path: Path, data: LabelledData, notes: Sequence[str] = ()) -> None:
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


def read_cache(path: Path) -> Optional[tuple[LabelledData, list[str]]]:
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
            data = LabelledData(
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
