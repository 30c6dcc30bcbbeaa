"""bench.infer on a small exported model: the figures' shape and sanity, never their speed."""

import json
import subprocess

import pytest

from tests.helpers import BIN, MAXLEN

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


def test_bench_infer_writes_sane_figures(exported, tmp_path):
    """A tiny setting: the JSON's shape and sanity, never its speed."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "bench",
            "infer",
            str(exported.path),
            "--batch-sizes",
            "1,4",
            "--reviews",
            "16",
            "--repeats",
            "2",
            "--max-batches",
            "4",
            "--litert",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["reviews"] == 16 and report["maxlen"] == MAXLEN
    assert set(report["backends"]) == {
        "keras",
        "onnx_fp32",
        "onnx_int8",
        "onnx_fp32+tok",
        "onnx_text",
        "onnx_text-int8",
        "litert",
    }
    keras = report["backends"]["keras"]["batch"]
    for _name, backend in report["backends"].items():
        assert backend["model_bytes"] > 0 and backend["peak_rss_mb"] > 0
        assert set(backend["batch"]) == {"1", "4"}
        for bs, row in backend["batch"].items():
            assert row["reviews_per_second"] > 0 and 0 < row["latency_ms_p50"] <= row["latency_ms_p99"]
            assert row["ratio_to_keras"] == pytest.approx(
                row["reviews_per_second"] / keras[bs]["reviews_per_second"], rel=0.01
            )
    assert all(row["ratio_to_keras"] == 1.0 for row in keras.values())
    # onnxruntime alone never loads TensorFlow: its process is far smaller than Keras'
    assert report["backends"]["onnx_fp32"]["peak_rss_mb"] < report["backends"]["keras"]["peak_rss_mb"]
    assert "onnx_int8" in proc.stdout and "x Keras" in proc.stdout
