"""Ray Train: data-parallel training of the seed LSTM over N workers, the driver's side.

The driver (:func:`train_on_ray`) loads and encodes the reviews once, puts the arrays in Ray's object
store (no shared file system needed for data) — or, for prepared data (``toolkit prepare``), hands Ray
Train a Ray Dataset of the shards, each worker streaming its share (``training.stream``) —, starts a
``TensorflowTrainer`` whose workers run
``entry.worker_loop`` (``worker.train_worker``), each given one ``messages.TrainTask``, and prints
each epoch's metrics as the workers' messages arrive; it also writes the run's TensorBoard events from
rank 0's messages (``training.events``: one set of event files on the driver's disk, wherever the
workers run).

``FailureConfig(max_failures)`` restarts all workers after a worker dies; they resume from the last
checkpoint (``toolkit.training.ray.checkpoints``). Re-running with the same ``--storage`` and run name after the
driver died resumes too. The driver then rebuilds the model from the final checkpoint and writes the
same run folder as single-process training. Connecting to Ray: ``toolkit.training.ray.cluster``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional

import ray
from ray.util.queue import Empty, Queue

from toolkit.config import ClusterConfig, JobConfig, to_dict
from toolkit.core.errors import ClusterError, TrainingDiverged
from toolkit.core.progress import log
from toolkit.core.uris import open_uri
from toolkit.data.dataset import LabelledData
from toolkit.data.encoded import TrainStream
from toolkit.model.lstm import compiled_model
from toolkit.training.epochs import epoch_line
from toolkit.training.events import EventLog, live_events_dir
from toolkit.training.finish import finish_run
from toolkit.training.prepare import Prepared, TrainResult, prepare
from toolkit.training.ray.checkpoints import (
    check_storage,
    discard_unused,
    mark_checkpoints,
    prepare_checkpoints,
    read_state,
    settings_fingerprint,
    storage_path,
)
from toolkit.training.ray.cluster import (
    check_resources,
    collective_line,
    describe_resources,
    make_trainer,
    ray_error_line,
    ray_session,
    streaming_cpus,
)
from toolkit.training.ray.entry import worker_loop
from toolkit.training.ray.messages import (
    Devices,
    Diverged,
    EpochDone,
    EpochProgress,
    Finished,
    Message,
    Resumed,
    TrainTask,
    receive,
    task_config,
)
from toolkit.training.strategy import peak_rss_mb


def train_on_ray(
    job: JobConfig, data: Optional[LabelledData] = None, *, prepared: Optional[Prepared] = None
) -> TrainResult:
    """Train on ``job.cluster.workers`` Ray workers and write the run folder (re-running with the same
    run name resumes from its checkpoints). ``prepared``: the job already checked by ``prepare``."""
    if job.cluster.workers < 1:
        raise ClusterError("train_on_ray needs workers >= 1 (workers 0 is single-process training)")
    prepared = prepared or prepare(job, data)
    job, data, target = prepared.job, prepared.data, prepared.target
    cluster = job.cluster
    storage = storage_path(cluster, job.train.exports_dir)
    check_storage(storage)  # a real write, before Ray starts: not a failure of Ray's after 30 s
    fingerprint = settings_fingerprint(job, data)
    ray_name = prepare_checkpoints(storage, job.train.run_name, fingerprint, job.train.overwrite)
    start = time.perf_counter()
    events = EventLog(live_events_dir(job.train.exports_dir, job.train.run_name))  # TensorBoard, live
    try:
        streamed = data.stream is not None
        with ray_session(cluster, num_cpus=streaming_cpus(cluster) if streamed else None), events:
            log(f"Ray ready in {time.perf_counter() - start:.1f} s: {describe_resources()}")
            check_resources(cluster, streamed)
            mark_checkpoints(storage, ray_name, fingerprint)  # the folder is provably ours from now on
            result, worker_devices = _train(job, data, fingerprint, storage, ray_name, events)
            if result.checkpoint is None:
                raise ClusterError("training finished without a checkpoint: see the worker logs above")
            with result.checkpoint.as_directory() as folder:
                weights, _, state = read_state(Path(folder))
            train_seconds = time.perf_counter() - start
    except BaseException:  # an error, Ctrl-C, SIGTERM: no checkpoint folder with nothing to resume stays
        discard_unused(storage, ray_name)
        raise
    model = compiled_model(job.model, job.train)  # compiled: evaluation needs the loss
    model.set_weights(weights)
    run_info = _run_info(cluster, state, worker_devices, train_seconds, storage)
    run_info["driver_peak_rss_mb"] = peak_rss_mb()  # before evaluation: the training's driver
    return finish_run(model, data, job, state["history"], run_info, target)


def _train(job: JobConfig, data: LabelledData, fingerprint: dict, storage: str, ray_name: str, events: EventLog):
    """The Ray Train run itself (in a Ray session): ``(result, [each worker's devices row])``; rank 0's
    figures go to ``events``."""
    cluster = job.cluster
    messages = Queue(actor_options={"num_cpus": 0})
    streamed = data.stream is not None
    datasets = {"train": train_stream(data.stream)} if streamed else None
    task = TrainTask(
        cpus=int(cluster.worker_cpus),
        collective=cluster.resolved_collective,
        x=None if streamed else ray.put(data.train.x),
        y=None if streamed else ray.put(data.train.y),
        messages=messages,
        model=job.model,
        train=job.train,
        fingerprint=fingerprint,
        x_validation=ray.put(data.validation.x) if data.validation is not None else None,
        y_validation=ray.put(data.validation.y) if data.validation is not None else None,
        streamed=data.stream.rows if streamed else 0,
    )
    trainer = make_trainer(
        worker_loop, task_config(task), cluster, ray_name, storage, cluster.max_failures, datasets=datasets
    )
    gpus = f" x {cluster.gpus_per_worker:g} GPU" if cluster.gpus_per_worker else ""
    fed = f"{len(data.stream.shards):,} prepared shard(s) streamed by Ray Data" if streamed else "reviews in memory"
    log(
        f"training on {cluster.workers} Ray worker(s) x {cluster.worker_cpus} CPU{gpus} ({fed}); "
        f"{collective_line(cluster)}; checkpoints in {storage}/{ray_name}"
    )
    return fit_with_progress(trainer, messages, job.train.epochs, events)


def train_stream(stream: TrainStream):
    """The training shards as a Ray Dataset (read where the workers are; Ray Train splits it)."""
    import ray.data

    fs, _ = open_uri(stream.uri)
    paths = [open_uri(u)[1] for u in stream.shards]
    # Ray Data's tasks take the CPU kept beyond the workers' (``cluster.check_resources``)
    return ray.data.read_parquet(paths, filesystem=fs).select_columns(["ids", "label", "length"])


def _run_info(cluster: ClusterConfig, state: dict, worker_devices: list, train_seconds: float, storage: str) -> dict:
    """What metrics.json records about a Ray run."""
    return {
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


def fit_with_progress(trainer, messages: Queue, epochs: int, events: Optional[EventLog] = None):
    """Run ``trainer.fit()`` in a thread; print rank 0's epoch rows and every worker's devices as they
    arrive (and write rank 0's figures to ``events``). Returns ``(result, [each worker's devices row])``."""
    outcome: dict = {}
    devices: dict = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=fit, name="ray-train-fit", daemon=True)
    thread.start()
    while thread.is_alive() or not messages.empty():
        try:
            _show(receive(messages, timeout=0.5), epochs, outcome, devices, events)
        except Empty:
            continue
    thread.join()
    if "diverged" in outcome:
        raise TrainingDiverged(outcome["diverged"])
    if "error" in outcome:
        raise ClusterError(f"Ray training failed: {ray_error_line(outcome['error'])}") from outcome["error"]
    latest = {}
    for (rank, _), row in sorted(devices.items(), key=lambda kv: kv[0][1]):
        latest[rank] = row  # after a restart, the devices of the last attempt
    for (rank, start), peak in outcome.get("memory", {}).items():
        if rank in latest and latest[rank]["start"] == start:
            latest[rank] = {**latest[rank], "peak_rss_mb": peak}
    return outcome["result"], [latest[r] for r in sorted(latest)]


def _show(message: Message, epochs: int, outcome: dict, devices: dict, events: Optional[EventLog] = None) -> None:
    """One message from the workers: a divergence, a worker's devices, progress, a resume, an epoch
    (progress and epochs also go to ``events``, TensorBoard's)."""
    match message:
        case Diverged(reason=reason):
            outcome["diverged"] = reason
        case Devices() as d:
            devices[(d.worker, d.start)] = d.row()
            log(
                f"[worker {d.worker}/{d.world}] devices: {d.devices}; "
                f"CUDA_VISIBLE_DEVICES={d.cuda_visible_devices!r}; {d.replicas} replica(s) in sync; "
                f"per-replica batch {d.per_replica_batch}"
            )
        case EpochProgress(epoch=epoch, batch=batch, steps=steps) as progress:
            log(f"epoch {epoch}/{epochs}: {batch / steps:.0%} ({batch}/{steps} batches)")
            if events is not None and progress.loss is not None:
                events.quarter(progress.row())
        case Resumed(from_epoch=from_epoch, restart=restart):
            log(f"resuming from the epoch-{from_epoch} checkpoint (restart {restart})")
            if events is not None:
                events.resumed()  # the events of the attempts before are this run's history
        case EpochDone(row=row):
            log(epoch_line(row, epochs))
            if events is not None:
                events.epoch(row)
        case Finished() as f:
            outcome.setdefault("memory", {})[(f.worker, f.start)] = f.peak_rss_mb
        case _:
            raise TypeError(f"unexpected message from a training worker: {type(message).__name__}")
