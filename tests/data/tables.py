"""Tiny tabular files for the data tests: rows written as the file name says (format and compression),
and read back through ``files.find_tabular`` and ``tabular.read_tabular``."""

import bz2
import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.config import DataConfig
from toolkit.data.files import find_tabular, tabular_format
from toolkit.data.tabular import read_tabular

CUES = {"neg": "awful boring", "neutral": "fine average", "pos": "great brilliant"}
ROWS = [("a great film", "pos"), ("an awful film", "neg"), ("great acting", "pos"), ("awful plot", "neg")]


def write(path: Path, rows, columns=("text", "label")) -> Path:
    """``rows`` (tuples in ``columns`` order) as the file ``path`` names: its format and compression."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, compression = tabular_format(path)
    records = [dict(zip(columns, r)) for r in rows]
    if fmt == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(records), sink)
        payload = sink.getvalue().to_pybytes()
    elif fmt == "json":
        payload = "".join(json.dumps(r) + "\n" for r in records).encode()
    else:
        lines = []

        class Sink:
            def write(self, s):
                lines.append(s)

        writer = csv.writer(Sink(), delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        payload = "".join(lines).encode()
    if compression == "gzip":
        payload = gzip.compress(payload)
    elif compression == "bz2":
        payload = bz2.compress(payload)
    elif compression == "zstd":
        stream = pa.BufferOutputStream()
        with pa.CompressedOutputStream(stream, "zstd") as out:
            out.write(payload)
        payload = stream.getvalue().to_pybytes()
    path.write_bytes(payload)
    return path


def read(path, **kw):
    cfg = DataConfig(path=str(path), **kw)
    return read_tabular(find_tabular(cfg), cfg)


def texts(rows):
    return [r.text for r in rows]


def write_jsonl(path, labels, extra=""):
    """One review per label: the label's cue words, the row's number and ``extra``."""
    lines = [
        json.dumps({"review": f"{CUES.get(lab, 'plain')} film number{i} {extra}".strip(), "sentiment": lab})
        for i, lab in enumerate(labels)
    ]
    path.write_text("".join(line + "\n" for line in lines))
    return path
