"""Connecting to Ray and asking it for workers: the embedded local Ray or a cluster, resource checks,
and the one ``TensorflowTrainer`` factory that training and the benchmark share."""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import socket
import threading
import urllib.parse
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import ray
from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig

from toolkit.config import ClusterConfig
from toolkit.core.environ import ray_logs_wanted
from toolkit.core.errors import ANSI, ClusterError, first_line
from toolkit.core.progress import log

if TYPE_CHECKING:
    from ray.train.tensorflow import TensorflowTrainer


@contextmanager
def ray_session(cluster: ClusterConfig, num_cpus: Optional[int] = None) -> Iterator[None]:
    """Join ``cluster.address``, or start an embedded local Ray bound to 127.0.0.1 (its dashboard too:
    Ray Train's state API needs it); shut down what we started (or disconnect) on the way out, however
    the way out comes (an error, Ctrl-C, SIGTERM: the caller's signal handlers stay in charge, see
    :func:`_init`). ``num_cpus``: the embedded Ray's logical CPUs (default: the machine's cores)."""
    if ray.is_initialized():  # a caller (a test, a notebook) already connected: use it as is
        yield
        return
    # The workers' output (TensorFlow's start-up lines, Ray Train's own reports) reaches the driver only
    # when asked for: RAY_LOG_TO_DRIVER=1. The toolkit's own worker messages come through a queue.
    kwargs: dict = {"logging_level": "WARNING", "log_to_driver": ray_logs_wanted()}
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
        if num_cpus is not None:
            kwargs.update(num_cpus=num_cpus)
    saved_address = os.environ.get("RAY_ADDRESS")
    try:
        _init(kwargs, address or "a new local instance")
        if not address:
            # This process's own lookups of "the" local Ray (the state API, a library's ray.init()) find
            # ours, not another instance on the machine; the workers do the same (``worker.pin_ray_address``).
            os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
        yield
    finally:
        ray.shutdown()
        if saved_address is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = saved_address


