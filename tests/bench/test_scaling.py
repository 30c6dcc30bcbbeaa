"""bench.scaling: the modelled all-reduce against a hand computation, and a measured step."""

import json
import subprocess

import pytest

from tests.helpers import BIN


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
