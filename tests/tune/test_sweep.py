"""toolkit tune on real Ray Tune and the real reviews: a tiny sweep writes its tables, figure and best
settings (which toolkit train takes), a sweep whose driver died resumes, trials as Ray Train runs; bad
ranges are one-line errors before any trial."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import BIN, error_line, run_cli

STARTS_RAY = pytest.mark.xdist_group("ray")  # one after another with the other Ray tests (--dist loadgroup)
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _tiny(real_tarball, real_cache, tmp_path, *extra):
    return [
        "tune",
        "--data",
        str(real_tarball),
        "--cache-dir",
        real_cache,
        "--limit",
        "200",
        "--maxlen",
        "60",
        "--epochs",
        "2",
        "--exports-dir",
        str(tmp_path / "exports"),
        *extra,
    ]


BAD_RANGES = [
    (["--tune-batch-size", "64..512"], "argument --tune-batch-size: give choices (such as 64,256,512), not a range"),
    (["--tune-learning-rate", "0..0.01"], "a log-uniform range needs LOW > 0, got 0..0.01"),
    (["--tune-learning-rate", "0.01..0.001"], "a range LOW..HIGH needs LOW below HIGH, got 0.01..0.001"),
    (["--tune-dropout", "fast"], "expected LOW..HIGH or A,B,C (such as 0.0005..0.005 or 0.001,0.002), got 'fast'"),
    (["--tune-dropout", "0.1..1.5"], "--tune-dropout 0.1..1.5: dropout must be in [0, 1), got 1.5"),
    (["--tune-clipnorm=-1,1"], "--tune-clipnorm -1,1: clipnorm must be a finite number >= 0"),
    (["--tune-warmup-epochs", "0,5"], "--tune-warmup-epochs 0,5: warm-up epochs must be between 0 and the epochs (2)"),
    (["--tune-batch-size", "0,64"], "--tune-batch-size 0,64: batch size must be >= 1, got 0"),
    (["--grace-epochs", "3"], "--grace-epochs 3 is more than the --epochs 2"),
    (["--trials", "0"], "argument --trials: must be at least 1, got 0"),
    (["--stream"], "--stream does not apply to toolkit tune"),
]


@pytest.mark.parametrize("flags,message", BAD_RANGES)
def test_bad_ranges_are_one_line_errors_before_any_trial(tmp_path, real_tarball, flags, message):
    start = time.monotonic()
    proc = run_cli(*_tiny(real_tarball, str(tmp_path / "cache"), tmp_path, *flags))
    assert message in error_line(proc), proc.stderr
    assert time.monotonic() - start < 60  # no data read, no Ray: a mistake costs seconds
    assert "Ray" not in proc.stderr and not (tmp_path / "exports").exists()


def _rows(folder: Path) -> list:
    with open(folder / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@STARTS_RAY
def test_a_tiny_sweep_writes_its_results_and_its_best_settings_train_again(real_tarball, real_cache, tmp_path):
    args = _tiny(real_tarball, real_cache, tmp_path, "--trials", "4", "--max-concurrent", "2", "--name", "s")
    args += ["--tune-learning-rate", "0.001..0.01", "--tune-batch-size", "32,64", "--tune-dropout", "0.1,0.3"]
    proc = subprocess.run([str(BIN / "toolkit"), *args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "exports" / "s"
    (line,) = proc.stdout.splitlines()  # stdout is the result line only (Ray Tune's banners go to stderr)
    assert line.startswith(f"{out}\tbest val_accuracy ") and line.endswith(str(out / "best.toml"))
    assert sorted(p.name for p in out.iterdir()) == [
        "best.toml",
        "results.csv",
        "results.md",
        "sweep.json",
        "trials.png",
    ]
    rows = _rows(out)
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert {r["status"] for r in rows} <= {"completed", "stopped early"} and rows[0]["status"] == "completed"
    for r in rows:
        assert 0.001 <= float(r["learning_rate"]) <= 0.01 and r["batch_size"] in ("32", "64")
        assert r["dropout"] in ("0.1", "0.3") and 0 <= float(r["val_accuracy"]) <= 1
        assert int(r["epochs"]) == (2 if r["status"] == "completed" else 1)
    completed = [float(r["val_accuracy"]) for r in rows if r["status"] == "completed"]
    assert float(rows[0]["val_accuracy"]) == max(completed)
    assert "test" not in json.dumps(json.loads((out / "sweep.json").read_text())["trials"])  # never the test split
    assert (out / "trials.png").read_bytes().startswith(b"\x89PNG")
    md = (out / "results.md").read_text()
    assert "| rank | learning_rate | batch_size | dropout |" in md and md.count("\n| ") == 6
    assert f"val_accuracy {float(rows[0]['val_accuracy']):.4f}" in line
    assert "trial 1/4 (" in proc.stderr and "epoch 1/2 val_accuracy" in proc.stderr
    best = tomllib.loads((out / "best.toml").read_text())
    assert best["train"]["learning_rate"] == float(rows[0]["learning_rate"])
    assert best["train"]["batch_size"] == int(rows[0]["batch_size"]) and "run_name" not in best["train"]
    assert best["train"]["dropout"] == float(rows[0]["dropout"]) and best["data"]["validation_fraction"] == 0.1

    again = subprocess.run(
        [str(BIN / "toolkit"), "train", "--config", str(out / "best.toml"), "--run-name", "best", "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    config = json.loads((tmp_path / "exports" / "best" / "config.json").read_text())
    assert config["train"]["learning_rate"] == best["train"]["learning_rate"] and config["train"]["epochs"] == 1
    assert config["train"]["batch_size"] == best["train"]["batch_size"]
    assert config["model"]["dropout"] == best["train"]["dropout"]

    refused = subprocess.run([str(BIN / "toolkit"), *args], capture_output=True, text=True, timeout=120)
    assert "--overwrite" in error_line(refused) and "sweep folder" in error_line(refused)
    # --overwrite starts afresh (the earlier experiment removed), with the new settings
    fresh = [str(BIN / "toolkit"), *args, "--overwrite", "--trials", "2", "--max-concurrent", "1"]
    fresh = subprocess.run(fresh, capture_output=True, text=True, timeout=900)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "--overwrite: removed the earlier sweep in " in fresh.stderr and "resuming" not in fresh.stderr
    assert len(_rows(out)) == 2


def _wait_for_a_finished_trial(experiment: Path, timeout: float = 400) -> None:
    """Until Ray Tune's experiment state records a trial as TERMINATED (what a restore keeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in experiment.glob("experiment_state-*.json"):
            if '\\"status\\": \\"TERMINATED\\"' in state.read_text(errors="replace"):
                return
        time.sleep(0.2)
    raise AssertionError(f"no finished trial recorded in {experiment} after {timeout} s")


