"""Writing artifacts safely: atomic files and folders, the user's umask, write probes before long
work, and the leftovers of interrupted writes.

* A file is written to a temporary name beside it and renamed into place (:func:`atomic_write_text`);
  a set of files that belong together (the parity reports) lands whole or not at all
  (:func:`atomic_write_files`). A failed write names the file it was writing.
* A folder is assembled in a hidden staging folder beside its final place and renamed into place
  when complete (:func:`staged_folder`); readers never see a half-written folder. The rename is the
  check: a new folder lands only where nothing is (``RENAME_NOREPLACE``), and a folder replaces only
  the very folder that was checked before the work (``RENAME_EXCHANGE``, then its identity is
  compared and the exchange undone if it is another). The loser of a race is told, nothing is lost.
* Modes follow the user's umask (0644 / 0755 under the usual 022, private under 077), for every
  file of a staged folder too.
* A staging folder holds a marker (``.toolkit-staging.json``: the writer's host, boot, pid and the
  pid's start time, and the names it may hold). A staging folder left by a process that was killed
  (SIGKILL, power loss) is removed by the next write into the same folder (:func:`sweep_stale`) only
  when that marker proves it is the toolkit's, its writer is dead, and it holds nothing else; a folder
  merely named like one is never touched. SIGTERM and SIGINT clean up on the way out.
* :func:`check_can_write` probes a folder with a real file before hours of work depend on it,
  without creating anything the work may never need.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from toolkit.core.errors import WriteError

# ".<name>.staging-<pid>-<random>": what staged_folder leaves while it works
_LEFTOVER = re.compile(r"^\..+\.staging-(\d+)-[^/]*$")
MARKER = ".toolkit-staging.json"
_MARKER_MAX_BYTES = 64 * 1024
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


def write_failed(path: Path, exc: OSError) -> WriteError:
    """The one message for a write that failed (disk full, quota, permissions): it names the path."""
    return WriteError(f"cannot write {str(path)!r}: {describe(exc)}")


def atomic_write_text(path: Path, text: str, target: Optional["Target"] = None) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename; with
    ``target`` (what :func:`check_file_target` judged), only onto exactly what was checked."""
    atomic_write_files({Path(path): text.encode("utf-8")}, {Path(path): target} if target else None)


def atomic_write_files(contents: dict, targets: Optional[dict] = None) -> None:
    """Write every ``{path: bytes or a function that writes the file at the path it is given}`` to a
    temporary file beside it; only when all are complete are they renamed into place. A failure leaves
    every existing file as it was, no temporary file behind, and raises a :class:`WriteError` naming the
    file (a full disk, ENOSPC, included). A path in ``targets`` lands only where its :class:`Target`
    still stands (nothing: never onto a file that appeared meanwhile)."""
    done: list[tuple[str, Path]] = []
    try:
        for path, content in contents.items():
            path = Path(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            except OSError as exc:
                raise write_failed(path, exc) from None
            done.append((tmp, path))
            try:
                if callable(content):
                    os.close(fd)
                    content(Path(tmp))
                else:
                    with os.fdopen(fd, "wb") as f:
                        f.write(content)
                        f.flush()
                        os.fsync(f.fileno())  # ENOSPC shows here at the latest, not after the rename
                os.chmod(tmp, file_mode())  # mkstemp creates 0600
            except OSError as exc:
                raise write_failed(path, exc) from None
        targets = targets or {}
        for _, path in done:  # every check before the first rename
            target = targets.get(path)
            if target is not None and target.identity is not None and snapshot(path) != target:
                raise WriteError(f"{path} changed while it was being written: it was not replaced; run again")
        for tmp, path in done:
            if targets.get(path) is not None and targets[path].identity is None:
                _place_new(Path(tmp), path)
            else:
                os.replace(tmp, path)
        done = []
    finally:
        for tmp, _ in done:
            Path(tmp).unlink(missing_ok=True)


# --- who wrote a staging folder ---------------------------------------------------------------------
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> Optional[str]:
    """The process' start time in clock ticks since boot (None: no such process, or no /proc): with
    the pid, it tells a live writer from a new process that reuses a dead writer's pid."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[-1].split()[19]


def _pid_namespace() -> str:
    """Containers sharing a host name and a volume can have separate pid spaces: a pid means nothing
    across them."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def writer_identity() -> dict:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "pid_namespace": _pid_namespace(),
        "pid": pid,
        "start": _start_time(pid),
    }


