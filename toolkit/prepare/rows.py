"""The rows ``toolkit prepare`` keeps, judged as ``toolkit train`` judges tabular rows in one process
(``data.tabular.check_text`` and ``check_label``: no text, text over 1 MB or not UTF-8, a null label or
one not in ``--labels``), and the split of each (its file's, or its split column's value)."""

from __future__ import annotations

from collections import Counter
from typing import Optional

import pyarrow as pa

from toolkit.data import columns
from toolkit.data.arrow import Columns
from toolkit.data.tabular import check_label, check_text

SPLIT_VALUES = {"train": "train", "test": "test", **{v: "validation" for v in ("validation", "valid", "dev")}}
NO_SPLIT = "no split"  # the skip count of rows whose split column says no split of these


def split_of(value: object) -> Optional[str]:
    """A split column's value as a split name (None: a row of no split, left out)."""
    return SPLIT_VALUES.get(value.lower()) if isinstance(value, str) else None


def rows(batch: pa.Table, cols: Columns, role: str, allowed: Optional[frozenset] = None):
    """``([(text, label, split)] of the usable rows, Counter of skipped rows by split)``; ``role``: the
    files' split, or ``"rows"`` (the split column says)."""
    where = f"rows of split {role}"
    texts = columns.texts(batch.column(cols.text), where, cols.text)
    labels = columns.values(batch.column(cols.label), where, cols.label)
    if role == "rows":
        splits = [split_of(v) for v in columns.values(batch.column(cols.split), where, cols.split)]
    else:
        splits = [role] * len(texts)
    usable, skipped = [], Counter()
    for payload, label, split in zip(texts, labels, splits):
        if split is None:
            skipped[NO_SPLIT] += 1
            continue
        kind, text = check_text(payload)
        if kind or check_label(label, allowed):
            skipped[split] += 1
            continue
        usable.append((text, label, split))
    return usable, skipped
