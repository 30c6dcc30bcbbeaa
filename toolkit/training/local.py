"""Single-process training: the tutorial's recipe, one process, every local device.

``train(job)`` loads the encoded reviews, fits the seed model (Adam, binary cross-entropy, 3 epochs
of global batch 64 by default), evaluates it on the test split and writes the run folder. With more
than one GPU visible it replicates with ``MirroredStrategy`` (the global batch is split evenly across
replicas); on CPU with the seed fixed, op determinism makes two runs produce identical weights.
The pieces shared with Ray training live beside it: ``strategy``, ``epochs``, ``input``, ``finish``;
its TensorBoard events: ``events``.
"""

from __future__ import annotations

import time
from typing import Optional

from toolkit.config import JobConfig
from toolkit.core.progress import log
from toolkit.data.dataset import LabelledData
from toolkit.model.lstm import compiled_model
from toolkit.training.epochs import EpochLog
from toolkit.training.events import EventLog, live_events_dir
from toolkit.training.finish import finish_run
from toolkit.training.input import epoch_reviews, input_line, train_input, validation_input
from toolkit.training.prepare import Prepared, TrainResult, prepare
from toolkit.training.schedule import warmup_callbacks
from toolkit.training.strategy import devices_line, local_strategy, peak_rss_mb, seed_everything


def train(job: JobConfig, data: Optional[LabelledData] = None, *, prepared: Optional[Prepared] = None) -> TrainResult:
    """Load (unless ``data`` is given), fit, evaluate, write ``<exports>/<run-name>/``; return its path
    and metrics. ``prepared``: the job already checked by ``prepare`` (``train_job`` does)."""
    prepared = prepared or prepare(job, data)
    job, data, target = prepared.job, prepared.data, prepared.target
    seed_everything(job.train.seed)
    strategy = local_strategy()
    model = compiled_model(job.model, job.train, strategy)
    replicas = strategy.num_replicas_in_sync
    log(
        f"training {model.count_params():,} parameters on {len(data.train):,} reviews: {job.train.epochs} epochs, "
        f"global batch {job.train.batch_size}, {replicas} replica(s) ({devices_line(strategy)}); "
        f"{input_line(job.model, job.train)}"
    )
    events = EventLog(live_events_dir(job.train.exports_dir, job.train.run_name))  # TensorBoard, live
    epoch_log = EpochLog(
        epoch_reviews(len(data.train), job.train), job.train.epochs, on_quarter=events.quarter, on_epoch=events.epoch
    )
    dataset, steps = train_input(strategy, data.train.x, data.train.y, job.model, job.train)
    validation = None
    if data.validation is not None and len(data.validation):
        validation = validation_input(data.validation.x, data.validation.y, job.model, job.train.eval_batch_size)
    start = time.perf_counter()
    with events:
        model.fit(
            dataset,
            epochs=job.train.epochs,
            steps_per_epoch=steps,
            validation_data=validation,
            callbacks=[*warmup_callbacks(job.train, steps, len(data.train)), epoch_log],
            verbose=0,
        )
    run_info = {
        "mode": "single-process",
        "workers": 1,
        "replicas": replicas,
        "restarts": 0,
        "train_seconds": round(time.perf_counter() - start, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    return finish_run(model, data, job, epoch_log.history, run_info, target)
