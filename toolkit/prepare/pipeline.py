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
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit import __version__
from toolkit.config import MAX_CLASSES, PrepareConfig, to_dict
from toolkit.core.environ import ray_logs_wanted
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.core.uris import UriError, delete_folder, file_type, join, list_files, open_uri, write_bytes, write_checked
from toolkit.data import columns, prepared
from toolkit.data.splits import check_test_labels, class_order
from toolkit.edge.text import TOKENIZER_VERSION, Vocabulary, tokenize
from toolkit.prepare.inputs import Inputs, find_inputs, read_files, split_of

WORD, LABEL, SKIPPED = "w", "l", "s"  # kinds of count rows


@dataclass(frozen=True)
class Plan:
    """What the checks before Ray found: the inputs and settings, and prepared data to reuse (or None:
    ``--out`` is ready, its marker written)."""

    inputs: Inputs
    settings: dict
    reused: Optional[prepared.Prepared]


def plan(cfg: PrepareConfig) -> Plan:
    """The checks before any work (no Ray needed): inputs, splits, columns, ``--out``."""
    inputs = find_inputs(cfg.data)
    for note in inputs.notes:
        log(note)
    settings = _settings(cfg, inputs)
    return Plan(inputs, settings, _check_out(cfg, settings))


def prepare_data(cfg: PrepareConfig, checked: Optional[Plan] = None) -> prepared.Prepared:
    """Prepare ``cfg.data`` into ``cfg.out`` (see the module) on the connected Ray; returns what was
    written (or reused). ``checked``: :func:`plan`'s result, when the caller checked before Ray started."""
    start = time.perf_counter()
    checked = checked or plan(cfg)
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
    vocab, labels, skipped = _count(splits, inputs, cfg)
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
        log(f"{split}: {count:,} rows without text or label, or not UTF-8: skipped")
    encoding = time.perf_counter()
    shards = _encode(splits, inputs, cfg, vocab, classes)
    log(f"encoded and wrote {len(shards):,} shard(s) ({time.perf_counter() - encoding:.1f} s)")
    manifest = _manifest(cfg, settings, vocab, classes, labels, skipped, shards, time.perf_counter() - start)
    fs, out = open_uri(cfg.out)
    try:
        write_bytes(fs, join(out, prepared.VOCAB), vocab.to_json().encode())
        write_bytes(fs, join(out, prepared.MANIFEST), json.dumps(manifest, indent=1).encode())
    except UriError as exc:
        raise DataError(f"cannot write the manifest to {cfg.out}: {exc}") from None
    result = prepared.read_manifest(cfg.out)
    rows = ", ".join(f"{s} {result.rows(s):,}" for s in prepared.SPLITS if result.has(s))
    log(f"prepared data: {cfg.out} ({rows} reviews, {time.perf_counter() - start:.1f} s)")
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
    }


