"""``toolkit bench train``: training reviews per second of the tutorial-faithful setup (fixed 500
tokens, no masking, shuffled batches) and the fast one (masked padding, length buckets), in one
process and on Ray workers, all over the same real training reviews; warm-up excluded, median of the
repeats, ratios to the faithful single-process figure. ``time_epochs`` is the timing both use.

TensorFlow and Ray are imported only where they run (inside ``epochs.time_epochs``, the Ray branch): a bad
flag or --out fails before either loads.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace

import numpy as np

from toolkit.artifacts.destinations import check_destination
from toolkit.bench.epochs import time_epochs
from toolkit.bench.figures import machine, write_figures
from toolkit.config import ClusterConfig, DataConfig, JobConfig, TrainBenchConfig, TrainConfig
from toolkit.core.errors import BenchError
from toolkit.core.progress import log
from toolkit.data.dataset import load_data
from toolkit.edge import batches
from toolkit.training import buckets


def train_setups(names, data_cfg: DataConfig, batch_size: int) -> dict:
    """``{name: (ModelConfig, TrainConfig)}``: "faithful" is the tutorial's model and input, "fast" the
    default (masked padding, length buckets)."""
    train = TrainConfig(batch_size=batch_size)
    jobs = {name: JobConfig.create(data_cfg, train, faithful=name == "faithful") for name in names}
    return {name: (job.model, job.train) for name, job in jobs.items()}


def bench_train(data_cfg: DataConfig, cfg: TrainBenchConfig = TrainBenchConfig()) -> dict:
    """Training throughput of each setup x each worker count over the same ``steps * batch_size`` reviews.
    The single process uses every local device (its GPUs when there are some); Ray workers get
    ``gpus_per_worker`` GPUs each (a fraction shares one) and the CPUs split between them."""
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    data = load_data(data_cfg)
    setups = {  # the data's classes: a K-class data set times the Dense(K, softmax) model it would train
        name: (replace(model, classes=data.classes), train)
        for name, (model, train) in train_setups(cfg.setups, data_cfg, cfg.batch_size).items()
    }
    n = cfg.steps * cfg.batch_size
    if n > len(data.train):
        raise BenchError(
            f"--steps {cfg.steps} x batch {cfg.batch_size} = {n:,} reviews, the training split has "
            f"{len(data.train):,}: use fewer --steps"
        )
    pick = np.sort(np.random.default_rng(0).permutation(len(data.train))[:n])
    x, y = data.train.x[pick], data.train.y[pick]
    report = {
        "benchmark": "train",
        "machine": machine(),
        "gpus_per_worker": cfg.gpus_per_worker,
        "reviews": n,
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "repeats": cfg.repeats,
        "maxlen": int(x.shape[1]),
        "mean_tokens": round(float(batches.lengths(x).mean()), 1),
        "results": [],
    }
    log(
        f"bench train: {n:,} training reviews ({cfg.steps} batches of {cfg.batch_size}), setups "
        f"{', '.join(cfg.setups)}, workers {', '.join(map(str, cfg.workers))}; 1 warm-up epoch + {cfg.repeats} "
        "timed epochs each"
    )
    report["input_reviews_per_second"] = input_rate(x, cfg.batch_size)
    if 0 in cfg.workers:
        _bench_single_process(report, x, y, setups, cfg.repeats)
    if any(w > 0 for w in cfg.workers):
        _bench_ray(report, x, y, setups, cfg)
    reference = next((r for r in report["results"] if r["setup"] == "faithful" and r["workers"] == 0), None)
    for r in report["results"]:
        ratio = r["reviews_per_second"] / reference["reviews_per_second"] if reference else None
        r["ratio_to_faithful_single"] = round(ratio, 3) if ratio is not None else None
    write_figures(cfg.out, report, out_target)
    return report


def _bench_single_process(report: dict, x: np.ndarray, y: np.ndarray, setups: dict, repeats: int) -> None:
    from toolkit.training.strategy import devices_line, local_strategy

    strategy = local_strategy()
    report["single_process_devices"] = devices_line(strategy)
    log(f"bench train: single process on {report['single_process_devices']} ...")
    seconds = time_epochs(strategy, x, y, setups, repeats)
    _add_results(report, "single-process", 0, strategy.num_replicas_in_sync, seconds)


def _bench_ray(report: dict, x: np.ndarray, y: np.ndarray, setups: dict, cfg: TrainBenchConfig) -> None:
    from toolkit.bench.ray_train import bench_on_ray
    from toolkit.training.ray.cluster import check_resources, ray_session

    cpus = multiprocessing.cpu_count()
    ray_workers = [w for w in cfg.workers if w > 0]
    with ray_session(ClusterConfig(workers=max(ray_workers))):
        for w in ray_workers:
            cluster = ClusterConfig(workers=w, cpus_per_worker=max(1, cpus // w), gpus_per_worker=cfg.gpus_per_worker)
            gpu = f" x {cfg.gpus_per_worker:g} GPU" if cfg.gpus_per_worker else ""
            log(f"bench train: {w} Ray worker(s) x {cluster.worker_cpus} CPU{gpu} ...")
            check_resources(cluster)
            result = bench_on_ray(x, y, setups, cluster, cfg.repeats)
            _add_results(report, "ray", w, result.replicas, result.seconds)


def input_rate(x: np.ndarray, batch_size: int, repeats: int = 3) -> float:
    """Reviews per second that the Python input of the default setup (length buckets, trimming, right
    alignment: ``buckets.epoch_pieces``) produces on one core, median of ``repeats`` epochs; what a
    GPU worker's input core must keep up with."""
    row_lengths = batches.lengths(x)
    rates = []
    for epoch in range(repeats):
        start = time.perf_counter()
        for _ in buckets.epoch_pieces(x, row_lengths, batch_size, seed=7, epoch=epoch, replicas=1, mine=range(1)):
            pass
        rates.append(len(x) / (time.perf_counter() - start))
    return round(float(np.median(rates)), 1)


def _add_results(report: dict, mode: str, workers: int, replicas: int, seconds: dict) -> None:
    for setup, times in seconds.items():
        rates = [report["reviews"] / t for t in times]
        report["results"].append(
            {
                "setup": setup,
                "mode": mode,
                "workers": workers,
                "replicas": replicas,
                "reviews_per_second": round(float(np.median(rates)), 1),
                "epoch_seconds": [round(t, 3) for t in times],
            }
        )


def train_table(report: dict) -> str:
    lines = [
        f"training on {report['reviews']:,} real reviews ({report['steps']} batches of {report['batch_size']}, "
        f"mean {report['mean_tokens']} tokens), median of {report['repeats']} epochs, {report['machine']}; "
        f"Python input alone: {report['input_reviews_per_second']:,.0f} reviews/s on one core",
        f"{'setup':<9} {'where':<16} {'replicas':>8} {'reviews/s':>10} {'x faithful 1-process':>21}",
    ]
    for r in report["results"]:
        where = "1 process" if r["workers"] == 0 else f"Ray, {r['workers']} worker(s)"
        ratio = f"{r['ratio_to_faithful_single']:.2f}" if r["ratio_to_faithful_single"] is not None else "-"
        lines.append(f"{r['setup']:<9} {where:<16} {r['replicas']:>8} {r['reviews_per_second']:>10,.1f} {ratio:>21}")
    return "\n".join(lines)
