"""files.py: staged folders land whole, with the modes the umask allows, leave nothing on failure, replace only
what was checked, and the sweep removes only the toolkit's own leftovers."""

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import toolkit.core.files as files
from toolkit.core.errors import WriteError
from toolkit.core.files import (
    MARKER,
    atomic_write_files,
    check_can_write,
    check_target,
    staged_folder,
    sweep_stale,
    writer_identity,
)

DEAD_PID = 2**22 + 7  # above Linux's largest pid_max: never a live process


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_a_staged_folder_follows_the_umask_whatever_made_its_files(tmp_path, mask, file_mode, dir_mode):
    previous = os.umask(mask)
    try:
        with staged_folder(tmp_path / "out") as stage:
            os.close(os.open(stage / "private", os.O_CREAT | os.O_WRONLY, 0o600))  # as mkstemp makes them
            (stage / "sub").mkdir(mode=0o700)
    finally:
        os.umask(previous)
    out = tmp_path / "out"
    assert stat.S_IMODE((out / "private").stat().st_mode) == file_mode
    assert stat.S_IMODE((out / "sub").stat().st_mode) == dir_mode
    assert stat.S_IMODE(out.stat().st_mode) == dir_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_a_failed_staged_folder_leaves_nothing_and_keeps_the_old_one(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="crash"):
        with staged_folder(tmp_path / "out") as stage:
            (stage / "new.txt").write_text("new")
            raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.txt"]


# --- the stale-staging sweep removes only what provably is the toolkit's ------------------------------
KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from toolkit.core.files import staged_folder
with staged_folder(Path(sys.argv[1]) / "out", allowed=["model.onnx"]) as stage:
    (stage / "model.onnx").write_bytes(b"half")
    print(stage, flush=True)
    time.sleep(600)
"""


def _killed_writer_leftover(tmp_path):
    """A staging folder left by a real toolkit writer killed with SIGKILL (nothing cleans up)."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    stage = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait()
    assert stage.is_dir() and (stage / MARKER).is_file()
    return stage


def test_the_sweep_removes_a_killed_writers_staging_folder(tmp_path):
    stage = _killed_writer_leftover(tmp_path)
    assert sweep_stale(tmp_path) == [stage]
    assert not stage.exists()


