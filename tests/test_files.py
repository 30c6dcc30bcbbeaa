"""files.py: staged folders land whole, with the modes the umask allows, and leave nothing on failure."""

import os
import stat

import pytest

from toolkit.files import staged_folder


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