def _writer_dead(marker: dict) -> bool:
    """True only when it is certain: the writer ran on this host, and its process is gone (this boot
    has no such pid, or the pid now belongs to a process started later)."""
    if marker.get("host") != socket.gethostname() or marker.get("pid_namespace") != _pid_namespace():
        return False  # another machine or container on a shared file system: it may be working
    if marker.get("boot") != _boot_id():
        return True  # written before a reboot
    pid = marker.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's: compare start times below
    started = _start_time(pid)
    return started is not None and marker.get("start") is not None and started != marker["start"]


def _read_marker(folder: Path) -> Optional[dict]:
    path = folder / MARKER
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES:
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return marker if isinstance(marker, dict) and marker.get("writer") == "toolkit" else None


def _only_ours(folder: Path, allowed: Iterable[str]) -> bool:
    """Whether ``folder`` holds nothing but its marker, the names it was allowed to hold and the
    temporary files of atomic writes of those names."""
    allowed = set(allowed)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    for entry in entries:
        name = entry.name
        if name == MARKER:
            continue
        tmp = re.match(r"^\.(.+)\.[^.]+\.tmp$", name)
        if name not in allowed and not (tmp and tmp[1] in allowed):
            return False
    return True


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the staging folders in ``parent`` that a dead toolkit process left behind: only those
    whose marker names this toolkit and a writer that is certainly dead, and that hold nothing but
    what the marker allows. Anything else named like a staging folder is left alone. Returns what was
    removed."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if not m or entry.is_symlink() or not entry.is_dir():
            continue
        marker = _read_marker(entry)
        if marker is None or marker.get("pid") != int(m[1]) or not isinstance(marker.get("allowed"), list):
            continue
        if _writer_dead(marker) and _only_ours(entry, marker["allowed"]):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


# --- checks before the work -------------------------------------------------------------------------
def _existing_ancestor(folder: Path) -> Path:
    folder = Path(folder).resolve()  # links and '..' as the kernel will follow them
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_can_write(folder: Path, name: str | None = None) -> None:
    """Fail now, not after the work, if ``folder`` cannot take a new entry called ``name``: its nearest
    existing folder is probed with a real file (nothing is created that a failed run would leave
    behind); the name must fit the file system's limit."""
    folder = Path(folder)
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise WriteError(f"{base} is not a folder: choose another place to write to")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".toolkit-probe-")
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        where = "" if base == folder.resolve() else f" (its nearest existing folder, {base}, takes no new entry)"
        raise WriteError(f"cannot write in {folder}{where}: {describe(exc)}") from None
    if name is not None:
        try:
            limit = os.pathconf(base, "PC_NAME_MAX")
        except (OSError, ValueError):
            limit = 255
        if len(name.encode("utf-8")) + _NAME_RESERVE > limit:
            raise WriteError(
                f"the name {name[:40]!r}... is too long ({len(name.encode('utf-8'))} bytes; at most "
                f"{limit - _NAME_RESERVE} here): choose a shorter one"
            )


@dataclass(frozen=True)
class Target:
    """What stood at ``path`` when it was checked: nothing (``identity`` None) or one folder (its
    device, inode and change time: a folder made anew may get a freed inode number back, but not the
    same change time). :func:`staged_folder` replaces exactly that, or fails."""

    path: Path
    identity: Optional[tuple]


def snapshot(path: Path) -> Target:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Target(Path(path), None)
    return Target(Path(path), (info.st_dev, info.st_ino, info.st_ctime_ns))


def check_target(path: Path, overwrite: bool, ours: Callable[[Path], bool], what: str, flag: str) -> Target:
    """Before long work writes ``path`` (a ``what``, e.g. "run folder"): its folder takes files, and an
    existing ``path`` is replaced only with ``overwrite`` and only if ``ours(path)`` (toolkit wrote it).
    Never anything else: a user's folder is never removed. Returns what was checked, for
    :func:`staged_folder` to replace exactly that."""
    check_can_write(path.parent, path.name)
    target = snapshot(path)
    if target.identity is not None:
        if not overwrite:
            raise WriteError(f"{what} {path} already exists: pass --overwrite to replace it, or choose another {flag}")
        if not ours(path):
            article = "an" if what[0] in "aeiou" else "a"
            raise WriteError(
                f"{path} exists and is not {article} {what} written by toolkit: refusing to replace it; "
                f"choose another {flag}"
            )
    return target


# --- the one-step replacement -----------------------------------------------------------------------
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux's renameat2; False where the system or the file system does not offer it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _place_new(stage: Path, path: Path) -> None:
    """``stage`` becomes ``path``, which must still not exist."""
    try:
        if _renameat2(stage, path, _RENAME_NOREPLACE):
            return
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise WriteError(
                f"{path} appeared while it was being written (another toolkit command writing there?): "
                "nothing was replaced; choose another name, or run again"
            ) from None
        raise
    if os.path.lexists(path):  # no renameat2 here: check, then rename (a narrow window remains)
        raise WriteError(f"{path} appeared while it was being written: nothing was replaced; run again")
    os.rename(stage, path)


