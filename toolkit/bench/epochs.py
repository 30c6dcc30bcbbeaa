"""Timing training epochs (TensorFlow): the loop ``bench train`` runs in one process and in each Ray worker."""

from __future__ import annotations

import numpy as np

from toolkit.training.ray.messages import BenchTask, BenchTimes, send

# TensorFlow (and Ray) are imported inside the functions: ``bench train`` imports this module before it
# checks its flags and --out, and a Ray worker imports it only once its GPUs are settled.


def bench_worker(task: BenchTask) -> None:
    """:func:`time_epochs` on this Ray worker; rank 0 sends the seconds to the driver."""
    import ray

    from toolkit.training.ray.worker import worker_strategy
    from toolkit.training.strategy import devices_line

    rank, _, strategy = worker_strategy(task.cpus, task.collective)
    setups = {name: (model_cfg, train_cfg) for name, model_cfg, train_cfg in task.setups}
    seconds = time_epochs(strategy, ray.get(task.x), ray.get(task.y), setups, task.repeats)
    if rank == 0:
        send(task, BenchTimes(seconds=seconds, replicas=strategy.num_replicas_in_sync, devices=devices_line(strategy)))


def time_epochs(strategy, x: np.ndarray, y: np.ndarray, setups: dict, repeats: int) -> dict:
    """Seconds per epoch over ``x`` of each ``{name: (ModelConfig, TrainConfig)}`` setup: one warm-up
    epoch each (tracing, thread pools), then ``repeats`` rounds of one epoch each, the setups taking
    turns so that a slow spell of the machine hits them all alike."""
    from toolkit.model.lstm import compiled_model
    from toolkit.training.epochs import EpochLog
    from toolkit.training.input import train_input
    from toolkit.training.strategy import seed_everything

    fits = {}
    for name, (model_cfg, train_cfg) in setups.items():
        seed_everything(train_cfg.seed)
        model = compiled_model(model_cfg, train_cfg, strategy)
        dataset, steps = train_input(strategy, x, y, model_cfg, train_cfg)
        fits[name] = (model, dataset, steps)
    seconds: dict = {name: [] for name in setups}
    for round_ in range(repeats + 1):
        for name, (model, dataset, steps) in fits.items():
            timer = EpochLog(len(y), 1, quiet=True)
            model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
            if round_:  # round 0 is the warm-up
                seconds[name].append(timer.history[-1]["seconds"])
    return seconds
