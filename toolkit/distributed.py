"""Ray Train: data-parallel training of the seed LSTM over N workers. The only module that imports ray.

The driver (:func:`train_on_ray`) loads and encodes the reviews once, puts the arrays in Ray's object
store (no shared file system needed for data), starts a ``TensorflowTrainer`` and prints each epoch's
metrics as they arrive. Each worker (:func:`worker_loop`):

1. creates its strategy before any other TensorFlow op: ``MultiWorkerMirroredStrategy`` across the
   workers (each worker replicating over its own GPUs), or, with a single worker, ``MirroredStrategy``
   over its local devices;
2. builds and compiles the model inside the strategy's scope (``tf_keras``: Keras 3 fails here);
3. resumes from ``ray.train.get_checkpoint()`` when there is one: weights, optimizer state, epoch;
4. trains on its share of every global batch (``train.train_input``: length buckets, or the
   tutorial's batches with ``AutoShardPolicy.DATA``); the global batch is ``--batch-size``, each
   of the R replicas in sync gets ``batch_size / R`` of it;
5. after every epoch reports the metrics; rank 0 attaches a checkpoint.

``FailureConfig(max_failures)`` restarts all workers after a worker dies; they resume from the last
checkpoint. Re-running with the same ``--storage`` and run name after the driver died resumes too.
The driver then rebuilds the model from the final checkpoint and writes the same run folder as
single-process training.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import ray
import ray.train
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.tensorflow import TensorflowTrainer
from ray.train.v2.api.config import LoggingConfig
from ray.util.queue import Empty, Queue

from .config import ClusterConfig, DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from .data import ImdbData, load_imdb
from .errors import ToolkitError, TrainingDiverged, first_line
from .progress import log
from .rundir import check_writable, run_path

WEIGHTS_FILE = "weights.npz"
STATE_FILE = "state.json"


class ClusterError(ToolkitError):
    """The Ray cluster is unreachable, too small for the request, or training failed on it."""


# --- the driver --------------------------------------------------------------------------------
def train_on_ray(
    data_cfg: DataConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    cluster: ClusterConfig,
    data: Optional[ImdbData] = None,
):
    """Train on ``cluster.workers`` Ray workers and write the run folder; returns a ``TrainResult``."""
    from .train import check_shapes, finish_run  # TensorFlow on the driver: evaluation and saving

    if cluster.workers < 1:
        raise ClusterError("train_on_ray needs workers >= 1 (workers 0 is single-process training)")
    out = run_path(train_cfg.exports_dir, train_cfg.run_name)
    train_cfg = replace(train_cfg, run_name=out.name)  # a fixed name: re-running the command resumes
    check_writable(out, train_cfg.overwrite)
    data = data if data is not None else load_imdb(data_cfg)
    log(data.summary())
    check_shapes(data, model_cfg)
    storage = storage_path(cluster, train_cfg)
    fingerprint = settings_fingerprint(model_cfg, train_cfg, data)
    ray_name = prepare_checkpoints(storage, train_cfg.run_name, fingerprint, train_cfg.overwrite)

    start = time.perf_counter()
    with ray_session(cluster):
        log(f"Ray ready in {time.perf_counter() - start:.1f} s: {describe_resources()}")
        check_resources(cluster)
        progress = Queue(actor_options={"num_cpus": 0})
        trainer = TensorflowTrainer(
            worker_loop,
            train_loop_config={
                "model": to_dict(model_cfg),
                "train": to_dict(train_cfg),
                "cpus_per_worker": cluster.worker_cpus,
                "collective": cluster.resolved_collective,
                "fingerprint": fingerprint,
                "x_train": ray.put(data.train.x),
                "y_train": ray.put(data.train.y),
                "progress": progress,
            },
            scaling_config=scaling_config(cluster),
            run_config=RunConfig(
                name=ray_name,
                storage_path=storage,
                failure_config=FailureConfig(max_failures=cluster.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=2),
                logging_config=LoggingConfig(log_level="WARNING"),
            ),
        )
        log(
            f"training on {cluster.workers} Ray worker(s) x {cluster.worker_cpus} CPU"
            f"{f' x {cluster.gpus_per_worker:g} GPU' if cluster.gpus_per_worker else ''}; {collective_line(cluster)}; "
            f"checkpoints in {storage}/{ray_name}"
        )
        result, worker_devices = _fit_with_progress(trainer, progress, train_cfg.epochs)
        if result.checkpoint is None:
            raise ClusterError("training finished without a checkpoint: see the worker logs above")
        with result.checkpoint.as_directory() as folder:
            weights, _, state = read_state(Path(folder))
        train_seconds = time.perf_counter() - start

    from .model import build_model, compile_model

    model = compile_model(build_model(model_cfg), train_cfg)  # compiled: evaluation needs the loss
    model.set_weights(weights)
    run_info = {
        "mode": "ray",
        "workers": cluster.workers,
        "replicas": state["replicas"],
        "collective": cluster.resolved_collective if cluster.workers > 1 else None,
        "worker_devices": worker_devices,
        "restarts": len(state["resumes"]),
        "resumes": state["resumes"],
        "train_seconds": round(train_seconds, 3),
        "cluster": {k: v for k, v in to_dict(cluster).items() if k != "start_timeout_s"} | {"storage": storage},
    }
    return finish_run(model, data, (data_cfg, model_cfg, train_cfg), state["history"], run_info, out)


def scaling_config(cluster: ClusterConfig) -> ScalingConfig:
    """What each worker asks Ray for: ``worker_cpus`` CPUs and ``gpus_per_worker`` GPUs (a fraction
    lets workers share a GPU: Ray gives them the same device)."""
    return ScalingConfig(
        num_workers=cluster.workers,
        use_gpu=cluster.gpus_per_worker > 0,
        resources_per_worker={"CPU": cluster.worker_cpus, "GPU": cluster.gpus_per_worker},
    )


def collective_line(cluster: ClusterConfig) -> str:
    """The all-reduce choice, as logged at start."""
    if cluster.workers < 2:
        return "one worker: MirroredStrategy over its local devices (no collective between workers)"
    why = {"nccl": "every worker has a GPU of its own", "ring": "workers without a GPU of their own"}
    chosen = cluster.resolved_collective
    reason = f"auto: {why[chosen]}" if cluster.collective == "auto" else "as asked"
    return f"MultiWorkerMirroredStrategy with {chosen.upper()} collectives ({reason})"


def settings_fingerprint(model_cfg: ModelConfig, train_cfg: TrainConfig, data: ImdbData) -> dict:
    """What a checkpoint must have been trained with to be resumed: the model, the settings that shape
    the optimisation, and the data (--epochs may grow: resuming then trains the extra epochs)."""
    train = to_dict(train_cfg)
    return {
        "model": to_dict(model_cfg),
        "train": {k: train[k] for k in ("batch_size", "learning_rate", "clipnorm", "seed", "length_buckets")},
        "data": {"source_sha256": data.source_sha256, "train_reviews": len(data.train)},
    }


def prepare_checkpoints(storage: str, run_name: str, fingerprint: dict, overwrite: bool) -> str:
    """The Ray Train run name to use under ``storage``. A local checkpoint folder left by an earlier
    attempt is resumed only if it was trained with the same settings (a mismatch is an error);
    ``overwrite`` removes it (only if it is Ray Train's) so training starts afresh. Remote storage
    (``s3://`` ...) is checked by the workers when they resume; ``overwrite`` gives it a fresh name."""
    if "://" in storage:
        return f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}" if overwrite else run_name
    folder = Path(storage) / run_name
    if not folder.exists():
        return run_name
    if overwrite:
        if not ((folder / "checkpoint_manager_snapshot.json").exists() or any(folder.glob("epoch-*"))):
            raise ClusterError(
                f"{folder} is not a Ray Train checkpoint folder: refusing to remove it for --overwrite; "
                "choose another --storage or --run-name"
            )
        shutil.rmtree(folder)
        log(f"--overwrite: removed the earlier checkpoints in {folder}")
        return run_name
    states = sorted(folder.glob(f"epoch-*/{STATE_FILE}"))
    if states:
        try:
            previous = json.loads(states[-1].read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            previous = None
        mismatch = fingerprint_difference(previous, fingerprint)
        if mismatch:
            raise ClusterError(
                f"the checkpoints in {folder} were trained with other settings ({mismatch}): pass the same "
                "settings to resume, or --overwrite to start afresh"
            )
    return run_name


def fingerprint_difference(previous: Optional[dict], current: dict) -> str:
    """``""`` when equal; else the settings that differ, in words."""
    if previous == current:
        return ""
    if not isinstance(previous, dict):
        return "the checkpoint records no settings"
    diffs = []
    for group, values in current.items():
        old = previous.get(group, {}) if isinstance(previous.get(group), dict) else {}
        diffs += [f"{group}.{k} {old.get(k)!r} -> {v!r}" for k, v in values.items() if old.get(k) != v]
    return ", ".join(diffs) or "settings differ"


def storage_path(cluster: ClusterConfig, train_cfg: TrainConfig) -> str:
    """Where checkpoints go: ``--storage`` (a path or a URI such as s3://...) or ``<exports>/ray``."""
    if cluster.storage and "://" in cluster.storage:
        return cluster.storage
    return str(Path(cluster.storage or Path(train_cfg.exports_dir) / "ray").expanduser().resolve())


def _fit_with_progress(trainer: TensorflowTrainer, progress: Queue, epochs: int):
    """Run ``trainer.fit()`` in a thread; print rank 0's epoch rows and every worker's devices as they
    arrive. Returns ``(result, [each worker's devices row])``."""
    from .train import epoch_line

    outcome: dict = {}
    devices: dict = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=fit, name="ray-train-fit", daemon=True)
    thread.start()
    while thread.is_alive() or not progress.empty():
        try:
            row = progress.get(timeout=0.5)
        except Empty:
            continue
        if "diverged" in row:
            outcome["diverged"] = row["diverged"]
        elif "worker" in row:
            devices[(row["worker"], row["start"])] = row
            log(
                f"[worker {row['worker']}/{row['world']}] devices: {row['devices']}; CUDA_VISIBLE_DEVICES="
                f"{row['cuda_visible_devices']!r}; {row['replicas']} replica(s) in sync; per-replica batch {row['per_replica_batch']}"
            )
        elif "epoch_progress" in row:
            log(
                f"epoch {row['epoch_progress']}/{epochs}: {row['batch'] / row['steps']:.0%} ({row['batch']}/{row['steps']} batches)"
            )
        elif "resumed_from_epoch" in row:
            log(f"resuming from the epoch-{row['resumed_from_epoch']} checkpoint (restart {row['restart']})")
        else:
            log(epoch_line(row, epochs))
    thread.join()
    if "diverged" in outcome:
        raise TrainingDiverged(outcome["diverged"])
    if "error" in outcome:
        exc = outcome["error"]
        raise ClusterError(f"Ray training failed: {first_line(exc)}") from exc
    latest = {}
    for (rank, _), row in sorted(devices.items(), key=lambda kv: kv[0][1]):
        latest[rank] = row  # after a restart, the devices of the last attempt
    return outcome["result"], [latest[r] for r in sorted(latest)]


# --- connecting to Ray ------------------------------------------------------------------------
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
        raise ClusterError(f"cannot connect to Ray at {address or 'a new local instance'}: {first_line(exc)}") from None
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
        raise ClusterError(
            f"Ray cluster at {address} ({what}) is unreachable ({exc}): check the address and that the "
            "head node is up" + ("; unset RAY_ADDRESS to train on a local Ray" if what == "RAY_ADDRESS" else "")
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


# --- checkpoints ------------------------------------------------------------------------------
def write_state(folder: Path, model, state: dict) -> None:
    """Weights, optimizer state and the run's bookkeeping (epoch, history, resumes)."""
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
    np.savez(folder / WEIGHTS_FILE, **arrays)
    (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def read_state(folder: Path) -> tuple[list, list, dict]:
    with np.load(folder / WEIGHTS_FILE) as z:
        weights = [z[f"w{i}"] for i in range(sum(k.startswith("w") for k in z.files))]
        optimizer = [z[f"o{i}"] for i in range(sum(k.startswith("o") for k in z.files))]
    return weights, optimizer, json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))


# --- the worker ---------------------------------------------------------------------------------
def hide_unrequested_gpus() -> str:
    """A worker that Ray gave no GPU sees none (Ray 2.60 no longer hides them): CUDA_VISIBLE_DEVICES
    is emptied before TensorFlow loads in this process. Returns the variable's value."""
    if not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def _worker_strategy(threads: int, collective: str = "ring"):
    """``(rank, world size, strategy)``; GPUs hidden unless Ray assigned some; TensorFlow's thread
    pools sized to the worker's CPUs; ``collective`` ("nccl" or "ring") between workers."""
    hide_unrequested_gpus()  # before TensorFlow initialises its devices
    from ._tf import tf

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))
    # The strategy comes first: collective ops must be configured before any other TensorFlow op.
    if world > 1:
        impl = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=impl.NCCL if collective == "nccl" else impl.RING
        )
        return rank, world, tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    from .train import local_strategy

    return rank, world, local_strategy()


