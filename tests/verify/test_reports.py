"""reports.py on a report built from parity.compare: the JSON, the Markdown table and the CLI table
agree on every figure (no model needed)."""

import json
from dataclasses import asdict

import numpy as np

from toolkit.config import Tolerances
from toolkit.edge.contract import REPORT_JSON, REPORT_MD, REPORT_PNG
from toolkit.verify.parity import compare
from toolkit.verify.reports import REPORT_CONFUSION_PNG, markdown, parity_table, write_reports


def _report(tmp_path):
    y = np.array([1, 0, 1, 0])
    ids = np.array(["pos/1_9", "neg/2_1", "pos/3_8", "neg/4_2"])
    keras = np.array([0.9, 0.2, 0.45, 0.1], np.float32)
    fp32 = keras + np.float32(1e-7)
    int8 = np.array([0.8, 0.3, 0.55, 0.1], np.float32)  # review 3 flips (and becomes right)
    variants = {
        "fp32": replace_file(compare("fp32", keras, fp32, y, ids, Tolerances()), "model.onnx", 1_000_000),
        "int8": replace_file(compare("int8", keras, int8, y, ids, Tolerances()), "model.int8.onnx", 300_000),
    }
    report = {
        "export": str(tmp_path),
        "run": str(tmp_path / "run"),
        "split": "test",
        "reviews": 4,
        "tolerances": asdict(Tolerances()),
        "keras_seconds": 0.1,
        "keras_device": "/CPU:0",
        "input": "batches of similar length, each trimmed to its longest review",
        "passed": all(v.passed for v in variants.values()),
        "variants": {k: asdict(v) for k, v in variants.items()},
        "text_preprocessing": None,
    }
    return report, keras, fp32


def replace_file(parity, file, size):
    from dataclasses import replace

    return replace(parity, file=file, size_bytes=size)


def test_the_tables_show_the_figures_and_the_flipped_reviews(tmp_path):
    report, _, _ = _report(tmp_path)
    assert not report["passed"]  # int8 keeps Keras' label on 3 of 4 reviews, the gate wants 99 %
    table = parity_table(report)
    assert table.splitlines()[0] == "parity on 4 test reviews: FAIL"
    assert "fp32" in table and "pass" in table and "FAIL: int8: Keras' label on 75.00% of reviews" in table
    assert "flipped pos/3_8: label 1, keras 0.450000, onnx 0.550000" in table
    md = markdown(report)
    assert "Result: **FAIL**" in md and "| fp32 | 1.00 MB |" in md and "3 / 4 (75.0000%)" in md
    assert "## int8: 1 flipped review(s)" in md and "| pos/3_8 | 1 | 0.450000 | 0.550000 |" in md


def test_write_reports_writes_all_four_files(tmp_path):
    report, keras, fp32 = _report(tmp_path)
    write_reports(tmp_path, report, keras, fp32)
    assert json.loads((tmp_path / REPORT_JSON).read_text()) == report
    assert (tmp_path / REPORT_MD).read_text() == markdown(report)
    for png in (REPORT_PNG, REPORT_CONFUSION_PNG):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([REPORT_JSON, REPORT_MD, REPORT_PNG, "confusion.png"])


def test_drawing_parity_png_leaves_matplotlibs_global_state_alone(tmp_path):
    """The figure is drawn on a canvas of its own: pyplot's backend and figure list stay as they were."""
    import matplotlib
    import matplotlib.pyplot as plt

    from toolkit.verify.reports import plot

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a caller's choice, not the Agg that parity.png is drawn with
    try:
        plot(tmp_path / "p.png", np.array([0.1, 0.9], np.float32), np.array([0.1, 0.9], np.float32))
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
    finally:
        matplotlib.use(before)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
