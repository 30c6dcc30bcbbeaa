"""Writing artifacts safely: atomic files and folders, the user's umask, write probes before long
work, and the leftovers of interrupted writes.

* A file is written to a temporary name beside it and renamed into place (:func:`atomic_write_text`).
* A folder is assembled in a hidden staging folder beside its final place and renamed into place
  when complete (:func:`staged_folder`); readers never see a half-written folder.
* Modes follow the user's umask (0644 / 0755 under the usual 022, private under 077), for every
  file of a staged folder too.
* A staging folder left by a process that was killed (SIGKILL, power loss) is removed by the next
  write into the same folder (:func:`sweep_stale`); SIGTERM and SIGINT clean up on the way out.
* :func:`check_can_write` probes a folder with a real file before hours of work depend on it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import WriteError

# ".<name>.staging-<pid>-<random>" and ".<name>.old-<pid>": what staged_folder leaves while it works
_LEFTOVER = re.compile(r"^\..+\.(?:staging|old)-(\d+)(?:-[^/]*)?$")
_NAME_RESERVE = 40  # room for ".staging-<pid>-<random>" around a name


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def file_mode() -> int:
    return 0o666 & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


def describe(exc: OSError) -> str:
    """``No space left on device (ENOSPC)``: an OSError in words, for one-line messages."""
    code = errno.errorcode.get(exc.errno or 0, "")
    return f"{exc.strerror or exc}" + (f" ({code})" if code else "")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the staging and old folders in ``parent`` that a dead toolkit process left behind
    (their names carry the writer's pid). Returns what was removed."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and not _pid_alive(int(m[1])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def check_can_write(folder: Path, name: str | None = None) -> None:
    """Fail now, not after the work, if ``folder`` cannot take a new entry called ``name``: the folder
    is created if missing, then probed with a real file; the name must fit the file system's limit."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WriteError(f"{folder} is not a folder: choose another place to write to")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".toolkit-probe-")
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise WriteError(f"cannot write in {folder}: {describe(exc)}") from None
    if name is not None:
        try:
            limit = os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            limit = 255
        if len(name.encode("utf-8")) + _NAME_RESERVE > limit:
            raise WriteError(
                f"the name {name[:40]!r}... is too long ({len(name.encode('utf-8'))} bytes; at most "
                f"{limit - _NAME_RESERVE} here): choose a shorter one"
            )


def check_target(path: Path, overwrite: bool, ours: Callable[[Path], bool], what: str, flag: str) -> None:
    """Before long work writes ``path`` (a ``what``, e.g. "run folder"): its folder takes files, and an
    existing ``path`` is replaced only with ``overwrite`` and only if ``ours(path)`` (toolkit wrote it).
    Never anything else: a user's folder is never removed."""
    check_can_write(path.parent, path.name)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise WriteError(f"{what} {path} already exists: pass --overwrite to replace it, or choose another {flag}")
        if not ours(path):
            article = "an" if what[0] in "aeiou" else "a"
            raise WriteError(
                f"{path} exists and is not {article} {what} written by toolkit: refusing to replace it; "
                f"choose another {flag}"
            )


@contextmanager
def staged_folder(path: Path) -> Iterator[Path]:
    """An empty hidden folder beside ``path`` to fill; when the block completes it replaces ``path``
    in one rename, and when the block fails (or the process is interrupted) it is deleted. The caller
    decides whether an existing ``path`` may be replaced; this only does it safely."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-{os.getpid()}-", dir=path.parent))
    try:
        yield stage
        for entry in stage.iterdir():  # whatever wrote them (mkstemp, a library), the umask decides
            os.chmod(entry, file_mode() if entry.is_file() else dir_mode())
        os.chmod(stage, dir_mode())  # mkdtemp makes it private
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        os.replace(stage, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
