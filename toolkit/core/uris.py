"""Paths and URIs on any file system pyarrow opens: a local path (or ``file://``), ``s3://``, ``gs://``,
``hdfs://``. What ``toolkit prepare`` reads and writes, and what training reads prepared data from.

S3 (and any endpoint the environment names, such as ``AWS_ENDPOINT_URL`` for an S3-compatible server)
is opened with short timeouts and few retries: an endpoint that does not answer, a missing bucket or
missing credentials is a one-line error in seconds, not a hang behind the SDK's retries.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pyarrow.fs as pafs

from toolkit.core.errors import WriteError, first_line
from toolkit.core.files import atomic_write_files

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 5.0  # curl's low-speed limit: no byte for this long (a hung server), not a whole upload
ATTEMPTS = 2  # an object store's transient error is retried once; a dead or hung endpoint fails in seconds


class UriError(ValueError):
    """A path or URI that cannot be opened; the message is one line (callers wrap it in their stage's
    error)."""


def is_remote(uri: str) -> bool:
    """A URI of another file system than the local one (``file://`` is local)."""
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> Path:
    """A local path or ``file://`` URI as an absolute path."""
    if uri.startswith("file://"):
        uri = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
    return Path(uri).expanduser().absolute()


def open_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    """``(file system, path on it)`` of a local path or URI; S3 with short timeouts (see the module)."""
    if not is_remote(uri):
        return pafs.LocalFileSystem(), str(local_path(uri))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UriError(f"{uri}: {first_line(exc)}") from None
    if not path.strip("/"):
        raise UriError(f"{uri}: the URI names no bucket or folder")
    if isinstance(fs, pafs.S3FileSystem):
        fs = impatient_s3(fs)
    return fs, path


def join(uri: str, *parts: str) -> str:
    """``uri/part/...`` for a path or a URI."""
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def impatient_s3(fs: pafs.S3FileSystem) -> pafs.S3FileSystem:
    """The same S3 file system (credentials, region, endpoint) with short timeouts, few retries and no
    background writes, so that an error comes at once and from the call that caused it."""
    _, (options,) = fs.__reduce__()  # the options pyarrow parsed from the URI and the environment
    options = dict(options)
    options.update(
        connect_timeout=CONNECT_TIMEOUT_S,
        request_timeout=REQUEST_TIMEOUT_S,
        background_writes=False,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=ATTEMPTS),
    )
    try:
        return pafs.S3FileSystem(**options)
    except TypeError:  # another pyarrow's option names: its defaults
        return fs


def file_type(fs: pafs.FileSystem, path: str) -> str:
    """``"file"``, ``"folder"`` or ``"missing"``; an unreachable store or a missing bucket is a
    ``UriError``."""
    try:
        info = fs.get_file_info(path)
    except (OSError, ValueError) as exc:
        raise UriError(first_line(exc)) from None
    if info.type == pafs.FileType.File:
        return "file"
    if info.type == pafs.FileType.Directory:
        return "folder"
    return "missing"


def list_files(fs: pafs.FileSystem, folder: str, hidden: bool = False) -> list[str]:
    """Every file below ``folder`` (recursive), sorted; hidden ones (``.name``, ``_name``) only if
    ``hidden``."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    except (OSError, ValueError) as exc:
        raise UriError(first_line(exc)) from None
    base = folder.rstrip("/")
    found = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        below = info.path[len(base) :].strip("/").split("/")
        if not hidden and any(part.startswith((".", "_")) for part in below):
            continue
        found.append(info.path)
    return sorted(found)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except (OSError, ValueError) as exc:
        raise UriError(first_line(exc)) from None


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write one object/file. A local file goes through ``files.atomic_write_files`` (a temporary file,
    fsync, rename; none left behind on failure); an object store writes an object whole or not at all."""
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            atomic_write_files({Path(path): data})
            return
        with fs.open_output_stream(path) as stream:
            stream.write(data)
    except (OSError, ValueError, WriteError) as exc:
        raise UriError(first_line(exc)) from None


def write_checked(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` and read it back: an object store that keeps something else (an S3-compatible
    server given unsigned requests: no credentials) is an error now, not corrupt shards later."""
    write_bytes(fs, path, data)
    if read_bytes(fs, path) != data:
        raise UriError(
            "the object store did not keep what was written: are credentials missing? (set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        )


def delete_folder(fs: pafs.FileSystem, folder: str) -> None:
    try:
        if file_type(fs, folder) == "folder":
            fs.delete_dir(folder)
    except (OSError, ValueError) as exc:
        raise UriError(first_line(exc)) from None