def worker_loop(config: dict) -> None:
    """Runs in every Ray Train worker (see the module docstring for the steps)."""
    rank, world, strategy = _worker_strategy(int(config["cpus_per_worker"]), config.get("collective", "ring"))
    from ._tf import keras
    from .model import build_model, compile_model
    from .train import EpochLog, devices_line, seed_everything, train_input

    model_cfg, train_cfg = from_dict(ModelConfig, config["model"]), from_dict(TrainConfig, config["train"])
    seed_everything(train_cfg.seed)
    with strategy.scope():
        model = compile_model(build_model(model_cfg), train_cfg)
    replicas = strategy.num_replicas_in_sync
    config["progress"].put(
        {
            "worker": rank,
            "world": world,
            "start": time.time(),
            "devices": devices_line(strategy),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "replicas": replicas,
            "per_replica_batch": train_cfg.batch_size // replicas,
        }
    )

    state = {"epoch": 0, "history": [], "resumes": [], "replicas": replicas, "fingerprint": config["fingerprint"]}
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            weights, optimizer, state = read_state(Path(folder))
        mismatch = fingerprint_difference(state.get("fingerprint"), config["fingerprint"])
        if mismatch:  # remote storage: the driver could not look before starting
            raise ValueError(
                f"the checkpoint was trained with other settings ({mismatch}): use --overwrite to start afresh"
            )
        with strategy.scope():
            model.set_weights(weights)
            model.optimizer.build(model.trainable_variables)
            for variable, value in zip(model.optimizer.variables, optimizer):
                variable.assign(value)
        state["resumes"].append({"from_epoch": state["epoch"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        if rank == 0:
            config["progress"].put({"resumed_from_epoch": state["epoch"], "restart": len(state["resumes"])})
    if state["epoch"] >= train_cfg.epochs:
        _report(model, state, rank)  # nothing left to train: hand back the final checkpoint
        return

    x, y = ray.get(config["x_train"]), ray.get(config["y_train"])
    epoch_log = EpochLog(len(y), train_cfg.epochs, quiet=True)

    class ReportEachEpoch(keras.callbacks.Callback):
        _supports_tf_logs = True  # no per-step NumPy conversion (see EpochLog)

        def on_train_batch_end(self, batch, logs=None):
            steps = self.params.get("steps") or 0
            if rank == 0 and steps >= 8 and batch + 1 in {steps * k // 4 for k in (1, 2, 3)}:
                config["progress"].put({"epoch_progress": state["epoch"] + 1, "batch": batch + 1, "steps": steps})

        def on_epoch_end(self, epoch, logs=None):
            row = {**epoch_log.history[-1], "restarts": len(state["resumes"])}
            state["history"].append(row)
            state["epoch"] = epoch + 1
            _report(model, state, rank)
            if rank == 0:
                config["progress"].put(row)

    dataset, steps = train_input(strategy, x, y, model_cfg, train_cfg, initial_epoch=state["epoch"])
    try:
        model.fit(
            dataset,
            epochs=train_cfg.epochs,
            steps_per_epoch=steps,
            initial_epoch=state["epoch"],
            callbacks=[epoch_log, ReportEachEpoch()],
            verbose=0,
        )
    except TrainingDiverged as exc:
        # Every rank sees the same (all-reduced) loss and stops here; the driver refuses to save.
        # Returning rather than raising keeps Ray from restarting the workers into the same divergence.
        if rank == 0:
            config["progress"].put({"diverged": str(exc)})


def _report(model, state: dict, rank: int) -> None:
    """Every rank reports the same metrics (a barrier); rank 0 attaches the checkpoint."""
    metrics = {**(state["history"][-1] if state["history"] else {}), "epoch": state["epoch"]}
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        write_state(Path(folder), model, state)
        ray.train.report(
            metrics,
            checkpoint=Checkpoint.from_directory(folder),
            checkpoint_dir_name=f"epoch-{state['epoch']:03d}-r{len(state['resumes'])}",
        )


# --- benchmarking (toolkit bench train) -----------------------------------------------------------
def bench_on_ray(x: np.ndarray, y: np.ndarray, setups: dict, cluster: ClusterConfig, repeats: int) -> dict:
    """``train.time_epochs`` on ``cluster.workers`` Ray workers (a running Ray session); rank 0's seconds."""
    results = Queue(actor_options={"num_cpus": 0})
    storage = tempfile.mkdtemp(prefix="toolkit-bench-")  # Ray Train wants one; nothing is kept
    trainer = TensorflowTrainer(
        _bench_worker,
        train_loop_config={
            "x": ray.put(x),
            "y": ray.put(y),
            "repeats": repeats,
            "cpus_per_worker": cluster.worker_cpus,
            "collective": cluster.resolved_collective,
            "setups": {name: (to_dict(m), to_dict(t)) for name, (m, t) in setups.items()},
            "results": results,
        },
        scaling_config=scaling_config(cluster),
        run_config=RunConfig(
            name=f"bench-{cluster.workers}w-{int(time.time())}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=0),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    try:
        trainer.fit()
    except Exception as exc:  # Ray wraps the worker's exception
        raise ClusterError(f"Ray benchmark with {cluster.workers} worker(s) failed: {first_line(exc)}") from None
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return results.get(timeout=60)


def _bench_worker(config: dict) -> None:
    rank, _, strategy = _worker_strategy(int(config["cpus_per_worker"]), config["collective"])
    from .train import devices_line, time_epochs

    setups = {name: (from_dict(ModelConfig, m), from_dict(TrainConfig, t)) for name, (m, t) in config["setups"].items()}
    seconds = time_epochs(strategy, ray.get(config["x"]), ray.get(config["y"]), setups, config["repeats"])
    if rank == 0:
        config["results"].put(
            {"seconds": seconds, "replicas": strategy.num_replicas_in_sync, "devices": devices_line(strategy)}
        )