def _check_out(cfg: PrepareConfig, settings: dict):
    """Reused prepared data, or None once ``--out`` is ready to be written (its marker in place)."""
    try:
        fs, out = open_uri(cfg.out)
        kind = file_type(fs, out)
        if kind == "file":
            raise DataError(f"--out {cfg.out} is a file: name a folder (or prefix) for the prepared data")
        ours = kind == "folder" and file_type(fs, join(out, prepared.MARKER)) == "file"
        if kind == "folder" and not ours and list_files(fs, out):
            raise DataError(
                f"--out {cfg.out} holds files that are not the toolkit's prepared data: choose an empty or new folder"
            )
        if ours and file_type(fs, join(out, prepared.MANIFEST)) == "file":
            try:
                existing = prepared.read_manifest(cfg.out)
                same = existing.manifest.get("settings") == json.loads(json.dumps(settings))
                if same:
                    prepared.check_shards(existing)
                    return existing
            except DataError as exc:
                log(f"{cfg.out}: the prepared data there cannot be reused ({exc})")
                same = False
            if not cfg.overwrite:
                raise DataError(
                    f"--out {cfg.out} holds data prepared from other inputs or settings: pass --overwrite to "
                    "replace it, or choose another --out"
                )
        if ours:  # prepared data to replace, or an unfinished run's shards that nothing trusts
            for name in (prepared.MANIFEST, prepared.VOCAB):
                if file_type(fs, join(out, name)) == "file":
                    fs.delete_file(join(out, name))
            for split in prepared.SPLITS:
                delete_folder(fs, join(out, split))
        marker = {"format": prepared.FORMAT, "toolkit": __version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_checked(fs, join(out, prepared.MARKER), json.dumps(marker).encode())  # a probe too
    except UriError as exc:
        raise DataError(f"cannot write to --out {cfg.out}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot write to --out {cfg.out}: {exc}") from None
    return None


def _configure_ray_data() -> None:
    """Rows in the order of the files (the shards hold them in order); Ray Data's log lines (its progress
    every few seconds when no terminal shows its bars) only with ``RAY_LOG_TO_DRIVER=1``."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    if not ray_logs_wanted():  # our lines say what runs (a terminal shows Ray Data's progress bars too)
        logging.getLogger("ray.data").setLevel(logging.WARNING)


# --- rows of a batch --------------------------------------------------------------------------------
def usable_rows(batch: pa.Table, cols, role: str) -> list:
    """``(text, label, split)`` of each row of a batch that is prepared (see :func:`_rows`)."""
    return _rows(batch, cols, role)[0]


def _rows(batch: pa.Table, cols, role: str):
    """``(text, label, split)`` of each usable row of a batch, and ``{split: rows skipped}``."""
    where = f"rows of split {role}"
    texts = columns.texts(batch.column(cols.text), where, cols.text)
    labels = columns.values(batch.column(cols.label), where, cols.label)
    if role == "rows":
        splits = [split_of(v) for v in columns.values(batch.column(cols.split), where, cols.split)]
    else:
        splits = [role] * len(texts)
    usable, skipped = [], Counter()
    for raw, label, split in zip(texts, labels, splits):
        if split is None:
            skipped["no split"] += 1
            continue
        try:
            text = raw.decode("utf-8") if raw is not None else None
        except UnicodeDecodeError:
            text = None
        if not (text and text.strip()) or label is None or label is columns.INVALID:
            skipped[split] += 1
            continue
        usable.append((text, label, split))
    return usable, skipped


def _count_batch(batch: pa.Table, cols, role: str) -> pa.Table:
    """The counts of one batch: ``(kind, split, key, count)`` rows."""
    usable, skipped = _rows(batch, cols, role)
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
                _count_batch, batch_size=cfg.rows_per_shard, batch_format="pyarrow", fn_args=(inputs.cols, role)
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


def _cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _union(datasets: list):
    return datasets[0] if len(datasets) == 1 else datasets[0].union(*datasets[1:])


# --- encoding and shards ----------------------------------------------------------------------------
def _encode_batch(batch: pa.Table, words: tuple, num_words: int, maxlen: int, classes: tuple, out: str, cols, role):
    """Encode one batch of rows and write one shard per split it holds: ``(split, path, rows, bytes,
    sha256, class counts)`` rows."""
    vocab = Vocabulary(words, num_words, maxlen)
    index = {name: i for i, name in enumerate(classes)}
    by_split: dict[str, list] = {}
    for text, label, split in _rows(batch, cols, role)[0]:
        if label in index:  # a test label no training row has was refused before
            by_split.setdefault(split, []).append((vocab.ids(text)[-maxlen:], index[label]))
    records = [_write_shard(split, rows, len(classes), out) for split, rows in by_split.items()]
    names = ("split", "path", "rows", "bytes", "sha256", "class_counts")
    return pa.table({n: [r[i] for r in records] for i, n in enumerate(names)}, schema=_RECORD)


_RECORD = pa.schema(
    [("split", pa.string()), ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64())]
    + [("sha256", pa.string()), ("class_counts", pa.string())]
)


def _write_shard(split: str, rows: list, num_classes: int, out: str) -> tuple:
    """One shard; its name is new, its checksum goes into the manifest."""
    ids = [r[0] for r in rows]
    labels = np.array([r[1] for r in rows], dtype=np.int32)
    table = pa.table(
        {
            "ids": pa.array(ids, type=pa.list_(pa.int32())),
            "label": labels,
            "length": np.array([len(i) for i in ids], dtype=np.int32),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    sha = hashlib.sha256(data).hexdigest()
    name = f"{split}/part-{uuid.uuid4().hex}.parquet"  # two shards of the same rows are two shards
    fs, path = open_uri(out)
    write_bytes(fs, join(path, name), data)
    counts = np.bincount(labels, minlength=num_classes).tolist()
    return split, name, len(rows), len(data), sha, json.dumps(counts)


def _encode(splits: dict, inputs: Inputs, cfg: PrepareConfig, vocab: Vocabulary, classes: tuple) -> list[dict]:
    """Every split encoded and written in one Ray Data execution; the shards' records in file order."""
    encoded = _union(
        [
            ds.map_batches(
                _encode_batch,
                batch_size=cfg.rows_per_shard,
                batch_format="pyarrow",
                fn_args=(vocab.words, vocab.num_words, vocab.maxlen, classes, cfg.out, inputs.cols, role),
            )
            for role, ds in splits.items()
        ]
    )
    return encoded.take_all()


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
        "rows_skipped_without_split": int(skipped.get("no split", 0)),
        "splits": splits,
        "seconds": round(seconds, 3),
    }
    manifest["sha256"] = prepared.manifest_sha256(manifest)
    return manifest
