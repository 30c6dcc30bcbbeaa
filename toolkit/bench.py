"""Benchmarks: measured throughput and latency, written to a JSON file and printed as a table.

Performance is measured here, never asserted in tests. Each backend runs in its own child process
(``multiprocessing`` spawn), so its peak memory is that of a process that loaded only it: Keras
brings TensorFlow, onnxruntime does not.

``bench_infer(export_dir)``: Keras, onnxruntime fp32 and onnxruntime int8 on real test reviews at
batch 1, 64 and 256 — reviews per second (median of the repeats), latency p50 and p99 per batch,
peak RSS, model size, and ratios to Keras at the same batch size. A variable-length export gets
batches as ``predict`` sends them: reviews of similar length, trimmed to the longest.

``bench_train(data_cfg)``: training reviews per second of the tutorial-faithful setup (fixed 500
tokens, no masking, shuffled batches) and the fast one (masked padding, length buckets), in one
process and on 1 and 2 Ray workers, all over the same real training reviews; warm-up excluded,
median of the repeats, ratios to the faithful single-process figure.
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import resource
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import ToolkitError
from .export import TEXT_FILES, VARIANT_FILES, open_export
from .export import variable_length as is_variable_length
from .files import WriteError, atomic_write_text, check_can_write
from .progress import log

DEFAULT_BATCHES = (1, 64, 256)
TRAIN_SETUPS = ("faithful", "fast")
DEFAULT_WORKERS = (0, 1, 2)


class BenchError(ToolkitError):
    """A benchmark cannot run with these settings."""


def check_out(out: Optional[str]) -> None:
    """The figures' file must be writable before minutes of measuring depend on it."""
    if out:
        if Path(out).is_dir():
            raise BenchError(f"--out {out} is a folder: name a file for the figures")
        try:
            check_can_write(Path(out).resolve().parent, Path(out).name)
        except WriteError as exc:
            raise BenchError(f"--out {out}: {exc}") from None


def _batches(x: np.ndarray, bs: int, variable_length: bool, max_batches: int) -> list:
    """Up to ``max_batches`` batches of ``bs`` reviews, as ``predict`` would send them, spread evenly
    over the length range (ascending-length batches, then every k-th one)."""
    from .batching import inference_batches

    batches = [(rows, ids) for rows, ids in inference_batches(x, bs, variable_length) if len(ids) == bs]
    if not batches:
        raise BenchError(f"batch size {bs} is larger than the {len(x)} benchmark reviews: use more --reviews")
    keep = np.unique(np.linspace(0, len(batches) - 1, min(max_batches, len(batches))).round().astype(int))
    return [(batches[i][0], np.ascontiguousarray(batches[i][1])) for i in keep]


