"""``toolkit prepare``: tabular reviews to encoded shards with Ray Data, on the Ray the caller connected to
(an embedded local Ray or a cluster). The format written: ``toolkit.data.prepared``.

1. **Checks first**: the files, splits and columns (``inputs``), and ``--out``: writable, and either
   empty, the toolkit's (its marker), or prepared data of the same inputs and settings, which is reused
   as it is (a re-run does nothing).
2. **Count** (one pass, in parallel): each task counts the training reviews' tokens
   (``edge.text.tokenize``) and every split's labels in a batch of rows; Ray Data sums the counts by
   token (a shuffle: the driver never holds more than the vocabulary) and sorts by count, then token.
   The vocabulary is ``Vocabulary.from_counts`` of those: exactly ``text.py``'s.
3. **Encode** (a second pass, in parallel): each task encodes its rows (``Vocabulary.ids``, cut as
   ``pad_sequences`` cuts) and writes one shard per split it holds.
4. **Manifest last**: row and class counts, each shard's rows, bytes and sha256. The order of rows is
   the order of the files (Ray Data keeps it): the shards hold the rows in the same order.

Rows without text (or only white space) or label, or whose text is not UTF-8, are skipped and counted
per split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit import __version__
from toolkit.config import MAX_CLASSES, PrepareConfig, to_dict
from toolkit.core.environ import ray_logs_wanted
from toolkit.core.errors import DataError, ToolkitError, first_line
from toolkit.core.progress import log
from toolkit.core.uris import UriError, is_remote, join, local_path, open_uri, write_bytes
from toolkit.data import prepared
from toolkit.data.splits import check_test_labels, class_order
from toolkit.edge.text import TOKENIZER_VERSION, Vocabulary, tokenize
from toolkit.prepare.inputs import Inputs, find_inputs, read_files
from toolkit.prepare.out import check_out
from toolkit.prepare.rows import NO_SPLIT, rows

WORD, LABEL, SKIPPED = "w", "l", "s"  # kinds of count rows


@dataclass(frozen=True)
class Plan:
    """What the checks before Ray found: the inputs and settings, and prepared data to reuse (or None:
    ``--out`` is ready, its marker written)."""

    inputs: Inputs
    settings: dict
    reused: Optional[prepared.Prepared]


def absolute(cfg: PrepareConfig) -> PrepareConfig:
    """Local paths made absolute: the manifest records them, and Ray's workers (another working folder)
    write the shards."""

    def fix(uri):
        return uri if uri is None or is_remote(uri) else str(local_path(uri))

    data = replace(cfg.data, path=fix(cfg.data.path), test_path=fix(cfg.data.test_path))
    out = fix(cfg.out)
    folder = out.rstrip("/") + "/"
    nested = [p.rstrip("/") + "/" for p in (data.path, data.test_path) if p]
    if any(p.startswith(folder) or folder.startswith(p) for p in nested):
        raise DataError(f"--out {cfg.out} and the data it prepares must not be inside one another")
    return replace(cfg, data=data, out=out)


def plan(cfg: PrepareConfig) -> Plan:
    """The checks before any work (no Ray needed): inputs, splits, columns, ``--out`` (``cfg`` with
    absolute local paths: :func:`absolute`)."""
    inputs = find_inputs(cfg.data)
    for note in inputs.notes:
        log(note)
    settings = _settings(cfg, inputs)
    return Plan(inputs, settings, check_out(cfg, settings))


def prepare_data(cfg: PrepareConfig, checked: Optional[Plan] = None) -> prepared.Prepared:
    """Prepare ``cfg.data`` into ``cfg.out`` (see the module) on the connected Ray; returns what was
    written (or reused). ``checked``: :func:`plan`'s result for ``absolute(cfg)``, when the caller checked
    before Ray started."""
    start = time.perf_counter()
    if checked is None:
        cfg = absolute(cfg)
        checked = plan(cfg)
    inputs, settings = checked.inputs, checked.settings
    if checked.reused is not None:
        log(f"{cfg.out} already holds this data prepared with these settings: reusing it")
        return checked.reused
    size = inputs.total_bytes()
    log(
        f"preparing {len(inputs.files()):,} file(s), {size / 1e6:,.1f} MB, text column {inputs.cols.text!r}, "
        f"label column {inputs.cols.label!r}"
        + (f", split column {inputs.cols.split!r}" if "rows" in inputs.splits else "")
    )
    _configure_ray_data()
    splits = {role: read_files(inputs, role, cfg.rows_per_shard) for role in inputs.splits}
    counting = time.perf_counter()
    vocab, labels, skipped = _in_ray_data(lambda: _count(splits, inputs, cfg))
    classes = class_order(list(labels.get("train", {})), cfg.data.labels, cfg.data.path)
    for split in ("test", "validation"):
        if split in labels:
            check_test_labels(list(labels[split].elements()), classes, cfg.data.path)
    if "test" not in labels:
        raise DataError(f"no row of {cfg.data.path} is in the test split: the model could not be tested")
    log(
        f"vocabulary: {len(vocab.words):,} words from {sum(labels['train'].values()):,} training reviews "
        f"({time.perf_counter() - counting:.1f} s); {len(classes)} classes"
    )
    for split, count in sorted(skipped.items()):
        why = (
            "of no split (the split column says neither train, test nor validation)"
            if split == NO_SPLIT
            else ("without text or label, with text over 1 MB or not UTF-8, or a label not in --labels")
        )
        log(f"{split}: skipped {count:,} rows {why}")
    encoding = time.perf_counter()
    shards = _in_ray_data(lambda: _encode(splits, inputs, cfg, vocab, classes))
    log(f"encoded and wrote {len(shards):,} shard(s) ({time.perf_counter() - encoding:.1f} s)")
    manifest = _manifest(cfg, settings, vocab, classes, labels, skipped, shards, time.perf_counter() - start)
    fs, out = open_uri(cfg.out)
    try:
        write_bytes(fs, join(out, prepared.VOCAB), vocab.to_json().encode())
        write_bytes(fs, join(out, prepared.MANIFEST), json.dumps(manifest, indent=1).encode())
    except UriError as exc:
        raise DataError(f"cannot write the manifest to {cfg.out}: {exc}") from None
    result = prepared.read_manifest(cfg.out)
    sizes = ", ".join(f"{s} {result.rows(s):,}" for s in prepared.SPLITS if result.has(s))
    log(f"prepared data: {cfg.out} ({sizes} reviews, {time.perf_counter() - start:.1f} s)")
    return result


def _settings(cfg: PrepareConfig, inputs: Inputs) -> dict:
    """What the shards depend on: a re-run with the same settings reuses them."""
    data = to_dict(cfg.data)
    return {
        "inputs": inputs.fingerprint(),
        "columns": [inputs.cols.text, inputs.cols.label, inputs.cols.split],
        "labels": data["labels"],
        "num_words": cfg.data.num_words,
        "maxlen": cfg.data.maxlen,
        "tokenizer_version": TOKENIZER_VERSION,
        "rows_per_shard": cfg.rows_per_shard,
        "format_version": prepared.FORMAT_VERSION,
        "shuffle_seed": cfg.data.seed,
    }


def _in_ray_data(work):
    """``work()``, whose errors inside Ray Data's tasks (a column of numbers as the text, a ragged CSV line,
    a full disk) come back wrapped in Ray's: a one-line ``DataError`` with the first cause that says
    something (a toolkit error's message as it is)."""
    try:
        return work()
    except ToolkitError:
        raise
    except Exception as exc:  # Ray's UserCodeException, RayTaskError, pyarrow's errors
        cause, seen = exc, []
        while cause is not None and cause not in seen:
            if isinstance(cause, ToolkitError):
                raise DataError(str(cause)) from None
            seen.append(cause)
            cause = cause.__cause__ or cause.__context__
        raise DataError(f"Ray Data failed: {first_line(seen[-1])}") from exc


def _configure_ray_data() -> None:
    """Rows in the order of the files (the test shards hold them in order); Ray Data's log lines (its progress
    every few seconds when no terminal shows its bars) only with ``RAY_LOG_TO_DRIVER=1``."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    if not ray_logs_wanted():  # our lines say what runs (a terminal shows Ray Data's progress bars too)
        logging.getLogger("ray.data").setLevel(logging.WARNING)


# --- counting -------------------------------------------------------------------------------------
def _count_batch(batch: pa.Table, cols, role: str, allowed: Optional[frozenset]) -> pa.Table:
    """The counts of one batch: ``(kind, split, key, count)`` rows."""
    usable, skipped = rows(batch, cols, role, allowed)
    words: Counter = Counter()
    labels: Counter = Counter()
    for text, label, split in usable:
        if split == "train":
            words.update(tokenize(text, TOKENIZER_VERSION))
        labels[(split, label)] += 1
    kinds = [WORD] * len(words) + [LABEL] * len(labels) + [SKIPPED] * len(skipped)
    splits = ["train"] * len(words) + [s for s, _ in labels] + list(skipped)
    keys = list(words) + [label for _, label in labels] + [""] * len(skipped)
    counts = list(words.values()) + list(labels.values()) + list(skipped.values())
    return pa.table({"kind": kinds, "split": splits, "key": keys, "count": pa.array(counts, pa.int64())})


def _count(splits: dict, inputs: Inputs, cfg: PrepareConfig):
    """``(vocabulary, {split: Counter of labels}, {split: rows skipped})``, in one Ray Data execution:
    count per batch, sum by (kind, split, key) (a hash shuffle: each token's counts meet in one
    partition), and only each partition's ``num_words - 3`` most frequent words and its label and skip
    rows come to the driver, which ranks them (``Vocabulary.from_counts``)."""
    counts = _union(
        [
            ds.map_batches(
                _count_batch,
                batch_size=cfg.rows_per_shard,
                batch_format="pyarrow",
                fn_args=(inputs.cols, role, _allowed(cfg)),
            )
            for role, ds in splits.items()
        ]
    )
    keep = cfg.data.num_words - 3
    summed = counts.groupby(["kind", "split", "key"], num_partitions=_cpus()).sum("count")
    # a partition's top words and every label row: the global top words are among them (no sort shuffle)
    ranked = summed.map_batches(_top_rows, batch_size=None, batch_format="pyarrow", fn_args=(keep,)).take_all()
    ranked.sort(key=lambda r: (r["kind"], -r["sum(count)"], r["key"]))
    labels: dict[str, Counter] = {}
    skipped: Counter = Counter()
    words = []
    for row in ranked:
        if row["kind"] == LABEL:
            labels.setdefault(row["split"], Counter())[row["key"]] += row["sum(count)"]
        elif row["kind"] == SKIPPED:
            skipped[row["split"]] += row["sum(count)"]
        else:
            words.append((row["key"], row["sum(count)"]))
    if "train" not in labels:
        raise DataError(f"no usable training row in {cfg.data.path} (every row lacks a text or a label)")
    if len(labels["train"]) > MAX_CLASSES:
        raise DataError(f"the training rows of {cfg.data.path} hold more than {MAX_CLASSES:,} classes")
    return Vocabulary.from_counts(words, cfg.data.num_words, cfg.data.maxlen), labels, skipped


def _top_rows(block: pa.Table, keep: int) -> pa.Table:
    """A block of summed counts: its label and skip rows, and its ``keep`` most frequent words (ties:
    alphabetical)."""
    kinds = block.column("kind").to_pylist()
    counts = block.column("sum(count)").to_pylist()
    keys = block.column("key").to_pylist()
    words = sorted((i for i, k in enumerate(kinds) if k == WORD), key=lambda i: (-counts[i], keys[i]))[:keep]
    rows = [i for i, k in enumerate(kinds) if k != WORD] + words
    return block.take(pa.array(rows, pa.int64()))


def _allowed(cfg: PrepareConfig) -> Optional[frozenset]:
    return frozenset(cfg.data.labels) if cfg.data.labels else None


def _cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _union(datasets: list):
    return datasets[0] if len(datasets) == 1 else datasets[0].union(*datasets[1:])


# --- encoding and shards ----------------------------------------------------------------------------
def encode_rows(batch: pa.Table, words: tuple, maxlen: int, classes: tuple, cols, role: str, split: str) -> pa.Table:
    """The rows of ``split`` in a batch, encoded: ``ids`` (``[START] + word ids``, cut as ``pad_sequences``
    cuts), ``label`` (the class index), ``length``. (Every usable row's label is a class: ``--labels``
    filtered the rows, and a test label no training row has was refused before.)"""
    vocab = Vocabulary(words, len(words) + 3, maxlen)
    index = {name: i for i, name in enumerate(classes)}
    kept = [
        (vocab.ids(text)[-maxlen:], index[label])
        for text, label, s in rows(batch, cols, role, frozenset(classes))[0]
        if s == split
    ]
    ids = [k[0] for k in kept]
    return pa.table(
        {
            "ids": pa.array(ids, type=pa.list_(pa.int32())),
            "label": pa.array([k[1] for k in kept], pa.int32()),
            "length": pa.array([len(i) for i in ids], pa.int32()),
        }
    )


_RECORD = pa.schema(
    [("split", pa.string()), ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64())]
    + [("sha256", pa.string()), ("class_counts", pa.string())]
)


def write_shard(table: pa.Table, split: str, num_classes: int, out: str) -> pa.Table:
    """One shard of encoded rows under ``out/split/`` (a new name; its checksum goes into the manifest):
    its record, one row (none for no rows)."""
    if table.num_rows == 0:
        return _RECORD.empty_table()
    sink = pa.BufferOutputStream()
    pq.write_table(table.select(["ids", "label", "length"]), sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    name = f"{split}/part-{uuid.uuid4().hex}.parquet"
    fs, path = open_uri(out)
    write_bytes(fs, join(path, name), data)
    counts = np.bincount(table.column("label").to_numpy(), minlength=num_classes).tolist()
    record = [split, name, table.num_rows, len(data), hashlib.sha256(data).hexdigest(), json.dumps(counts)]
    return pa.table({n: [v] for n, v in zip(_RECORD.names, record)}, schema=_RECORD)


def _encode(splits: dict, inputs: Inputs, cfg: PrepareConfig, vocab: Vocabulary, classes: tuple) -> list[dict]:
    """Each split encoded and written (one Ray Data execution per split): the training split shuffled
    (seeded: a training worker streams its share in the stored order, so class-sorted files must not
    become class-sorted shards), the others in the order of their files. The shards' records."""
    records = []
    present = {s for role in splits for s in ((role,) if role != "rows" else prepared.SPLITS)}
    for split in (s for s in prepared.SPLITS if s in present):
        encoded = _union(
            [
                ds.map_batches(
                    encode_rows,
                    batch_size=cfg.rows_per_shard,
                    batch_format="pyarrow",
                    fn_args=(vocab.words, vocab.maxlen, classes, inputs.cols, role, split),
                )
                for role, ds in splits.items()
                if role in (split, "rows")
            ]
        )
        if split == "train":
            encoded = encoded.random_shuffle(seed=cfg.data.seed)
        written = encoded.map_batches(
            write_shard,
            batch_size=cfg.rows_per_shard,
            batch_format="pyarrow",
            fn_args=(split, len(classes), cfg.out),
        )
        records += written.take_all()
    return records


def _manifest(cfg, settings, vocab, classes, labels, skipped, shards, seconds) -> dict:
    splits = {}
    for split in prepared.SPLITS:
        files = [s for s in shards if s["split"] == split]
        if not files:
            continue
        counts = np.sum([json.loads(s["class_counts"]) for s in files], axis=0).astype(int).tolist()
        splits[split] = {
            "rows": int(sum(s["rows"] for s in files)),
            "class_counts": counts,
            "skipped": int(skipped.get(split, 0)),
            "files": [{k: s[k] for k in ("path", "rows", "bytes", "sha256")} for s in files],
        }
    manifest = {
        "format": prepared.FORMAT,
        "format_version": prepared.FORMAT_VERSION,
        "toolkit": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source": cfg.data.path,
        "test_source": cfg.data.test_path,
        "settings": json.loads(json.dumps(settings)),
        "classes": list(classes),
        "vocab_sha256": vocab.sha256,
        "num_words": vocab.num_words,
        "maxlen": vocab.maxlen,
        "rows_skipped_without_split": int(skipped.get(NO_SPLIT, 0)),
        "splits": splits,
        "seconds": round(seconds, 3),
    }
    manifest["sha256"] = prepared.manifest_sha256(manifest)
    return manifest
