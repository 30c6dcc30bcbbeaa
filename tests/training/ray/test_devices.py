"""Devices per process and per Ray worker, checked on a machine without GPUs: GPU memory growth, the
collective choice, fractional GPUs requested from Ray, and workers seeing only the GPUs Ray gave them
(a Ray instance that declares one GPU, so Ray's scheduling and CUDA_VISIBLE_DEVICES are real)."""

import os
import subprocess
import sys

import pytest

from tests.helpers import BIN
from toolkit.config import ClusterConfig, DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.core.errors import ConfigError


def test_collective_auto_is_nccl_only_when_every_worker_has_a_gpu_of_its_own():
    assert ClusterConfig(workers=2).resolved_collective == "ring"  # CPU workers
    assert ClusterConfig(workers=2, gpus_per_worker=0.5).resolved_collective == "ring"  # two workers per GPU
    assert ClusterConfig(workers=2, gpus_per_worker=1).resolved_collective == "nccl"
    assert ClusterConfig(workers=4, gpus_per_worker=8).resolved_collective == "nccl"
    assert ClusterConfig(workers=2, gpus_per_worker=2, collective="ring").resolved_collective == "ring"
    assert ClusterConfig(workers=2, gpus_per_worker=1, collective="nccl").resolved_collective == "nccl"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": 2, "gpus_per_worker": 0.5, "collective": "nccl"}, "NCCL cannot run two replicas on one GPU"),
        ({"workers": 2, "collective": "nccl"}, "needs a GPU of its own"),
        ({"workers": 2, "gpus_per_worker": 1.5}, "a fraction below 1"),
        ({"workers": 2, "gpus_per_worker": -0.5}, ">= 0"),
        ({"workers": 2, "gpus_per_worker": float("nan")}, ">= 0"),
        ({"workers": 2, "collective": "mpi"}, "unknown collective"),
        ({"workers": 0, "gpus_per_worker": 0.5}, "need --workers >= 1"),
        ({"workers": 2, "cpus_per_worker": 0}, "cpus per worker"),
    ],
)
def test_invalid_device_combinations_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ClusterConfig(**kwargs)


def test_default_cpus_per_worker_feed_gpu_workers():
    assert ClusterConfig(workers=2).worker_cpus == 1
    assert ClusterConfig(workers=2, gpus_per_worker=0.5).worker_cpus == 2
    assert ClusterConfig(workers=2, gpus_per_worker=1).worker_cpus == 2
    assert ClusterConfig(workers=2, gpus_per_worker=4).worker_cpus == 8
    assert ClusterConfig(workers=2, gpus_per_worker=4, cpus_per_worker=3).worker_cpus == 3


def test_fractional_gpus_are_requested_from_ray_as_fractions():
    from toolkit.training.ray.cluster import collective_line, scaling_config

    shared = ClusterConfig(workers=2, gpus_per_worker=0.5)
    sc = scaling_config(shared)
    assert sc.num_workers == 2 and sc.use_gpu
    assert sc.resources_per_worker == {"CPU": 2, "GPU": 0.5}
    assert scaling_config(ClusterConfig(workers=3)).resources_per_worker == {"CPU": 1, "GPU": 0}
    assert not scaling_config(ClusterConfig(workers=3)).use_gpu
    assert "RING collectives (auto: workers without a GPU of their own)" in collective_line(shared)
    assert "NCCL collectives (auto: every worker has a GPU of its own)" in collective_line(
        ClusterConfig(workers=2, gpus_per_worker=1)
    )
    assert "RING collectives (as asked)" in collective_line(
        ClusterConfig(workers=2, gpus_per_worker=1, collective="ring")
    )


@pytest.mark.slow
@pytest.mark.parametrize("setting, expected", [(None, "True true"), ("false", "False false")])
def test_gpu_memory_growth_is_on_unless_turned_off(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_FORCE_GPU_ALLOW_GROWTH"}
    if setting is not None:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = setting
    code = (
        "import os; from toolkit._tf import tf, MEMORY_GROWTH\n"
        "gpus = tf.config.list_physical_devices('GPU')\n"
        "assert all(tf.config.experimental.get_memory_growth(g) == MEMORY_GROWTH for g in gpus), gpus\n"
        "print(MEMORY_GROWTH, os.environ['TF_FORCE_GPU_ALLOW_GROWTH'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == expected


def test_gpu_flags_on_the_command_line(tmp_path, corpus_tarball):
    from toolkit.cli.commands import job_from_args
    from toolkit.cli.main import build_parser

    args = build_parser().parse_args(["train", "--workers", "2", "--gpus-per-worker", "0.5", "--collective", "ring"])
    cluster = job_from_args(args).cluster
    assert cluster.gpus_per_worker == 0.5 and cluster.collective == "ring" and cluster.worker_cpus == 2
    bad = subprocess.run(
        [str(BIN / "toolkit"), "train", "--workers", "2", "--gpus-per-worker", "1.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "fraction below 1" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    nccl = subprocess.run(
        [
            str(BIN / "toolkit"),
            "train",
            "--data",
            str(corpus_tarball),
            "--workers",
            "2",
            "--collective",
            "nccl",
            "--exports-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nccl.returncode == 1 and "Traceback" not in nccl.stderr
    assert nccl.stderr.strip().splitlines() == [
        "toolkit: error: --collective nccl needs a GPU of its own for every worker (--gpus-per-worker 1 or more): "
        "NCCL cannot run two replicas on one GPU; use --collective ring or auto"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # the Ray tests run one after another on one xdist worker
def test_ray_workers_see_only_the_gpus_they_asked_for(real_tarball, real_cache, tmp_path, monkeypatch):
    """On a Ray instance that declares one GPU: two workers asking for 0.5 GPU each are both scheduled
    on it (Ray sets CUDA_VISIBLE_DEVICES=0 in both) and train in sync over RING collectives. (Workers
    asking for no GPU on a Ray that declares one: test_driver's two-node test.)"""
    import ray

    from toolkit.training.ray.cluster import local_ray_options
    from toolkit.training.ray.driver import train_on_ray

    def configs(name):
        return (
            DataConfig(path=str(real_tarball), cache_dir=real_cache, limit=200, maxlen=50),
            ModelConfig(maxlen=50),
            TrainConfig(epochs=1, run_name=name, exports_dir=str(tmp_path / "exports")),
        )

    # Ray maps the GPU ids it assigns through this process's CUDA_VISIBLE_DEVICES: unset here, whatever
    # the shell running the tests set
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    try:
        ray.init(num_cpus=2, num_gpus=1, logging_level="WARNING", **local_ray_options())
        shared = train_on_ray(
            JobConfig(
                *configs("shared"),
                ClusterConfig(workers=2, gpus_per_worker=0.5, cpus_per_worker=1, storage=str(tmp_path / "storage")),
            )
        )
    finally:
        ray.shutdown()
    m = shared.metrics
    assert m["replicas"] == 2 and m["collective"] == "ring" and m["cluster"]["gpus_per_worker"] == 0.5
    assert [w["worker"] for w in m["worker_devices"]] == [0, 1]
    assert all(w["gpu_ids"] == ["0"] and w["cuda_visible_devices"] == "0" for w in m["worker_devices"]), m[
        "worker_devices"
    ]
