"""toolkit bench train on a tiny setting: the JSON's shape and sanity, never its speed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
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


def test_scaling_model_matches_a_hand_computed_ring_all_reduce():
    from toolkit.bench.scaling import GRADIENT_BYTES, allreduce_seconds, scaling_table

    assert GRADIENT_BYTES == 853_204  # 213,301 float32
    assert allreduce_seconds(1, 25) == 0.0
    # 16 GPUs on 2 nodes at 25 Gb/s: 2 x 15/16 of the gradient over 3.125 GB/s, plus 30 hops of 25 us
    assert allreduce_seconds(16, 25) == pytest.approx(2 * 15 / 16 * 853_204 / 3.125e9 + 30 * 25e-6)
    rows = scaling_table(0.008, per_gpu_batch=64, reviews=25_000, gpus=(1, 2, 8, 16, 64), gbps=(25, 100))
    assert len(rows) == 10
    one = rows[0]
    assert (
        one["efficiency"] == 1.0
        and one["steps_per_epoch"] == 391
        and one["epoch_seconds"] == pytest.approx(391 * 0.008, abs=0.01)
    )
    for link in (25, 100):
        eff = [r["efficiency"] for r in rows if r["inter_node_gbps"] == link]
        assert eff == sorted(eff, reverse=True) and eff[-1] < eff[0]  # never better with more GPUs
    for r in rows:
        assert r["global_batch"] == 64 * r["gpus"] and r["nodes"] == -(-r["gpus"] // 8)
        assert r["epoch_seconds"] == pytest.approx(r["steps_per_epoch"] * r["step_ms"] / 1000, abs=2e-3)
        assert r["speedup"] == pytest.approx(r["gpus"] * r["efficiency"], abs=0.01)
    slow, fast = (next(r for r in rows if r["gpus"] == 64 and r["inter_node_gbps"] == g) for g in (25, 100))
    assert fast["efficiency"] > slow["efficiency"]


@pytest.mark.slow
def test_bench_scaling_measures_a_step_and_writes_the_table(corpus_tarball, tmp_path):
    out = tmp_path / "scaling.json"
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "bench",
            "scaling",
            "--data",
            str(corpus_tarball),
            "--steps",
            "2",
            "--per-gpu-batch",
            "8",
            "--repeats",
            "1",
            "--gpus",
            "1,16",
            "--gbps",
            "25",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    (seconds,) = report["measured"]["epoch_seconds"]
    assert report["step_ms"] == pytest.approx(1000 * seconds / 2, rel=1e-3)
    assert [(r["gpus"], r["inter_node_gbps"]) for r in report["rows"]] == [(1, 25.0), (16, 25.0)]
    assert report["rows"][0]["step_ms"] == pytest.approx(report["step_ms"], rel=1e-3)
    assert "efficiency" in proc.stdout and "measured on" in proc.stdout
    given = subprocess.run(
        [str(BIN / "toolkit"), "bench", "scaling", "--step-ms", "0", "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert given.returncode == 2 and "positive" in given.stderr and not (tmp_path / "x.json").exists()


class _DiesOnArrival:
    """Unpickled in the benchmark's child process, it ends that process at once (exit code 3)."""

    def __reduce__(self):
        import os

        return (os._exit, (3,))


def _work(texts):
    import numpy as np

    from toolkit.bench.backends import Workload
    from toolkit.config import InferBenchConfig

    return Workload(np.ones((4, 3), np.int32), texts, True, InferBenchConfig(batch_sizes=(2,), reviews=4))


def test_a_benchmark_child_that_dies_is_an_error_at_once_not_a_hang(tmp_path):
    import time

    from toolkit.bench.backends import Backend, run_in_child
    from toolkit.core.errors import BenchError

    start = time.monotonic()
    with pytest.raises(BenchError, match=r"onnx: the benchmark process ended without figures \(exit code 3\)"):
        run_in_child(Backend("onnx", str(tmp_path / "model.onnx"), 0), _work([_DiesOnArrival()]))
    assert time.monotonic() - start < 60
    with pytest.raises(BenchError, match="onnx: ExportError: .* is not a loadable ONNX model"):
        run_in_child(Backend("onnx", str(tmp_path / "model.onnx"), 0), _work([]))  # the child's own error


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
