"""The texts prepared data was encoded from, read again without Ray: the files its manifest names, each
checked to be unchanged (size and modification time), their rows filtered as ``pipeline`` filtered them.
What ``toolkit verify`` feeds the text models of an export trained on prepared data."""

from __future__ import annotations

from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from toolkit.core.errors import DataError, first_line
from toolkit.core.uris import open_uri
from toolkit.data.arrow import Columns
from toolkit.data.files import tabular_format
from toolkit.data.prepared import Prepared
from toolkit.prepare.rows import rows


def prepared_texts(prepared: Prepared, split: str) -> list[str]:
    """The texts of ``split``'s reviews, in the order of its shards."""
    settings = prepared.manifest["settings"]
    text, label, split_column = settings["columns"]
    cols = Columns(text, label, split_column, False)
    fs, _ = open_uri(prepared.manifest["source"])
    texts: list[str] = []
    for role, path, size, mtime in settings["inputs"]:
        if role not in (split, "rows"):
            continue
        info = fs.get_file_info(path)
        if (info.size, info.mtime_ns) != (size, mtime):
            raise DataError(
                f"{path} changed since it was prepared into {prepared.uri}: its texts are not the prepared reviews'"
            )
        table = _read(fs, path, [c for c in (text, label, split_column if role == "rows" else None) if c])
        labels = frozenset(prepared.classes)  # rows of other labels were skipped (--labels)
        texts += [t for t, _, s in rows(table, cols, role, labels)[0] if s == split]
    return texts


def _read(fs, path: str, columns: list[str]) -> pa.Table:
    fmt, _ = tabular_format(PurePosixPath(path))
    try:
        if fmt == "parquet":
            with fs.open_input_file(path) as f:
                return pq.read_table(f, columns=columns)
        with fs.open_input_stream(path) as stream:  # compression from the name
            if fmt == "json":
                return pajson.read_json(stream).select(columns)
            convert = pacsv.ConvertOptions(include_columns=columns, column_types={columns[0]: pa.binary()})
            parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
            return pacsv.read_csv(stream, parse_options=parse, convert_options=convert)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {first_line(exc)}") from None
