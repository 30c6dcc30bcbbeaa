"""``toolkit bench infer``'s measuring side: one backend in a child process of its own (``spawn``), so
that its peak memory is that of a process that loaded only it (Keras brings TensorFlow, onnxruntime
does not). Backends: "keras" (the run's model), "litert" (the same weights through TFLiteConverter),
"onnx" (token ids), "onnx_tokenize" (the texts encoded with ``toolkit.edge.text`` first, as ``predict``
does) and "onnx_text" (a text model given the texts themselves)."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.artifacts.runs import read_run
from toolkit.config import InferBenchConfig
from toolkit.core.errors import BenchError
from toolkit.edge.batches import inference_batches, trim
from toolkit.edge.contract import VOCAB_FILE
from toolkit.edge.sessions import run_texts, run_tokens
from toolkit.edge.text import Vocabulary


@dataclass(frozen=True)
class Backend:
    kind: str  # keras, litert, onnx, onnx_tokenize, onnx_text
    path: str  # the run folder (keras, litert) or the ONNX file
    size: int  # model bytes
    threads: int = 0  # onnxruntime intra-op threads (0: one per core)


@dataclass(frozen=True)
class Workload:
    tokens: np.ndarray  # the benchmark reviews' token ids, pre-padded
    texts: list  # their raw text (for onnx_tokenize and onnx_text; else empty)
    variable_length: bool  # batches of similar length trimmed to the longest, as predict sends them
    cfg: InferBenchConfig


def run_in_child(backend: Backend, work: Workload, timeout_s: float = 3600) -> dict:
    """``{"ok": figures per batch size, "peak_rss_mb": ...}`` of ``backend`` measured in a new process.
    A child that dies without an answer (killed, out of memory, failed to start) is an error at once,
    not a wait for the timeout."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(backend, work, queue))
    proc.start()
    deadline = time.monotonic() + timeout_s
    try:
        result = _answer(queue, proc, deadline)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
    if result is None:
        raise BenchError(f"{backend.kind}: the benchmark process ended without figures (exit code {proc.exitcode})")
    if "error" in result:
        raise BenchError(result["error"])
    return result


def _answer(queue, proc, deadline: float):
    """The child's answer, or None once it has exited without one (or the deadline passed)."""
    while time.monotonic() < deadline:
        try:
            return queue.get(timeout=1.0)
        except queue_module.Empty:
            if not proc.is_alive():
                try:  # it may have answered just before exiting
                    return queue.get(timeout=1.0)
                except queue_module.Empty:
                    return None
    return None


def _child(backend: Backend, work: Workload, queue) -> None:
    try:
        figures = measure(_runner(backend, work), work)
        queue.put({"ok": figures, "peak_rss_mb": peak_rss_mb()})
    except BaseException as exc:  # reported to the parent as one line
        queue.put({"error": f"{backend.kind}: {type(exc).__name__}: {exc}"})


def _runner(backend: Backend, work: Workload):
    """``run_batch(rows, tokens)`` for the backend. Its framework is imported here, in the child only:
    a Keras child must not carry onnxruntime in its peak memory, nor an onnxruntime child TensorFlow."""
    if backend.kind == "keras":
        from toolkit.model.lstm import load_run_model

        model = load_run_model(read_run(backend.path))
        return lambda rows, tokens: model.predict_on_batch(tokens)
    if backend.kind == "litert":
        return _litert_runner(backend.path, work.cfg.batch_sizes, backend.threads)
    from toolkit.edge.sessions import load_session

    session = load_session(Path(backend.path), backend.threads)
    vocab = Vocabulary.load(Path(backend.path).parent / VOCAB_FILE)
    texts = work.texts
    return {
        "onnx": lambda rows, tokens: run_tokens(session, tokens),
        "onnx_tokenize": lambda rows, tokens: run_tokens(session, trim(vocab.encode([texts[i] for i in rows]))),
        "onnx_text": lambda rows, tokens: run_texts(session, [texts[i] for i in rows]),
    }[backend.kind]


def _litert_runner(run_dir: str, batch_sizes, threads: int):
    """What a TensorFlow user would ship instead: the same weights through ``tf.lite.TFLiteConverter``
    (the unmasked twin: its LSTM becomes the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``; the converter
    needs a static batch size, so one model per batch size), run by the ``ai-edge-litert`` interpreter.
    The time axis stays dynamic: the input is resized when a batch's width changes (included in the
    timing). Padding runs through this LSTM (no mask): same speed question, not the same probabilities."""
    from ai_edge_litert.interpreter import Interpreter

    from toolkit._tf import tf
    from toolkit.model.lstm import load_run_model, unmasked_twin

    model = unmasked_twin(load_run_model(read_run(run_dir)))
    call = tf.function(lambda x: model(x, training=False))
    interpreters = {}
    for bs in batch_sizes:
        concrete = call.get_concrete_function(tf.TensorSpec([bs, None], tf.int32))
        blob = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert()
        interpreter = Interpreter(model_content=blob, num_threads=threads or multiprocessing.cpu_count())
        inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        interpreters[bs] = [interpreter, inp, out, None]

    def run_batch(rows, tokens):
        entry = interpreters[len(tokens)]
        interpreter, inp, out, width = entry
        if width != tokens.shape[1]:
            interpreter.resize_tensor_input(inp, list(tokens.shape))
            interpreter.allocate_tensors()
            entry[3] = tokens.shape[1]
        interpreter.set_tensor(inp, tokens)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run_batch


def measure(run_batch, work: Workload) -> dict:
    """Per batch size: warm up on every batch shape once, then ``repeats`` timed passes."""
    results = {}
    for bs in work.cfg.batch_sizes:
        batches = bench_batches(work.tokens, bs, work.variable_length, work.cfg.max_batches)
        for rows, b in batches[:: max(1, len(batches) // 8)]:
            run_batch(rows, b)  # warm-up: graph building, allocations, thread pools
        rates, latencies = [], []
        for _ in range(work.cfg.repeats):
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
            "repeats": work.cfg.repeats,
        }
    return results


def bench_batches(tokens: np.ndarray, bs: int, variable_length: bool, max_batches: int) -> list:
    """Up to ``max_batches`` batches of ``bs`` reviews, as ``predict`` would send them, spread evenly
    over the length range (ascending-length batches, then every k-th one)."""
    batches = [(rows, b) for rows, b in inference_batches(tokens, bs, variable_length) if len(b) == bs]
    if not batches:
        raise BenchError(f"batch size {bs} is larger than the {len(tokens)} benchmark reviews: use more --reviews")
    keep = np.unique(np.linspace(0, len(batches) - 1, min(max_batches, len(batches))).round().astype(int))
    return [(batches[i][0], np.ascontiguousarray(batches[i][1])) for i in keep]


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
