"""artifacts.destinations: the one "may the toolkit write here" check, per kind of artifact (no TensorFlow)."""

import json

import pytest

from toolkit.artifacts.destinations import DESTINATIONS, check_destination, is_toolkit_figures, is_toolkit_run
from toolkit.core.errors import BenchError, ExportError, RunError


@pytest.mark.parametrize(
    "kind, error, what",
    [("run", RunError, "run folder"), ("export", ExportError, "export folder"), ("figures", BenchError, "--out")],
)
def test_each_kind_refuses_what_the_toolkit_did_not_write_with_its_own_error(tmp_path, kind, error, what):
    theirs = tmp_path / "theirs"
    if DESTINATIONS[kind].folder:
        theirs.mkdir()
        (theirs / "notes.txt").write_text("mine")
    else:
        theirs.write_text('{"mine": true}')
    with pytest.raises(error, match=f"{what} .* already exists: pass --overwrite"):
        check_destination(kind, theirs, overwrite=False)
    with pytest.raises(error, match="toolkit"):  # not ours: never replaced, even with --overwrite
        check_destination(kind, theirs, overwrite=True)
    assert sorted(p.name for p in tmp_path.rglob("*")) == (["notes.txt", "theirs"] if theirs.is_dir() else ["theirs"])


def test_a_new_place_is_checked_and_nothing_is_created(tmp_path):
    for kind in DESTINATIONS:
        target = check_destination(kind, tmp_path / "deep" / f"new-{kind}", overwrite=False)
        assert target.path == tmp_path / "deep" / f"new-{kind}" and target.identity is None
    assert list(tmp_path.iterdir()) == []  # the probe of a missing folder writes in the nearest existing one


def test_what_the_toolkit_wrote_is_recognised_and_may_be_replaced(tmp_path):
    figures = tmp_path / "bench.json"
    figures.write_text(json.dumps({"benchmark": "train", "toolkit_version": "0.1.0"}))
    assert is_toolkit_figures(figures)
    assert check_destination("figures", figures, overwrite=True).identity is not None
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"toolkit_version": "0.1.0"}))
    assert is_toolkit_run(run)
    assert check_destination("run", run, overwrite=True).identity is not None
    (run / "notes.txt").write_text("mine")  # anything else inside: no longer only ours
    assert not is_toolkit_run(run)
