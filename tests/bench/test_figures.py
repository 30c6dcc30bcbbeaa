"""bench.figures: figures that cannot land are kept, and a file that appeared meanwhile is untouched."""

import json
from pathlib import Path

import pytest


def test_figures_that_cannot_land_are_kept_and_the_file_that_appeared_is_untouched(tmp_path):
    from toolkit.artifacts.destinations import check_destination
    from toolkit.bench.figures import write_figures
    from toolkit.core.errors import BenchError

    out = tmp_path / "figures.json"
    target = check_destination("figures", out, False)  # nothing there when the measuring starts
    out.write_text("the user's notes")  # ... and this appears before the figures are written
    with pytest.raises(BenchError, match="appeared while it was being written.*the figures are saved in") as info:
        write_figures(str(out), {"benchmark": "infer", "rows": [1, 2]}, target)
    spare = Path(str(info.value).rsplit("the figures are saved in ", 1)[1])
    assert json.loads(spare.read_text())["rows"] == [1, 2]
    assert out.read_text() == "the user's notes"
    spare.unlink()
