"""Benchmarks: measured throughput and latency, written to a JSON file and printed as a table.

Performance is measured here, never asserted in tests. ``bench_infer(export_dir)``: Keras,
onnxruntime fp32 / int8 / text models (and LiteRT) on real test reviews at batch 1, 64 and 256 —
reviews per second (median of the repeats), latency p50 and p99 per batch, peak RSS, model size, and
ratios to Keras at the same batch size; each backend in its own process (``toolkit.bench.backends``).
Training: ``toolkit.bench.train``; scaling on paper: ``toolkit.bench.scaling``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.artifacts.destinations import check_destination
from toolkit.artifacts.runs import Run
from toolkit.bench.backends import Backend, Workload, run_in_child
from toolkit.bench.figures import machine, write_figures
from toolkit.config import InferBenchConfig
from toolkit.core.errors import BenchError
from toolkit.core.progress import log
from toolkit.data.dataset import load_data, raw_texts
from toolkit.edge.batches import lengths
from toolkit.edge.contract import TEXT_FILES, VARIANT_FILES
from toolkit.edge.sessions import open_export, variable_length
from toolkit.verify.reference import matching_run


def bench_infer(export_dir: str, cfg: InferBenchConfig = InferBenchConfig()) -> dict:
    """Keras vs every onnxruntime variant of the export (at each intra-op thread count in
    ``cfg.threads``; 0 = onnxruntime's default) on ``cfg.reviews`` real test reviews; returns and
    writes the figures."""
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    if cfg.litert:
        try:
            import ai_edge_litert  # noqa: F401  (only checked here; the child process runs it)
        except ImportError:
            raise BenchError("--litert needs the ai-edge-litert package: pip install -e '.[litert]'") from None
    export = Path(export_dir)
    session, meta, _ = open_export(export)
    run = matching_run(export, meta, None)  # the run the export came from, proven by checksum
    data = load_data(run.data_config())
    if cfg.reviews > len(data.test):
        raise BenchError(f"--reviews {cfg.reviews} is more than the {len(data.test):,} test reviews")
    pick = np.sort(np.random.default_rng(0).permutation(len(data.test))[: cfg.reviews])
    backends = _backends(export, run, cfg)
    texts = []
    if any(b.kind in ("onnx_tokenize", "onnx_text") for b in backends.values()):
        raw = raw_texts(run.data_config())["test"]
        texts = [raw[i] for i in data.test.review_ids[pick]]
    work = Workload(data.test.x[pick], texts, variable_length(session), cfg)
    report = _infer_report(export, work)
    for name, backend in backends.items():
        log(f"bench infer: {name} at batch {', '.join(map(str, cfg.batch_sizes))} ...")
        result = run_in_child(backend, work)
        report["backends"][name] = {
            "model_bytes": backend.size,
            "threads": backend.threads,
            "peak_rss_mb": result["peak_rss_mb"],
            "batch": result["ok"],
        }
    keras = report["backends"]["keras"]["batch"]
    for figures in report["backends"].values():
        for bs, row in figures["batch"].items():
            row["ratio_to_keras"] = round(row["reviews_per_second"] / keras[bs]["reviews_per_second"], 3)
    write_figures(cfg.out, report, out_target)
    return report


def _backends(export: Path, run: Run, cfg: InferBenchConfig) -> dict[str, Backend]:
    """What to measure: Keras, each ONNX variant of the export at each thread count (the fp32 model
    also with Python tokenisation when there is a text model to compare with), LiteRT if asked."""
    keras_bytes = run.model_file.stat().st_size
    backends = {"keras": Backend("keras", str(run.path), keras_bytes)}
    for variant, name in VARIANT_FILES.items():
        path = export / name
        if not path.is_file():
            continue
        for t in cfg.threads:
            suffix = f"_{t}t" if t else ""
            kind = "onnx_text" if variant in TEXT_FILES else "onnx"
            backends[f"onnx_{variant}{suffix}"] = Backend(kind, str(path), path.stat().st_size, t)
            if variant == "fp32" and (export / TEXT_FILES["text"]).is_file():  # the same path, tokenising in Python
                backends[f"onnx_fp32+tok{suffix}"] = Backend("onnx_tokenize", str(path), path.stat().st_size, t)
    if cfg.litert:
        backends["litert"] = Backend("litert", str(run.path), keras_bytes)
    return backends


def _infer_report(export: Path, work: Workload) -> dict:
    tokens = work.tokens
    return {
        "benchmark": "infer",
        "export": str(export.resolve()),
        "reviews": int(len(tokens)),
        "maxlen": int(tokens.shape[1]),
        "input": "batches of similar length, each trimmed to its longest review"
        if work.variable_length
        else f"{tokens.shape[1]} tokens per review",
        "mean_tokens": round(float(lengths(tokens).mean()), 1),
        "median_tokens": float(np.median(lengths(tokens))),
        "machine": machine(),
        "backends": {},
    }


def infer_table(report: dict) -> str:
    lines = [
        f"inference on {report['reviews']:,} real test reviews (median {report['median_tokens']:.0f} tokens; input: "
        f"{report['input']}), {report['machine']}",
        f"{'backend':<17} {'batch':>5} {'reviews/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'x Keras':>8} "
        f"{'peak MB':>8} {'size MB':>8}",
    ]
    for name, b in report["backends"].items():
        for bs, row in b["batch"].items():
            lines.append(
                f"{name:<17} {bs:>5} {row['reviews_per_second']:>11,.1f} {row['latency_ms_p50']:>9.2f} "
                f"{row['latency_ms_p99']:>9.2f} {row['ratio_to_keras']:>8.2f} {b['peak_rss_mb']:>8.0f} "
                f"{b['model_bytes'] / 1e6:>8.2f}"
            )
    return "\n".join(lines)