def _measure(
    run_batch, x: np.ndarray, batch_sizes: Sequence[int], repeats: int, max_batches: int, variable_length: bool
) -> dict:
    """Per batch size: warm up on every batch shape once, then ``repeats`` timed passes."""
    results = {}
    for bs in batch_sizes:
        batches = _batches(x, bs, variable_length, max_batches)
        for rows, b in batches[:: max(1, len(batches) // 8)]:
            run_batch(rows, b)  # warm-up: graph building, allocations, thread pools
        rates, latencies = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            for rows, b in batches:
                t = time.perf_counter()
                run_batch(rows, b)
                latencies.append(time.perf_counter() - t)
            rates.append(sum(len(b) for _, b in batches) / (time.perf_counter() - start))
        lat = np.array(latencies) * 1000
        results[str(bs)] = {
            "reviews_per_second": round(float(np.median(rates)), 1),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
            "mean_tokens": round(float(np.mean([b.shape[1] for _, b in batches])), 1),
            "batches": len(batches),
            "repeats": repeats,
        }
    return results


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM where there is one: getrusage's ru_maxrss
    carries the parent's peak across fork+exec on Linux, which would charge a child for its parent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _infer_child(
    backend: str,
    model_path: str,
    threads: int,
    x: np.ndarray,
    texts: list,
    batch_sizes,
    repeats: int,
    max_batches: int,
    variable_length: bool,
    queue,
) -> None:
    """One backend in its own process. "keras" (model_path: the run folder) and "onnx" take the batches'
    token ids; "onnx_tokenize" encodes the batch's texts with toolkit.text first (vocab.json beside the
    model), as predict does; "onnx_text" gives a text model the texts themselves."""
    try:
        if backend == "keras":
            from ._tf import keras  # noqa: F401  (TensorFlow set up before the model is built)
            from .rundir import read_run

            model = read_run(model_path).load_model()
            run_batch = lambda rows, ids: model.predict_on_batch(ids)  # noqa: E731
        elif backend == "litert":
            run_batch = _litert_runner(model_path, batch_sizes, threads)
        else:
            import onnxruntime as ort

            from .batching import trim
            from .export import session_options
            from .text import Vocabulary

            session = ort.InferenceSession(model_path, session_options(threads), providers=["CPUExecutionProvider"])
            vocab = Vocabulary.load(Path(model_path).parent / "vocab.json")
            feeds = {
                "onnx": lambda rows, ids: {"token_ids": ids},
                "onnx_tokenize": lambda rows, ids: {"token_ids": trim(vocab.encode([texts[i] for i in rows]))},
                "onnx_text": lambda rows, ids: {"text": np.array([texts[i] for i in rows], dtype=object)},
            }[backend]
            run_batch = lambda rows, ids: session.run(["probability"], feeds(rows, ids))  # noqa: E731
        figures = _measure(run_batch, x, batch_sizes, repeats, max_batches, variable_length)
        queue.put({"ok": figures, "peak_rss_mb": peak_rss_mb()})
    except BaseException as exc:  # reported to the parent as one line
        queue.put({"error": f"{backend}: {type(exc).__name__}: {exc}"})


def _litert_runner(run_dir: str, batch_sizes, threads: int):
    """What a TensorFlow user would ship instead: the same weights through ``tf.lite.TFLiteConverter``
    (the unmasked twin: its LSTM becomes the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``; the converter
    needs a static batch size, so one model per batch size), run by the ``ai-edge-litert`` interpreter.
    The time axis stays dynamic: the input is resized when a batch's width changes (included in the
    timing). Padding runs through this LSTM (no mask): same speed question, not the same probabilities."""
    import multiprocessing as mp

    from ai_edge_litert.interpreter import Interpreter

    from ._tf import keras, tf
    from .export import _without_mask
    from .rundir import read_run

    model = _without_mask(read_run(run_dir).load_model(), keras)
    call = tf.function(lambda x: model(x, training=False))
    interpreters = {}
    for bs in batch_sizes:
        concrete = call.get_concrete_function(tf.TensorSpec([bs, None], tf.int32))
        blob = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert()
        interpreter = Interpreter(model_content=blob, num_threads=threads or mp.cpu_count())
        interpreters[bs] = [
            interpreter,
            interpreter.get_input_details()[0]["index"],
            interpreter.get_output_details()[0]["index"],
            None,
        ]

    def run_batch(rows, ids):
        entry = interpreters[len(ids)]
        interpreter, inp, out, width = entry
        if width != ids.shape[1]:
            interpreter.resize_tensor_input(inp, list(ids.shape))
            interpreter.allocate_tensors()
            entry[3] = ids.shape[1]
        interpreter.set_tensor(inp, ids)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run_batch


def _in_child(*args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_infer_child, args=(*args, queue))
    proc.start()
    try:
        result = queue.get(timeout=3600)
    finally:
        proc.join()
    if "error" in result:
        raise BenchError(result["error"])
    return result


def bench_infer(
    export_dir: str,
    batch_sizes: Sequence[int] = DEFAULT_BATCHES,
    reviews: int = 1024,
    repeats: int = 3,
    max_batches: int = 200,
    threads: Sequence[int] = (0,),
    out: Optional[str] = None,
    litert: bool = False,
) -> dict:
    """Keras vs onnxruntime fp32 / int8 (at each intra-op thread count in ``threads``; 0 = onnxruntime's
    default) on ``reviews`` real test reviews; returns and writes the figures."""
    from .config import DataConfig, from_dict
    from .data import load_imdb
    from .rundir import read_run

    check_out(out)
    if litert:
        try:
            import ai_edge_litert  # noqa: F401
        except ImportError:
            raise BenchError("--litert needs the ai-edge-litert package: pip install -e '.[litert]'") from None
    export = Path(export_dir)
    session, meta, _ = open_export(export)
    variable_length = is_variable_length(session)
    run = read_run(meta["provenance.run_dir"])
    data = load_imdb(from_dict(DataConfig, run.config.get("data", {})))
    if reviews < max(batch_sizes):
        raise BenchError(f"--reviews {reviews} is smaller than the largest batch size {max(batch_sizes)}")
    if reviews > len(data.test):
        raise BenchError(f"--reviews {reviews} is more than the {len(data.test):,} test reviews")
    pick = np.sort(np.random.default_rng(0).permutation(len(data.test))[:reviews])
    x = data.test.x[pick]
    texts = []
    backends = {"keras": ("keras", str(run.path), run.model_file.stat().st_size, 0)}
    for variant, name in VARIANT_FILES.items():
        if (export / name).is_file():
            for t in threads:
                suffix = f"_{t}t" if t else ""
                kind = "onnx_text" if variant in TEXT_FILES else "onnx"
                backends[f"onnx_{variant}{suffix}"] = (kind, str(export / name), (export / name).stat().st_size, t)
                if variant == "fp32" and (export / TEXT_FILES["text"]).is_file():  # the same path, tokenising in Python
                    backends[f"onnx_fp32+tok{suffix}"] = (
                        "onnx_tokenize",
                        str(export / name),
                        (export / name).stat().st_size,
                        t,
                    )
    if litert:
        backends["litert"] = ("litert", str(run.path), run.model_file.stat().st_size, 0)
    if any(kind in ("onnx_tokenize", "onnx_text") for kind, *_ in backends.values()):
        from .data import raw_reviews

        raw = raw_reviews(from_dict(DataConfig, run.config.get("data", {})))["test"]
        texts = [raw[i] for i in data.test.ids[pick]]
    report = {
        "benchmark": "infer",
        "export": str(export.resolve()),
        "reviews": int(len(x)),
        "maxlen": int(x.shape[1]),
        "input": "batches of similar length, each trimmed to its longest review"
        if variable_length
        else f"{x.shape[1]} tokens per review",
        "mean_tokens": round(float((x != 0).sum(1).mean()), 1),
        "median_tokens": float(np.median((x != 0).sum(1))),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} CPU(s), {platform.python_version()}",
        "backends": {},
    }
    for name, (kind, path, size, t) in backends.items():
        log(f"bench infer: {name} at batch {', '.join(map(str, batch_sizes))} ...")
        result = _in_child(kind, path, t, x, texts, tuple(batch_sizes), repeats, max_batches, variable_length)
        report["backends"][name] = {
            "model_bytes": size,
            "threads": t,
            "peak_rss_mb": result["peak_rss_mb"],
            "batch": result["ok"],
        }
    keras = report["backends"]["keras"]["batch"]
    for figures in report["backends"].values():
        for bs, row in figures["batch"].items():
            row["ratio_to_keras"] = round(row["reviews_per_second"] / keras[bs]["reviews_per_second"], 3)
    if out:
        atomic_write_text(Path(out), json.dumps(report, indent=2))
    return report


