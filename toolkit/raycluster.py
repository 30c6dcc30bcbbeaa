"""Connecting to Ray and asking it for workers: the embedded local Ray or a cluster, resource checks,
and the one ``TensorflowTrainer`` factory that training and the benchmark share."""

from __future__ import annotations

import os
import socket
import urllib.parse
from contextlib import contextmanager
from typing import Callable, Iterator

import ray
from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
from ray.train.tensorflow import TensorflowTrainer

from .config import ClusterConfig
from .errors import ClusterError, first_line


@contextmanager
def ray_session(cluster: ClusterConfig) -> Iterator[None]:
    """Join ``cluster.address``, or start an embedded local Ray bound to 127.0.0.1 (its dashboard too:
    Ray Train's state API needs it); shut down what we started (or disconnect) on the way out."""
    if ray.is_initialized():  # a caller (a test, a notebook) already connected: use it as is
        yield
        return
    kwargs: dict = {"logging_level": "WARNING", "log_to_driver": True}
    # --address, else RAY_ADDRESS set explicitly (Ray Jobs sets it for a job's driver). Never Ray's
    # current-cluster file: a stale entry there (a 'ray start' without 'ray stop', another user's
    # cluster) made ray.init() join or wait for that cluster.
    address = cluster.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        # A cluster's environment comes from its nodes and the job's runtime_env (cluster/runtime_env.yaml);
        # a second runtime_env here would conflict with a submitted job's.
        check_reachable(address, cluster.start_timeout_s, "--address" if cluster.address else "RAY_ADDRESS")
        kwargs.update(address=address)
    else:
        kwargs.update(address="local", **local_ray_options())  # always a new instance of our own
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a new local instance"
        raise ClusterError(f"cannot connect to Ray at {where}: {first_line(exc)}") from None
    try:
        yield
    finally:
        ray.shutdown()


def local_ray_options() -> dict:
    """``ray.init`` options of the embedded local Ray: bound to 127.0.0.1, its dashboard on (Ray Train
    V2's state API needs it), workers with tf_keras selected and TensorFlow quiet."""
    env = {"env_vars": {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}}
    return {
        "include_dashboard": True,
        "dashboard_host": "127.0.0.1",
        "_node_ip_address": "127.0.0.1",
        "runtime_env": env,
    }


def check_reachable(address: str, timeout_s: float, what: str = "--address") -> None:
    """Fail in seconds, not never, when ``host:port`` / ``ray://host:port`` does not answer."""
    if address == "auto":
        return  # ray.init(address="auto") fails at once when no local cluster is running
    parsed = urllib.parse.urlsplit(address if "://" in address else f"ray://{address}")
    if not parsed.hostname or not parsed.port:
        raise ClusterError(f"bad {what} {address!r}: use 'auto', HOST:PORT or ray://HOST:10001")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=min(timeout_s, 10.0)):
            pass
    except OSError as exc:
        hint = "; unset RAY_ADDRESS to train on a local Ray" if what == "RAY_ADDRESS" else ""
        raise ClusterError(
            f"Ray cluster at {address} ({what}) is unreachable ({exc}): check the address and that the "
            f"head node is up{hint}"
        ) from None


def describe_resources() -> str:
    res = ray.cluster_resources()
    return f"{len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU"


def check_resources(cluster: ClusterConfig) -> None:
    """Ray would wait forever for resources that do not exist: refuse such a request at once."""
    res = ray.cluster_resources()
    wanted = (("CPU", cluster.worker_cpus), ("GPU", cluster.gpus_per_worker))
    for kind, per_worker in wanted:
        need, have = cluster.workers * per_worker, res.get(kind, 0)
        if need > have:
            flag = "--cpus-per-worker" if kind == "CPU" else "--gpus-per-worker"
            raise ClusterError(
                f"asked for {cluster.workers} worker(s) x {per_worker:g} {kind} = {need:g} {kind}, "
                f"the cluster has {have:g}: lower --workers or {flag}, or add nodes"
            )
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    for kind, per_worker in wanted:
        if per_worker and not any(n["Resources"].get(kind, 0) >= per_worker for n in nodes):
            raise ClusterError(f"no single node has {per_worker:g} {kind}: lower --{kind.lower()}s-per-worker")


def scaling_config(cluster: ClusterConfig) -> ScalingConfig:
    """What each worker asks Ray for: ``worker_cpus`` CPUs and ``gpus_per_worker`` GPUs (a fraction
    lets workers share a GPU: Ray gives them the same device)."""
    return ScalingConfig(
        num_workers=cluster.workers,
        use_gpu=cluster.gpus_per_worker > 0,
        resources_per_worker={"CPU": cluster.worker_cpus, "GPU": cluster.gpus_per_worker},
    )


def make_trainer(
    loop: Callable[[dict], None], config: dict, cluster: ClusterConfig, name: str, storage: str, max_failures: int
) -> TensorflowTrainer:
    """``loop(config)`` on ``cluster.workers`` workers; checkpoints (the last two kept) under
    ``storage/name``; all workers restarted from the last checkpoint up to ``max_failures`` times."""
    return TensorflowTrainer(
        loop,
        train_loop_config=config,
        scaling_config=scaling_config(cluster),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )


def collective_line(cluster: ClusterConfig) -> str:
    """The all-reduce choice, as logged at start."""
    if cluster.workers < 2:
        return "one worker: MirroredStrategy over its local devices (no collective between workers)"
    why = {"nccl": "every worker has a GPU of its own", "ring": "workers without a GPU of their own"}
    chosen = cluster.resolved_collective
    reason = f"auto: {why[chosen]}" if cluster.collective == "auto" else "as asked"
    return f"MultiWorkerMirroredStrategy with {chosen.upper()} collectives ({reason})"