def test_the_sweep_never_removes_a_folder_that_is_only_named_like_a_staging_folder(tmp_path):
    for name in (f".out.staging-{DEAD_PID}-abc", f".out.old-{DEAD_PID}", f".out.staging-{DEAD_PID}-x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "thesis.tex").write_text("years of work")
    (tmp_path / f".out.staging-{DEAD_PID}-x" / MARKER).write_text("not json")
    assert sweep_stale(tmp_path) == []
    assert all((p / "thesis.tex").read_text() == "years of work" for p in tmp_path.iterdir())


def test_the_sweep_keeps_a_toolkit_staging_folder_that_holds_anything_else(tmp_path):
    stage = _killed_writer_leftover(tmp_path)
    (stage / "notes.txt").write_text("the user's")
    assert sweep_stale(tmp_path) == []
    assert (stage / "notes.txt").read_text() == "the user's"


def test_the_sweep_keeps_a_live_writers_folder_and_reads_pid_reuse_as_death(tmp_path):
    stage = _killed_writer_leftover(tmp_path)
    marker = json.loads((stage / MARKER).read_text())
    live = tmp_path / f".live.staging-{os.getpid()}-abc"
    live.mkdir()
    (live / MARKER).write_text(json.dumps({**marker, "pid": os.getpid(), "start": writer_identity()["start"]}))
    other_host = tmp_path / f".far.staging-{DEAD_PID}-abc"
    other_host.mkdir()
    (other_host / MARKER).write_text(json.dumps({**marker, "pid": DEAD_PID, "host": "another-machine"}))
    # another live process, with its real start time: alive, left alone
    parent = tmp_path / f".parent.staging-{os.getppid()}-abc"
    parent.mkdir()
    (parent / MARKER).write_text(json.dumps({**marker, "pid": os.getppid(), "start": files._start_time(os.getppid())}))
    # from another pid namespace (a container beside this one): its pids mean nothing here
    container = tmp_path / f".container.staging-{DEAD_PID}-abc"
    container.mkdir()
    (container / MARKER).write_text(json.dumps({**marker, "pid": DEAD_PID, "pid_namespace": "1"}))
    # a marker whose pid is alive now, but started at another time: a new process reusing the pid
    reused = tmp_path / f".reused.staging-{os.getppid()}-abc"
    reused.mkdir()
    (reused / MARKER).write_text(json.dumps({**marker, "pid": os.getppid(), "start": "1"}))
    assert sorted(sweep_stale(tmp_path)) == sorted([stage, reused])
    assert live.exists() and other_host.exists() and parent.exists() and container.exists()


# --- the check and the replacement are one step ------------------------------------------------------
def test_a_folder_that_appears_while_writing_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    target = check_target(out, False, lambda p: True, "export folder", "--out")
    with pytest.raises(WriteError, match="appeared while it was being written"):
        with staged_folder(out, target, allowed=["a"]) as stage:
            (stage / "a").write_text("new")
            out.mkdir()  # someone else's, made while we worked (empty: a plain rename would replace it)
    assert out.is_dir() and list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_checked_folder_replaced_meanwhile_is_put_back_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("first")
    target = check_target(out, True, lambda p: True, "export folder", "--out")
    with pytest.raises(WriteError, match="changed while it was being written"):
        with staged_folder(out, target, allowed=["a"]) as stage:
            (stage / "a").write_text("mine")
            shutil.rmtree(out)  # another command replaced it with its own
            out.mkdir()
            (out / "a").write_text("theirs")
    assert (out / "a").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_checked_folder_that_is_no_longer_ours_is_put_back(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = check_target(out, True, lambda p: True, "export folder", "--out")
    with pytest.raises(WriteError, match="changed while"):
        with staged_folder(out, target, ours=lambda p: not (p / "user.txt").exists()) as stage:
            (stage / "a").write_text("mine")
            (out / "user.txt").write_text("added during the work")
    assert (out / "user.txt").read_text() == "added during the work"


def test_the_checked_folder_is_replaced_whole(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("old")
    target = check_target(out, True, lambda p: True, "export folder", "--out")
    with staged_folder(out, target, allowed=["a"]) as stage:
        (stage / "a").write_text("new")
    assert (out / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_checking_a_target_creates_no_folder(tmp_path):
    check_target(tmp_path / "exports" / "deep" / "run", False, lambda p: True, "run folder", "--run-name")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is not a folder"):
        check_can_write(tmp_path / "file" / "sub")


# --- a set of files lands whole, and a failed write names its file -------------------------------------
def test_a_set_of_files_lands_whole_or_not_at_all(tmp_path):
    (tmp_path / "a.json").write_text("old a")

    def broken(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match=r"cannot write '.*b\.png': No space left on device \(ENOSPC\)"):
        atomic_write_files({tmp_path / "a.json": b"new a", tmp_path / "b.png": broken})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old a"
    atomic_write_files({tmp_path / "a.json": b"new a", tmp_path / "b.png": lambda p: p.write_bytes(b"png")})
    assert (tmp_path / "a.json").read_text() == "new a" and (tmp_path / "b.png").read_bytes() == b"png"


# --- without renameat2 (NFS, other systems), and interrupted at the worst moment -----------------------
@pytest.fixture
def no_renameat2(monkeypatch):
    monkeypatch.setattr(files, "_renameat2", lambda src, dst, flags: False)


def test_without_renameat2_the_checked_folder_is_still_replaced_whole(tmp_path, no_renameat2):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("old")
    with staged_folder(out, check_target(out, True, lambda p: True, "export folder", "--out")) as stage:
        (stage / "a").write_text("new")
    assert (out / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with staged_folder(tmp_path / "new", allowed=["a"]) as stage:
        (stage / "a").write_text("fresh")
    assert (tmp_path / "new" / "a").read_text() == "fresh"


def test_without_renameat2_a_failed_final_rename_puts_the_old_folder_back(tmp_path, no_renameat2, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("previous export")
    real = os.replace

    def failing(src, dst):
        if Path(dst) == out and ".staging-" in Path(src).name:  # the new folder's rename into place
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        with staged_folder(out, check_target(out, True, lambda p: True, "export folder", "--out")) as stage:
            (stage / "a").write_text("new")
    monkeypatch.setattr(files.os, "replace", real)
    assert (out / "a").read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_interrupt_right_after_the_exchange_deletes_nothing_that_is_not_the_stage(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    target = check_target(out, True, lambda p: True, "export folder", "--out")
    real = files._renameat2

    def interrupted(src, dst, flags):
        shutil.rmtree(out)  # another command's folder lands there in the last moment
        out.mkdir()
        (out / "theirs").write_text("keep me")
        real(src, dst, flags)
        raise KeyboardInterrupt  # and a Ctrl-C right after the exchange

    monkeypatch.setattr(files, "_renameat2", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out, target) as stage:
            (stage / "mine").write_text("new")
    kept = [p for p in tmp_path.rglob("theirs")]
    assert len(kept) == 1 and kept[0].read_text() == "keep me"
