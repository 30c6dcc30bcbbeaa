"""Benchmarks: measured throughput and latency, written to a JSON file and printed as a table.

Performance is measured here, never asserted in tests. Each backend runs in its own child process
(``multiprocessing`` spawn), so its peak memory is that of a process that loaded only it: Keras
brings TensorFlow, onnxruntime does not.

``bench_infer(export_dir)``: Keras, onnxruntime fp32 and onnxruntime int8 on real test reviews at
batch 1, 64 and 256 — reviews per second (median of the repeats), latency p50 and p99 per batch,
peak RSS, model size, and ratios to Keras at the same batch size.
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
from .export import VARIANT_FILES, open_export
from .progress import log
from .text import atomic_write_text

DEFAULT_BATCHES = (1, 64, 256)


class BenchError(ToolkitError):
    """A benchmark cannot run with these settings."""


def _measure(run_batch, x: np.ndarray, batch_sizes: Sequence[int], repeats: int, max_batches: int) -> dict:
    """Per batch size: warm up once, then ``repeats`` passes over up to ``max_batches`` batches."""
    results = {}
    for bs in batch_sizes:
        batches = [x[i:i + bs] for i in range(0, len(x) - bs + 1, bs)][:max_batches]
        if not batches:
            raise BenchError(f"batch size {bs} is larger than the {len(x)} benchmark reviews: use more --reviews")
        run_batch(batches[0])  # warm-up: graph building, allocations, thread pools
        rates, latencies = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            for b in batches:
                t = time.perf_counter()
                run_batch(b)
                latencies.append(time.perf_counter() - t)
            rates.append(sum(len(b) for b in batches) / (time.perf_counter() - start))
        lat = np.array(latencies) * 1000
        results[str(bs)] = {
            "reviews_per_second": round(float(np.median(rates)), 1),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
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


def _infer_child(backend: str, model_path: str, x: np.ndarray, batch_sizes, repeats: int, max_batches: int, queue) -> None:
    try:
        if backend == "keras":
            from ._tf import keras

            model = keras.models.load_model(model_path)
            run_batch = model.predict_on_batch
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
            run_batch = lambda b: session.run(["probability"], {"token_ids": b})  # noqa: E731
        figures = _measure(run_batch, x, batch_sizes, repeats, max_batches)
        queue.put({"ok": figures, "peak_rss_mb": peak_rss_mb()})
    except BaseException as exc:  # reported to the parent as one line
        queue.put({"error": f"{backend}: {type(exc).__name__}: {exc}"})


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


def bench_infer(export_dir: str, batch_sizes: Sequence[int] = DEFAULT_BATCHES, reviews: int = 1024, repeats: int = 3,
                max_batches: int = 200, out: Optional[str] = None) -> dict:
    """Keras vs onnxruntime fp32 / int8 on ``reviews`` real test reviews; returns and writes the figures."""
    from .config import DataConfig, from_dict
    from .data import load_imdb
    from .rundir import read_run

    export = Path(export_dir)
    _, meta, _ = open_export(export)
    run = read_run(meta["provenance.run_dir"])
    data = load_imdb(from_dict(DataConfig, run.config.get("data", {})))
    if reviews < max(batch_sizes):
        raise BenchError(f"--reviews {reviews} is smaller than the largest batch size {max(batch_sizes)}")
    pick = np.sort(np.random.default_rng(0).permutation(len(data.test))[:reviews])
    x = data.test.x[pick]
    backends = {"keras": (str(run.model_file), run.model_file.stat().st_size)}
    for variant, name in VARIANT_FILES.items():
        if (export / name).is_file():
            backends[f"onnx_{variant}"] = (str(export / name), (export / name).stat().st_size)
    report = {
        "benchmark": "infer",
        "export": str(export.resolve()),
        "reviews": int(len(x)),
        "maxlen": int(x.shape[1]),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} CPU(s), {platform.python_version()}",
        "backends": {},
    }
    for name, (path, size) in backends.items():
        log(f"bench infer: {name} at batch {', '.join(map(str, batch_sizes))} ...")
        result = _in_child("keras" if name == "keras" else "onnx", path, x, tuple(batch_sizes), repeats, max_batches)
        report["backends"][name] = {"model_bytes": size, "peak_rss_mb": result["peak_rss_mb"], "batch": result["ok"]}
    keras = report["backends"]["keras"]["batch"]
    for figures in report["backends"].values():
        for bs, row in figures["batch"].items():
            row["ratio_to_keras"] = round(row["reviews_per_second"] / keras[bs]["reviews_per_second"], 3)
    if out:
        atomic_write_text(Path(out), json.dumps(report, indent=2))
    return report


def infer_table(report: dict) -> str:
    lines = [f"inference on {report['reviews']:,} real test reviews ({report['maxlen']} tokens), {report['machine']}",
             f"{'backend':<10} {'batch':>5} {'reviews/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'x Keras':>8} {'peak MB':>8} {'size MB':>8}"]
    for name, b in report["backends"].items():
        for bs, row in b["batch"].items():
            lines.append(f"{name:<10} {bs:>5} {row['reviews_per_second']:>11,.1f} {row['latency_ms_p50']:>9.2f} "
                         f"{row['latency_ms_p99']:>9.2f} {row['ratio_to_keras']:>8.2f} {b['peak_rss_mb']:>8.0f} {b['model_bytes'] / 1e6:>8.2f}")
    return "\n".join(lines)