def infer_table(report: dict) -> str:
    lines = [
        f"inference on {report['reviews']:,} real test reviews (median {report['median_tokens']:.0f} tokens; input: "
        f"{report['input']}), {report['machine']}",
        f"{'backend':<17} {'batch':>5} {'reviews/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'x Keras':>8} {'peak MB':>8} {'size MB':>8}",
    ]
    for name, b in report["backends"].items():
        for bs, row in b["batch"].items():
            lines.append(
                f"{name:<17} {bs:>5} {row['reviews_per_second']:>11,.1f} {row['latency_ms_p50']:>9.2f} "
                f"{row['latency_ms_p99']:>9.2f} {row['ratio_to_keras']:>8.2f} {b['peak_rss_mb']:>8.0f} {b['model_bytes'] / 1e6:>8.2f}"
            )
    return "\n".join(lines)


# --- training -------------------------------------------------------------------------------------
def train_setups(names: Sequence[str], model_cfg, train_cfg) -> dict:
    """``{name: (ModelConfig, TrainConfig)}``: "faithful" is the tutorial's model and input, "fast" the
    default (masked padding, length buckets); everything else as given."""
    from dataclasses import replace

    unknown = set(names) - set(TRAIN_SETUPS)
    if unknown:
        raise BenchError(f"unknown setup(s) {sorted(unknown)}: use {', '.join(TRAIN_SETUPS)}")
    fast = {"faithful": False, "fast": True}
    return {n: (replace(model_cfg, mask_padding=fast[n]), replace(train_cfg, length_buckets=fast[n])) for n in names}


