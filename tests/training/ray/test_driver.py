"""training.ray.driver on real Ray: a killed driver resumed (past a stale cluster file), two Ray nodes, a Ray Jobs
round trip, resource errors, replication over logical CPU devices. A worker killed by SIGKILL and resumed:
tests/training/ray/test_s3.py (streamed from object storage)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import BIN, REPO
from toolkit.config import ClusterConfig, DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.edge.contract import RUN_FILES

pytestmark = pytest.mark.slow  # Ray and training
# the tests that start Ray run one after another on one pytest-xdist worker (--dist loadgroup)
STARTS_RAY = pytest.mark.xdist_group("ray")


def _configs(real_tarball, real_cache, tmp_path, name, limit=2000, maxlen=100, epochs=2, **data):
    return (
        DataConfig(path=str(real_tarball), cache_dir=real_cache, limit=limit, maxlen=maxlen, **data),
        ModelConfig(maxlen=maxlen),
        TrainConfig(epochs=epochs, run_name=name, exports_dir=str(tmp_path / "exports")),
    )


def _wait_for_checkpoint(storage: Path, name: str, timeout: float = 240) -> None:
    """Until Ray Train has *registered* the epoch-1 checkpoint (its checkpoint manager's snapshot names
    it): a checkpoint folder on disk is not enough, a failure before registration loses it. The
    controller registers at its next poll (every 2 s), so epoch 2 must last well beyond that: with 600
    reviews of 50 tokens it took 1.1 s and was registered before the kill came (tried)."""
    snapshot = storage / name / "checkpoint_manager_snapshot.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if snapshot.is_file() and "epoch-001" in snapshot.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"no registered checkpoint in {snapshot} after {timeout} s")


@STARTS_RAY
def test_rerunning_after_the_driver_died_resumes_only_with_the_same_settings(real_tarball, real_cache, tmp_path):
    """The driver (and the embedded Ray it started) killed during epoch 2; the same command again resumes
    from the epoch-1 checkpoint, and the command with other settings is refused. A dead address in Ray's
    current-cluster file (a 'ray start' without 'ray stop') is never joined: the embedded Ray is new."""
    from ray._common.utils import get_ray_address_file

    exports, storage = tmp_path / "exports", tmp_path / "storage"
    cmd = [
        str(BIN / "toolkit"),
        "train",
        "--data",
        str(real_tarball),
        "--cache-dir",
        real_cache,
        "--limit",
        "2000",
        "--maxlen",
        "100",
        "--epochs",
        "2",
        "--workers",
        "2",
        "--storage",
        str(storage),
        "--run-name",
        "resume",
        "--exports-dir",
        str(exports),
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cluster_file = Path(get_ray_address_file(None))
    saved = cluster_file.read_text() if cluster_file.exists() else None
    cluster_file.parent.mkdir(parents=True, exist_ok=True)
    cluster_file.write_text("127.0.0.1:9")
    try:
        first = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
        )
        try:
            _wait_for_checkpoint(storage, "resume")
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # the driver and the Ray it started die mid-epoch 2
            first.wait()
        assert not (exports / "resume").exists()
        other = subprocess.run(cmd + ["--learning-rate", "0.01"], capture_output=True, text=True, timeout=400, env=env)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    finally:
        if saved is None:
            cluster_file.unlink(missing_ok=True)
        else:
            cluster_file.write_text(saved)
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert other.stderr.strip().splitlines()[-1].startswith("toolkit: error: the checkpoints in ")
    assert "trained with other settings (train.learning_rate 0.001 -> 0.01)" in other.stderr
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from the epoch-1 checkpoint" in second.stderr
    metrics = json.loads((exports / "resume" / "metrics.json").read_text())
    assert metrics["restarts"] == 1 and metrics["resumes"][0]["from_epoch"] == 1
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]


@STARTS_RAY
def test_two_ray_nodes_on_one_machine(real_tarball, real_cache, tmp_path, monkeypatch):
    """A worker on each node of a two-node Ray; the head declares a GPU that the workers did not ask for,
    and neither sees it (CUDA_VISIBLE_DEVICES emptied before TensorFlow loads)."""
    import ray
    from ray.cluster_utils import Cluster
    from ray.util.state import list_actors

    from toolkit.training.ray.driver import train_on_ray

    # a port of its own: Ray's default 8265 may still be held by the dashboard of a Ray killed just before
    head = {"num_cpus": 1, "num_gpus": 1, "include_dashboard": True, "dashboard_port": _free_port()}
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # whatever the shell running the tests set
    cluster = Cluster(initialize_head=True, head_node_args=head)
    cluster.add_node(num_cpus=1)
    try:
        result = train_on_ray(
            JobConfig(
                *_configs(real_tarball, real_cache, tmp_path, "nodes", limit=600, maxlen=50, epochs=1),
                ClusterConfig(workers=2, address=cluster.address, storage=str(tmp_path / "storage")),
            )
        )
        m = result.metrics
        assert m["replicas"] == 2 and m["collective"] == "ring" and (result.run_dir / "model.keras").is_file()
        devices = m["worker_devices"]
        assert all(w["gpu_ids"] == [] and w["cuda_visible_devices"] == "" for w in devices), devices
        assert all("GPU" not in w["devices"] for w in devices)
        ray.init(address=cluster.address)
        workers = list_actors(address=cluster.address, filters=[("class_name", "=", "RayTrainWorker")], detail=True)
        assert len({w["node_id"] for w in workers}) == 2  # one worker on each node
    finally:
        ray.shutdown()
        cluster.shutdown()


@STARTS_RAY
def test_ray_jobs_round_trip_with_the_runtime_env(real_tarball, tmp_path):
    import secrets

    from toolkit.bench.layouts import imdb_reviews, write_stars_jsonl

    stars = write_stars_jsonl(imdb_reviews(real_tarball, per_split=100), tmp_path / "stars")

    # token authentication, as on a real cluster: the head and the submitting client share the token
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    ray_cli = str(BIN / "ray")
    port, dash = _free_port(), _free_port()
    start = subprocess.run(
        [
            ray_cli,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dash),
            "--num-cpus",
            "2",
            "--temp-dir",
            "/tmp/ray",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert start.returncode == 0, start.stderr
    try:
        exports = tmp_path / "exports"
        submit_cmd = [
            ray_cli,
            "job",
            "submit",
            "--address",
            f"http://127.0.0.1:{dash}",
            "--submission-id",
            "toolkit-test",
            "--runtime-env",
            str(REPO / "cluster" / "runtime_env.yaml"),
            "--",
            "toolkit",
            "train",
            "--address",
            "auto",
            "--workers",
            "1",
            "--data",
            str(stars),  # users' own data: 8 star classes in JSON lines, a Dense(8, softmax) head on Ray
            "--maxlen",
            "50",
            "--epochs",
            "1",
            "--exports-dir",
            str(exports),
            "--run-name",
            "job",
        ]
        # the head's job agent registers some seconds after `ray start` returns (longer on a busy machine);
        # until then a submission is refused with "No available agent" and no job is created
        deadline = time.monotonic() + 120
        while True:
            submit = subprocess.run(submit_cmd, env=env, capture_output=True, text=True, timeout=400)
            if "No available agent" not in submit.stderr or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
        # in a fresh process: Ray caches the auth token of the first cluster a process talked to
        status = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from ray.job_submission import JobSubmissionClient; "
                "print(JobSubmissionClient(sys.argv[1]).get_job_status('toolkit-test').value)",
                f"http://127.0.0.1:{dash}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.stdout.strip() == "SUCCEEDED", status.stderr[-2000:]
        assert sorted(p.name for p in (exports / "job").iterdir()) == sorted(RUN_FILES)  # config.toml, curves, events
        assert json.loads((exports / "job" / "metrics.json").read_text())["mode"] == "ray"
        classes = json.loads((exports / "job" / "config.json").read_text())["model"]["classes"]
        assert classes == ["1", "2", "3", "4", "7", "8", "9", "10"]
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@STARTS_RAY
def test_too_many_gpus_is_a_clear_error_not_a_hang(tmp_path, corpus_tarball):
    import re

    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "train",
            "--data",
            str(corpus_tarball),
            "--workers",
            "2",
            "--gpus-per-worker",
            "512",
            "--cpus-per-worker",
            "1",
            "--exports-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    found = re.search(r"asked for 2 worker\(s\) x 512 GPU = 1024 GPU, the cluster has (\d+)", proc.stderr)
    assert found and int(found.group(1)) < 1024, proc.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir() if p.name != "ray"] == []  # no run folder written


def test_unreachable_address_is_a_clear_error(tmp_path, corpus_tarball):
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "train",
            "--data",
            str(corpus_tarball),
            "--workers",
            "1",
            "--address",
            "127.0.0.1:9",
            "--exports-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("toolkit: error: Ray cluster at 127.0.0.1:9 (--address) is unreachable (")
    assert error.endswith("check the address and that the head node is up"), error
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("imdb-lstm")]  # no run folder, no checkpoints


def test_one_worker_replicates_over_logical_cpu_devices(corpus_tarball, tmp_path):
    """The code path of one worker with several GPUs: MirroredStrategy over the local devices."""
    code = textwrap.dedent(f"""
        from toolkit._tf import tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from toolkit.config import DataConfig, JobConfig, TrainConfig
        from toolkit.training.local import train
        data = DataConfig(path={str(corpus_tarball)!r}, num_words=40, maxlen=20)
        r = train(JobConfig(data, train=TrainConfig(epochs=1, batch_size=8, run_name="split",
                                                    exports_dir={str(tmp_path)!r})))
        print("REPLICAS", r.metrics["replicas"])
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # on a GPU machine too: the CPU split is what is tested
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REPLICAS 2" in proc.stdout
    assert (
        "2 replica(s) (/job:localhost/replica:0/task:0/device:CPU:0, /job:localhost/replica:0/task:0/device:CPU:1)"
        in proc.stderr
    )


def test_a_dead_ray_address_in_the_environment_is_a_clear_error(corpus_tarball, tmp_path):
    start = time.monotonic()
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "train",
            "--data",
            str(corpus_tarball),
            "--workers",
            "1",
            "--exports-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RAY_ADDRESS": "127.0.0.1:9"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("toolkit: error: Ray cluster at 127.0.0.1:9 (RAY_ADDRESS) is unreachable")
    )
    assert time.monotonic() - start < 60
    assert [p.name for p in tmp_path.iterdir()] == []
