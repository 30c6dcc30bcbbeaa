"""``toolkit prepare``'s ``--out``, checked before any work: a new or empty folder (or prefix), one the
toolkit prepared before (reused when the inputs and settings are the same; replaced with
``--overwrite``), or an unfinished run's (its shards cleared: nothing trusts them). Its marker
``.toolkit-prepare.json`` is written (and read back: an object store that keeps something else, as an
S3-compatible server given unsigned requests does, is an error now) before any shard."""

from __future__ import annotations

import json
import time

from toolkit import __version__
from toolkit.config import PrepareConfig
from toolkit.core.errors import DataError
from toolkit.core.progress import log
from toolkit.core.uris import UriError, delete_folder, file_type, join, list_files, open_uri, write_checked
from toolkit.data import prepared


def check_out(cfg: PrepareConfig, settings: dict):
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
