"""Prepared data: what ``toolkit prepare`` writes (``toolkit.prepare``) and training reads, on any file
system (``core.uris``). A folder or prefix holding:

- ``.toolkit-prepare.json``, written first: the folder is the toolkit's (a later run may replace what
  it holds, with ``--overwrite``, or finish an interrupted one);
- ``<split>/part-<uuid>.parquet``: encoded shards, one row per review with ``ids`` (list of int32:
  ``[START] + word ids``, pre-truncated to ``maxlen``, unpadded), ``label`` (int32 class index) and
  ``length`` (int32, the number of ids);
- ``vocab.json``: the vocabulary (``edge.text.Vocabulary``), exactly as ``text.py`` builds it;
- ``manifest.json``, written last: settings, classes, row and class counts per split, and each shard's
  rows and sha256. Only a manifest makes the folder prepared data: a run that failed before it leaves
  nothing a later run would trust.

``read_manifest`` checks the manifest and the vocabulary's checksum; ``check_shards`` each shard's
size (a shard listed but missing or truncated is an error in seconds); ``read_shard`` its sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow.parquet as pq

from toolkit.core.errors import DataError, VocabularyError
from toolkit.core.uris import UriError, file_type, is_remote, join, local_path, open_uri, read_bytes
from toolkit.data.encoded import LabelledData, Split, TrainStream
from toolkit.edge.text import Vocabulary, pad_sequences

FORMAT = "toolkit.prepared"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MARKER = ".toolkit-prepare.json"
VOCAB = "vocab.json"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Prepared:
    """A prepared data set: where it is, its manifest and vocabulary."""

    uri: str
    manifest: dict
    vocabulary: Vocabulary

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.manifest["classes"])

    @property
    def sha256(self) -> str:
        """The manifest's checksum: names the shards' checksums, so it fingerprints the data."""
        return self.manifest["sha256"]

    def rows(self, split: str) -> int:
        return int(self.manifest["splits"].get(split, {}).get("rows", 0))

    def has(self, split: str) -> bool:
        return self.rows(split) > 0

    def shard_uris(self, split: str) -> list[str]:
        return [join(self.uri, f["path"]) for f in self.manifest["splits"].get(split, {}).get("files", [])]

    def class_counts(self, split: str) -> list[int]:
        return list(self.manifest["splits"][split]["class_counts"])


def manifest_sha256(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def is_prepared(uri: str) -> bool:
    """Whether ``uri`` holds a manifest (an unreachable store or a bad URI: not prepared data)."""
    try:
        fs, path = open_uri(uri)
        return file_type(fs, join(path, MANIFEST)) == "file"
    except UriError:
        return False


def check_finished(uri: str) -> None:
    """A folder with prepare's marker but no manifest is an unfinished (killed, failed) prepare: an error
    that says so, not a read of its shards as someone's tabular files."""
    try:
        fs, path = open_uri(uri)
        unfinished = file_type(fs, join(path, MARKER)) == "file" and file_type(fs, join(path, MANIFEST)) != "file"
    except UriError:
        return
    if unfinished:
        raise DataError(f"{uri} holds an unfinished toolkit prepare (no {MANIFEST}): run toolkit prepare again")


def read_manifest(uri: str) -> Prepared:
    """The prepared data at ``uri``: its manifest (checked) and vocabulary (checksum checked)."""
    try:
        fs, path = open_uri(uri)
        if file_type(fs, join(path, MANIFEST)) != "file":
            raise DataError(f"{uri} holds no {MANIFEST}: it is not prepared data (run toolkit prepare)")
        manifest = json.loads(read_bytes(fs, join(path, MANIFEST)))
        vocab_bytes = read_bytes(fs, join(path, VOCAB))
    except UriError as exc:
        raise DataError(f"cannot read the prepared data at {uri}: {exc}") from None
    except ValueError as exc:
        raise DataError(f"{uri}/{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{uri}/{MANIFEST} is not a toolkit prepare manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{uri}: prepared data format {manifest.get('format_version')} is not {FORMAT_VERSION}")
    if manifest.get("sha256") != manifest_sha256(manifest):
        raise DataError(f"{uri}/{MANIFEST}: checksum mismatch: the file was edited or is corrupt")
    try:
        vocab = Vocabulary.from_json(vocab_bytes.decode("utf-8"))
    except (VocabularyError, UnicodeDecodeError) as exc:
        raise DataError(f"{uri}/{VOCAB}: {exc}") from None
    if vocab.sha256 != manifest["vocab_sha256"]:
        raise DataError(f"{uri}/{VOCAB} is not the vocabulary the manifest names: prepare the data again")
    return Prepared(uri, manifest, vocab)


