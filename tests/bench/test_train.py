"""bench.train on a tiny setting: the JSON's shape and sanity, never its speed."""

import json
import subprocess
import sys

import pytest

from tests.helpers import BIN


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # it starts Ray: with the other Ray tests, one after another
def test_bench_train_writes_sane_figures(corpus_tarball, tmp_path):
    out = tmp_path / "bench-train.json"
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "bench",
            "train",
            "--data",
            str(corpus_tarball),
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--repeats",
            "2",
            "--workers",
            "0,1",
            "--maxlen",
            "40",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "train" and report["reviews"] == 16 and report["maxlen"] == 40
    assert report["input_reviews_per_second"] > 0
    rows = {(r["setup"], r["workers"]): r for r in report["results"]}
    assert set(rows) == {("faithful", 0), ("fast", 0), ("faithful", 1), ("fast", 1)}
    reference = rows[("faithful", 0)]["reviews_per_second"]
    for (_setup, workers), r in rows.items():
        assert r["mode"] == ("single-process" if workers == 0 else "ray") and r["replicas"] == 1
        assert len(r["epoch_seconds"]) == 2 and min(r["epoch_seconds"]) > 0
        rates = sorted(16 / t for t in r["epoch_seconds"])
        assert r["reviews_per_second"] == pytest.approx((rates[0] + rates[1]) / 2, rel=0.01)  # median of 2
        assert r["ratio_to_faithful_single"] == pytest.approx(r["reviews_per_second"] / reference, rel=0.01)
    assert rows[("faithful", 0)]["ratio_to_faithful_single"] == 1.0
    assert "x faithful 1-process" in proc.stdout and "Ray, 1 worker(s)" in proc.stdout


def test_bench_train_asks_for_no_more_reviews_than_there_are(corpus_tarball, tmp_path):
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "bench",
            "train",
            "--data",
            str(corpus_tarball),
            "--steps",
            "100",
            "--workers",
            "0",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "b.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "use fewer --steps" in proc.stderr
    assert not (tmp_path / "b.json").exists()


def test_the_benchmark_and_cli_modules_load_neither_tensorflow_nor_ray():
    """A bad flag or --out of `toolkit bench` fails before a framework loads: importing the benchmarks
    imports none (TensorFlow and Ray load inside the functions that train)."""
    code = (
        "import sys, toolkit.bench.train, toolkit.bench.scaling, toolkit.bench.infer, toolkit.cli.main; "
        "print(sorted(m for m in ('tensorflow', 'tf_keras', 'ray', 'tf2onnx') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