def bench_train(
    data_cfg,
    steps: int = 40,
    repeats: int = 3,
    workers: Sequence[int] = DEFAULT_WORKERS,
    setups: Sequence[str] = TRAIN_SETUPS,
    batch_size: int = 64,
    out: Optional[str] = None,
    gpus_per_worker: float = 0,
) -> dict:
    """Training throughput of each setup x each worker count over the same ``steps * batch_size`` reviews.
    The single process uses every local device (its GPUs when there are some); Ray workers get
    ``gpus_per_worker`` GPUs each (a fraction shares one) and the CPUs split between them."""
    from .config import ClusterConfig, ModelConfig, TrainConfig
    from .data import load_imdb

    check_out(out)
    model_cfg = ModelConfig(num_words=data_cfg.num_words, maxlen=data_cfg.maxlen)
    configs = train_setups(setups, model_cfg, TrainConfig(batch_size=batch_size))
    data = load_imdb(data_cfg)
    n = steps * batch_size
    if n > len(data.train):
        raise BenchError(
            f"--steps {steps} x batch {batch_size} = {n:,} reviews, the training split has {len(data.train):,}: use fewer --steps"
        )
    pick = np.sort(np.random.default_rng(0).permutation(len(data.train))[:n])
    x, y = data.train.x[pick], data.train.y[pick]
    cpus = multiprocessing.cpu_count()
    report = {
        "benchmark": "train",
        "machine": f"{platform.machine()}, {cpus} CPU(s), {platform.python_version()}",
        "gpus_per_worker": gpus_per_worker,
        "reviews": n,
        "steps": steps,
        "batch_size": batch_size,
        "repeats": repeats,
        "maxlen": int(x.shape[1]),
        "mean_tokens": round(float((x != 0).sum(1).mean()), 1),
        "results": [],
    }
    log(
        f"bench train: {n:,} training reviews ({steps} batches of {batch_size}), setups {', '.join(setups)}, "
        f"workers {', '.join(map(str, workers))}; 1 warm-up epoch + {repeats} timed epochs each"
    )
    report["input_reviews_per_second"] = input_rate(x, batch_size)
    ray_workers = [w for w in workers if w > 0]
    if 0 in workers:
        from ._tf import tf  # noqa: F401
        from .train import devices_line, local_strategy, time_epochs

        strategy = local_strategy()
        report["single_process_devices"] = devices_line(strategy)
        log(f"bench train: single process on {report['single_process_devices']} ...")
        _add_results(
            report, "single-process", 0, strategy.num_replicas_in_sync, time_epochs(strategy, x, y, configs, repeats)
        )
    if ray_workers:
        from .distributed import bench_on_ray, check_resources, ray_session

        with ray_session(ClusterConfig(workers=max(ray_workers))):
            for w in ray_workers:
                cluster = ClusterConfig(workers=w, cpus_per_worker=max(1, cpus // w), gpus_per_worker=gpus_per_worker)
                gpu = f" x {gpus_per_worker:g} GPU" if gpus_per_worker else ""
                log(f"bench train: {w} Ray worker(s) x {cluster.worker_cpus} CPU{gpu} ...")
                check_resources(cluster)
                result = bench_on_ray(x, y, configs, cluster, repeats)
                _add_results(report, "ray", w, result["replicas"], result["seconds"])
    reference = next((r for r in report["results"] if r["setup"] == "faithful" and r["workers"] == 0), None)
    for r in report["results"]:
        r["ratio_to_faithful_single"] = (
            round(r["reviews_per_second"] / reference["reviews_per_second"], 3) if reference else None
        )
    if out:
        atomic_write_text(Path(out), json.dumps(report, indent=2))
    return report


def input_rate(x: np.ndarray, batch_size: int, repeats: int = 3) -> float:
    """Reviews per second that the Python input of the default setup (length buckets, trimming, right
    alignment: ``batching.epoch_pieces``) produces on one core, median of ``repeats`` epochs; what a
    GPU worker's input core must keep up with."""
    from . import batching

    row_lengths = batching.lengths(x)
    rates = []
    for epoch in range(repeats):
        start = time.perf_counter()
        for _ in batching.epoch_pieces(x, row_lengths, batch_size, seed=7, epoch=epoch, replicas=1, mine=range(1)):
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


# --- scaling on paper (toolkit bench scaling) -----------------------------------------------------
GRADIENT_BYTES = 213_301 * 4  # the seed model's float32 gradient, all-reduced every step
GPUS_PER_NODE = 8
DEFAULT_GPUS = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_GBPS = (25.0, 100.0)
# Assumptions of the model (stated in the README): NVLink-class bandwidth inside a node, per-hop
# latencies of NCCL over NVLink and over Ethernet/TCP between nodes.
INTRA_NODE_GBPS = 1200.0  # 150 GB/s
INTRA_HOP_US, INTER_HOP_US = 5.0, 25.0


def allreduce_seconds(
    gpus: int, gbps: float, gradient_bytes: int = GRADIENT_BYTES, gpus_per_node: int = GPUS_PER_NODE
) -> float:
    """One flat ring all-reduce of ``gradient_bytes`` over ``gpus`` GPUs: every GPU sends and receives
    ``2 (N-1)/N`` of the gradient, at the slowest link of the ring (``gbps`` between nodes as soon
    as there are two nodes, NVLink inside one), plus ``2 (N-1)`` hop latencies."""
    if gpus <= 1:
        return 0.0
    multi_node = gpus > gpus_per_node
    bandwidth = (gbps if multi_node else INTRA_NODE_GBPS) * 1e9 / 8  # bytes/s
    hop = (INTER_HOP_US if multi_node else INTRA_HOP_US) * 1e-6
    steps = 2 * (gpus - 1)
    return steps / gpus * gradient_bytes / bandwidth + steps * hop


def scaling_table(
    step_seconds: float,
    per_gpu_batch: int = 64,
    reviews: int = 25_000,
    gpus: Sequence[int] = DEFAULT_GPUS,
    gbps: Sequence[float] = DEFAULT_GBPS,
    gpus_per_node: int = GPUS_PER_NODE,
) -> list[dict]:
    """Seconds per epoch and scaling efficiency for data-parallel training with a fixed per-GPU batch
    (the global batch grows with the GPUs): each step computes for ``step_seconds`` (measured at
    ``per_gpu_batch``), then all-reduces the gradient, with no overlap of the two (tf_keras
    all-reduces after the backward pass). Efficiency is per-GPU throughput relative to one GPU."""
    rows = []
    for link in gbps:
        for n in gpus:
            comm = allreduce_seconds(n, link, gpus_per_node=gpus_per_node)
            steps = -(-reviews // (n * per_gpu_batch))
            step = step_seconds + comm
            rows.append(
                {
                    "gpus": n,
                    "nodes": -(-n // gpus_per_node),
                    "inter_node_gbps": link,
                    "global_batch": n * per_gpu_batch,
                    "steps_per_epoch": steps,
                    "allreduce_ms": round(comm * 1e3, 3),
                    "step_ms": round(step * 1e3, 3),
                    "epoch_seconds": round(steps * step, 3),
                    "efficiency": round(step_seconds / step, 4),
                    "speedup": round(n * step_seconds / step, 2),
                }
            )
    return rows


def bench_scaling(
    data_cfg=None,
    step_ms: Optional[float] = None,
    steps: int = 20,
    repeats: int = 3,
    per_gpu_batch: int = 64,
    gpus: Sequence[int] = DEFAULT_GPUS,
    gbps: Sequence[float] = DEFAULT_GBPS,
    out: Optional[str] = None,
) -> dict:
    """The scaling model with this device's measured step time (the default setup, one process,
    ``steps`` batches of ``per_gpu_batch`` real reviews, median of ``repeats`` epochs), or ``step_ms``."""
    check_out(out)
    report = {
        "benchmark": "scaling",
        "per_gpu_batch": per_gpu_batch,
        "gradient_bytes": GRADIENT_BYTES,
        "gpus_per_node": GPUS_PER_NODE,
        "assumptions": {
            "intra_node_gbps": INTRA_NODE_GBPS,
            "intra_hop_us": INTRA_HOP_US,
            "inter_hop_us": INTER_HOP_US,
            "all_reduce": "flat ring, not overlapped with compute",
            "per_gpu_batch": "fixed (global batch grows)",
        },
    }
    if step_ms is None:
        measured = bench_train(
            data_cfg, steps=steps, repeats=repeats, workers=(0,), setups=("fast",), batch_size=per_gpu_batch
        )
        row = measured["results"][0]
        step_ms = 1000 * float(np.median(row["epoch_seconds"])) / steps
        report["measured"] = {
            "device": measured.get("single_process_devices"),
            "machine": measured["machine"],
            "steps": steps,
            "epoch_seconds": row["epoch_seconds"],
            "mean_tokens": measured["mean_tokens"],
        }
    if not step_ms > 0:
        raise BenchError(f"--step-ms must be > 0, got {step_ms}")
    report["step_ms"] = round(step_ms, 3)
    report["rows"] = scaling_table(step_ms / 1000, per_gpu_batch, gpus=gpus, gbps=gbps)
    if out:
        atomic_write_text(Path(out), json.dumps(report, indent=2))
    return report


def scaling_table_text(report: dict) -> str:
    source = f"measured on {report['measured']['device']}" if "measured" in report else "given"
    lines = [
        f"data-parallel scaling, per-GPU batch {report['per_gpu_batch']}, compute {report['step_ms']:.1f} ms/step "
        f"({source}), all-reduce of {report['gradient_bytes'] / 1e6:.2f} MB per step",
        f"{'GPUs':>5} {'nodes':>5} {'Gb/s':>5} {'batch':>6} {'steps':>6} {'all-reduce ms':>13} {'s/epoch':>9} "
        f"{'efficiency':>10} {'speed-up':>9}",
    ]
    for r in report["rows"]:
        lines.append(
            f"{r['gpus']:>5} {r['nodes']:>5} {r['inter_node_gbps']:>5g} {r['global_batch']:>6} {r['steps_per_epoch']:>6} "
            f"{r['allreduce_ms']:>13.3f} {r['epoch_seconds']:>9.2f} {r['efficiency']:>10.1%} {r['speedup']:>9.2f}"
        )
    return "\n".join(lines)