def _init(kwargs: dict, where: str) -> None:
    """``ray.init(**kwargs)``, with this process's SIGTERM handler still in charge afterwards, and a
    half-started Ray shut down when init fails or is interrupted.

    ``ray.init`` replaces the SIGTERM handler with its own (``sys.exit(15)``: no message, no clean-up
    by the caller), and Ray's C++ core worker then installs absl's failure handler over it (a
    "*** SIGTERM received ***" stack dump). A SIGTERM while init runs becomes what the caller's handler
    makes of it (the CLI: exit 143 "toolkit: terminated"); afterwards the caller's handler is installed
    again, which also takes SIGTERM back from the C++ handler."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with _ray_auth_notes():
            ray.init(**kwargs)
    except SystemExit as exc:  # Ray's handler: sys.exit(SIGTERM)
        ray.shutdown()
        if main and exc.code == signal.SIGTERM and callable(before):
            signal.signal(signal.SIGTERM, before)
            before(signal.SIGTERM, None)  # the caller's own reaction (the CLI raises its Terminated)
        raise
    except (ConnectionError, RuntimeError, ValueError) as exc:
        ray.shutdown()
        raise ClusterError(f"cannot connect to Ray at {where}: {first_line(exc)}") from None
    except BaseException:
        ray.shutdown()
        raise
    finally:
        if main:
            # the caller's handler if it had one, else Ray's Python one (it cleans up): either way set
            # again, so that the C++ failure handler no longer answers SIGTERM
            handler = before if callable(before) else signal.getsignal(signal.SIGTERM)
            if handler is not None:
                signal.signal(signal.SIGTERM, handler)


_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
_said: set = set()


@contextmanager
def _ray_auth_notes() -> Iterator[None]:
    """Ray's token-authentication warnings during ``ray.init``, said once per process in the toolkit's
    words (Ray's own say it at every start, with a link)."""
    records: list = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(_AUTH_LOGGER)
    keep, propagate = Keep(logging.INFO), logger.propagate
    logger.addHandler(keep)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(keep)
        logger.propagate = propagate
        for record in records:
            if record.levelno >= logging.WARNING:
                _say_once(record.getMessage())


def _say_once(message: str) -> None:
    if message.startswith("Token authentication is enabled"):
        kind = "enabled"
        text = (
            "note: Ray token authentication is on (the token is in ~/.ray/auth_token; a later "
            "'ray start --head' on this machine turns it on too); RAY_AUTH_MODE=disabled opts out"
        )
    elif message.startswith("Token authentication is disabled"):
        kind = "disabled"
        text = (
            "warning: this Ray cluster has no token authentication: anyone who can reach it can run code on "
            "it; set RAY_AUTH_MODE=token (see Ray's token-auth guide)"
        )
    else:
        kind, text = message, f"Ray: {first_line(Exception(message))}"
    if kind not in _said:
        _said.add(kind)
        log(text)


def local_ray_options() -> dict:
    """``ray.init`` options of the embedded local Ray: bound to 127.0.0.1, its dashboard on (Ray Train
    V2's state API needs it), workers with tf_keras selected, TensorFlow as quiet as in the driver
    (``toolkit._tf``), and RAY_ADDRESS pinned to this instance in every worker."""
    env = {
        "env_vars": {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")},
        "worker_process_setup_hook": "toolkit.training.ray.entry.pin_ray_address",
    }
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


def check_resources(cluster: ClusterConfig, streamed: bool = False) -> None:
    """Ray would wait forever for resources that do not exist: refuse such a request at once. Streamed
    training (``streamed``) needs one CPU beyond the workers' for Ray Data's tasks."""
    res = ray.cluster_resources()
    wanted = (("CPU", cluster.worker_cpus), ("GPU", cluster.gpus_per_worker))
    for kind, per_worker in wanted:
        need, have = cluster.workers * per_worker + (1 if streamed and kind == "CPU" else 0), res.get(kind, 0)
        if streamed and kind == "CPU" and need > have:
            raise ClusterError(
                f"streaming prepared data needs a CPU for Ray Data beyond the {cluster.workers} worker(s) x "
                f"{per_worker:g} CPU, the cluster has {have:g} CPU: lower --workers or --cpus-per-worker, or add nodes"
            )
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
    loop: Callable[[dict], None],
    config: dict,
    cluster: ClusterConfig,
    name: str,
    storage: str,
    max_failures: int,
    datasets: Optional[dict] = None,
    callbacks: Sequence = (),
) -> TensorflowTrainer:
    """``loop(config)`` on ``cluster.workers`` workers; checkpoints (the last two kept) under
    ``storage/name``; all workers restarted from the last checkpoint up to ``max_failures`` times;
    ``datasets``: Ray Datasets split between the workers (``ray.train.get_dataset_shard``); ``callbacks``:
    Ray Train callbacks (``toolkit tune``'s ``TuneReportCallback``)."""
    importlib.import_module("toolkit._tf")  # TensorFlow set up (quiet, tf_keras) before Ray's import of it
    from ray.train.tensorflow import TensorflowTrainer

    return TensorflowTrainer(
        loop,
        train_loop_config=config,
        datasets=datasets,
        scaling_config=scaling_config(cluster),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=list(callbacks) or None,
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


# the last line of a Python traceback: "NotADirectoryError: [Errno 20] ..." (a dotted name is allowed)
_CAUSE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure)\b(?::.*)?$")


_REPR = re.compile(r",?\s*repr=<[^<>]*>|<([\w.]+) object at 0x[0-9a-f]+>")


def ray_error_line(exc: BaseException) -> str:
    """One clean line for an error Ray raised: the innermost cause when the message carries a traceback
    (an actor that died in its constructor, a worker's exception: the last ``SomeError: ...`` line),
    else the first line; without terminal colours or object reprs (``<... object at 0x...>``)."""
    lines = [line.strip() for line in ANSI.sub("", str(exc)).splitlines() if line.strip()]
    if len(lines) > 1:
        causes = [line for line in lines[1:] if _CAUSE.match(line)]
        if causes:  # "toolkit.core.errors.ClusterError: ..." -> "ClusterError: ..."
            return _REPR.sub(lambda m: m.group(1) or "", re.sub(r"^(?:\w+\.)+(?=\w+\b)", "", causes[-1], count=1))
    return _REPR.sub(lambda m: m.group(1) or "", first_line(exc))


def streaming_cpus(cluster: ClusterConfig) -> Optional[int]:
    """The embedded Ray's logical CPUs for streamed training: the machine's cores, and at least one
    beyond the workers' for Ray Data (reading shards is light: the core is shared, not idle)."""
    if cluster.address or os.environ.get("RAY_ADDRESS"):
        return None
    return max(os.cpu_count() or 1, cluster.workers * cluster.worker_cpus + 1)