@pytest.mark.slow
@STARTS_RAY
def test_a_sweep_whose_driver_died_resumes_from_its_storage(real_tarball, real_cache, tmp_path):
    """The driver and its Ray killed after the first trial finished; the same command again restores
    the experiment: the finished trial is kept (not trained again), the others run, the results have all."""
    args = _tiny(real_tarball, real_cache, tmp_path, "--trials", "3", "--name", "r", "--storage", str(tmp_path / "st"))
    args += ["--tune-learning-rate", "0.001..0.01"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    first = subprocess.Popen(
        [str(BIN / "toolkit"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        _wait_for_a_finished_trial(tmp_path / "st" / "r")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert not (tmp_path / "exports" / "r").exists()
    second = subprocess.run([str(BIN / "toolkit"), *args], capture_output=True, text=True, timeout=900, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming the sweep in " in second.stderr
    rows = _rows(tmp_path / "exports" / "r")
    assert len(rows) == 3 and all(r["status"] in ("completed", "stopped early") for r in rows)
    trained_again = second.stderr.count(": epoch ")
    assert trained_again < sum(int(r["epochs"]) for r in rows)  # the finished trial's epochs were not rerun
    # the same name with other settings is refused (Tune would mix the old trials with the new settings)
    (tmp_path / "exports" / "r" / "results.csv").rename(tmp_path / "kept.csv")
    for path in (tmp_path / "exports" / "r").iterdir():
        path.unlink()
    (tmp_path / "exports" / "r").rmdir()
    other = subprocess.run([str(BIN / "toolkit"), *args, "--trials", "4"], capture_output=True, text=True, timeout=300)
    assert "was started with other settings (search.trials 3 -> 4)" in error_line(other)


@pytest.mark.slow
@STARTS_RAY
def test_trial_resources_no_node_has_are_refused_at_once(real_tarball, real_cache, tmp_path):
    for flags, message in ((["--trial-cpus", "64"], "--trial-cpus 64: no node has 64 CPUs"),
                           (["--trial-gpus", "64"], "--trial-gpus 64: no node has 64 GPUs")):  # fmt: skip
        proc = run_cli(*_tiny(real_tarball, real_cache, tmp_path, "--trials", "1", *flags))
        assert message in error_line(proc)
    assert not list((tmp_path / "exports").glob("tune-*"))


@pytest.mark.slow
@STARTS_RAY
def test_trials_as_ray_train_runs_of_workers(real_tarball, real_cache, tmp_path):
    args = _tiny(real_tarball, real_cache, tmp_path, "--trials", "2", "--name", "w", "--workers", "1")
    args += ["--tune-learning-rate", "0.001..0.005", "--storage", str(tmp_path / "st")]
    proc = subprocess.run([str(BIN / "toolkit"), *args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(tmp_path / "exports" / "w")
    rates = {float(r["learning_rate"]) for r in rows}
    assert len(rates) == 2 and all(0.001 <= r <= 0.005 for r in rates)
    assert all(r["status"] == "completed" and r["epochs"] == "2" for r in rows)
    # each trial was a Ray Train run with checkpoints of its own inside the sweep's experiment folder
    assert len([p for p in (tmp_path / "st" / "w").iterdir() if p.name.startswith("train-")]) == 2