def check_shards(prepared: Prepared, splits: tuple[str, ...] = SPLITS) -> None:
    """Every listed shard exists with its size (a missing or truncated shard is an error in seconds,
    before training starts)."""
    fs, path = open_uri(prepared.uri)
    for split in splits:
        for entry in prepared.manifest["splits"].get(split, {}).get("files", []):
            try:
                size = fs.get_file_info(join(path, entry["path"])).size
            except (OSError, ValueError) as exc:
                raise DataError(f"{prepared.uri}: cannot read {entry['path']}: {exc}") from None
            if size != entry["bytes"]:
                raise DataError(
                    f"{prepared.uri}/{entry['path']} is missing or changed ({size} bytes, the manifest says "
                    f"{entry['bytes']}): prepare the data again"
                )


def read_shard(prepared: Prepared, entry: dict) -> tuple[list, np.ndarray]:
    """``(ids per row, labels)`` of one shard; its sha256 checked."""
    fs, path = open_uri(prepared.uri)
    try:
        data = read_bytes(fs, join(path, entry["path"]))
    except UriError as exc:
        raise DataError(f"{prepared.uri}: cannot read {entry['path']}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise DataError(f"{prepared.uri}/{entry['path']}: checksum mismatch: prepare the data again")
    table = pq.read_table(io.BytesIO(data), columns=["ids", "label"])
    return table.column("ids").to_pylist(), table.column("label").to_numpy().astype(np.int32)


def load_split(prepared: Prepared, split: str) -> Optional[Split]:
    """One split in memory, pre-padded to ``maxlen`` as ``dataset.load_data`` gives it (one-process
    training, the validation split, verify; Ray workers stream ``train``). ``None`` when the data has no
    such split."""
    entries = prepared.manifest["splits"].get(split, {}).get("files", [])
    if not entries:
        return None
    ids: list = []
    labels = []
    for entry in entries:
        rows, y = read_shard(prepared, entry)
        ids += rows
        labels.append(y)
    x = pad_sequences(ids, prepared.vocabulary.maxlen)
    review_ids = np.array([f"{split}/{i}" for i in range(len(ids))], dtype=str)
    return Split(x, np.concatenate(labels), review_ids)


def load_prepared(uri: str, stream_train: bool) -> LabelledData:
    """Prepared data as training takes it: the training split streamed (``stream_train``: Ray workers read
    the shards; the test split is then evaluated shard by shard, ``model.evaluate``) or both in memory (one
    process); the validation split in memory."""
    uri = uri if is_remote(uri) else str(local_path(uri))  # config.json records it: absolute
    p = read_manifest(uri)
    check_shards(p)
    maxlen = p.vocabulary.maxlen
    empty = Split(np.zeros((0, maxlen), np.int32), np.zeros(0, np.int32), np.zeros(0, str))
    stream = None
    if stream_train:
        counts = tuple(p.class_counts("train"))
        stream = TrainStream(uri, tuple(p.shard_uris("train")), p.rows("train"), counts, p.rows("test"))
    train = empty if stream_train else load_split(p, "train")
    return LabelledData(
        train=train,
        test=empty if stream_train else load_split(p, "test"),  # streamed: evaluated shard by shard
        vocabulary=p.vocabulary,
        source=uri,
        source_sha256=p.sha256,
        invalid_utf8=None,
        from_cache=False,
        classes=p.classes,
        validation=load_split(p, "validation"),
        stream=stream,
    )