def _writable(path: Path) -> bool:
    """Writable for us, and not made read-only by its owner (root may write anyway: it must not)."""
    return os.access(path, os.W_OK) and bool(os.stat(path).st_mode & stat.S_IWUSR)


def check_file_target(path: Path, overwrite: bool, ours: Callable[[Path], bool], flag: str) -> Target:
    """Before long work writes the file ``path``: its folder takes files, and an existing ``path`` is
    replaced only with ``overwrite``, only if it is a regular, writable file and ``ours(path)``."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{flag} {path} is a folder: name a file")
    check_can_write(path.parent, path.name)
    target = snapshot(path)
    if target.identity is not None:
        if not overwrite:
            raise WriteError(f"{flag} {path} already exists: pass --overwrite to replace it, or choose another {flag}")
        if path.is_symlink() or not path.is_file() or not _writable(path) or not ours(path):
            raise WriteError(
                f"{path} exists and is not a writable file written by toolkit: refusing to replace it; "
                f"choose another {flag}"
            )
    return target


def _check_unchanged(target: Target, ours: Optional[Callable[[Path], bool]]) -> None:
    """``target.path`` is still the folder that was checked (and still ``ours``), or WriteError."""
    if snapshot(target.path) != target or (ours is not None and not ours(target.path)):
        raise WriteError(
            f"{target.path} changed while it was being written (another toolkit command replaced it?): "
            "nothing was replaced; run again"
        )


def _replace(stage: Path, target: Target, allowed: Iterable[str]) -> None:
    """``stage`` takes the place of the folder ``target`` checked (:func:`_check_unchanged` a moment
    ago), and that folder is removed; if ``path`` turns out to be something else, it is put back and
    nothing is replaced."""
    path = target.path
    if not _renameat2(stage, path, _RENAME_EXCHANGE):  # no renameat2 here: rename it aside first
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-{os.getpid()}-", dir=path.parent))
        os.replace(path, old / "replaced")  # unmarked: if we die now it is kept, never swept
        try:
            os.replace(stage, path)
        except BaseException:
            os.replace(old / "replaced", path)  # put it back as it was
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    # stage now holds what was at path: the folder checked a moment ago (a rename changes the change
    # time, so device and inode tell here)
    if snapshot(stage).identity[:2] != target.identity[:2]:
        _renameat2(stage, path, _RENAME_EXCHANGE)  # put it back as it was
        _check_unchanged(target, None)  # raises: it is not what was checked
    _write_marker(stage, allowed)  # if we die now, the old folder is a leftover the sweep may remove
    shutil.rmtree(stage, ignore_errors=True)


def _write_marker(folder: Path, allowed: Iterable[str]) -> None:
    marker = {"writer": "toolkit", **writer_identity(), "allowed": sorted(set(allowed))}
    (folder / MARKER).write_text(json.dumps(marker), encoding="utf-8")


@contextmanager
def staged_folder(
    path: Path,
    target: Optional[Target] = None,
    ours: Optional[Callable[[Path], bool]] = None,
    allowed: Iterable[str] = (),
) -> Iterator[Path]:
    """An empty hidden folder beside ``path`` to fill (with names from ``allowed``); when the block
    completes it takes ``path``'s place in one step, and when the block fails (or the process is
    interrupted) it is deleted.

    ``target`` is what :func:`check_target` judged before the work (default: what is there now): the
    new folder lands only if ``path`` is still exactly that (nothing, or the same folder, still
    ``ours``), else :class:`WriteError` and nothing is replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    target = target if target is not None else snapshot(path)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-{os.getpid()}-", dir=path.parent))
    ours_id = snapshot(stage).identity[:2]  # on failure, remove the stage only while it is still ours
    allowed = tuple(allowed)
    try:
        _write_marker(stage, allowed)
        yield stage
        for entry in stage.iterdir():  # whatever wrote them (mkstemp, a library), the umask decides
            os.chmod(entry, file_mode() if entry.is_file() else dir_mode())
        os.chmod(stage, dir_mode())  # mkdtemp makes it private
        if target.identity is not None:
            _check_unchanged(target, ours)
        (stage / MARKER).unlink()  # the last step before the rename: a kill before it leaves a swept stage
        if target.identity is None:
            _place_new(stage, path)
        else:
            _replace(stage, target, allowed)
    except BaseException:
        held = snapshot(stage).identity
        if held is not None and held[:2] == ours_id:
            shutil.rmtree(stage, ignore_errors=True)
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
