"""``toolkit bench data``: data bigger than one machine, measured on this one.

From the IMDB reviews (the training reviews repeated ``scale`` times, the test reviews once, as parquet
in a temporary folder):

- **prepare**: reviews/s of ``toolkit prepare`` (Ray Data) with 1 and 2 CPUs against ``text.py`` in one
  process (``Vocabulary.build`` and ``encode`` over the same parquet texts): the pipeline's own seconds
  (its manifest) and the command's wall time (with Ray's start);
- **training**: for the in-memory path (the driver encodes the reviews, every worker gets them all) and
  the streamed one (Ray Data streams prepared shards to each worker) at each scale and worker count:
  the peak resident memory of the driver and of each worker (``metrics.json``) and the second epoch's
  training reviews/s (``--steps-per-epoch`` batches each epoch).

Every measurement is a ``toolkit`` command in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.artifacts.destinations import check_destination
from toolkit.bench.figures import machine, write_figures
from toolkit.bench.layouts import imdb_reviews
from toolkit.config import DataBenchConfig, DataConfig
from toolkit.core.errors import BenchError, first_line
from toolkit.core.progress import log
from toolkit.data.sources import resolve_source
from toolkit.edge.text import Vocabulary

MODES = ("in-memory", "streamed")
SPLITS = ("train", "test")


def bench_data(data_cfg: DataConfig, cfg: DataBenchConfig = DataBenchConfig()) -> dict:
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    tarball = resolve_source(data_cfg)
    reviews = imdb_reviews(tarball)
    report: dict = {"benchmark": "data", "machine": machine(), "steps": cfg.steps, "batch_size": cfg.batch_size}
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-data-") as tmp:
        root = Path(tmp)
        layouts = {scale: _write_scaled(reviews, scale, root / f"x{scale}") for scale in cfg.scales}
        report["prepare"] = [_prepare_row(layouts[s], s, cfg, root) for s in cfg.prepare_scales]
        prepared = {scale: root / f"prepared-x{scale}" for scale in cfg.scales}
        for scale in cfg.scales:  # the trainings' shards (the last prepare of a scale, or a new one)
            if not (prepared[scale] / "manifest.json").is_file():
                _run(["prepare", "--data", str(layouts[scale]), "--out", str(prepared[scale])], root)
        report["training"] = [
            _train_row(scale, mode, workers, layouts[scale] if mode == "in-memory" else prepared[scale], cfg, root)
            for scale in cfg.scales
            for workers in cfg.workers
            for mode in MODES
        ]
    report["goals"] = _goals(report)
    write_figures(cfg.out, report, out_target)
    return report


def _write_scaled(reviews: dict, scale: int, folder: Path) -> Path:
    """``train.parquet`` (the training reviews ``scale`` times) and ``test.parquet``."""
    folder.mkdir(parents=True)
    for split, items in reviews.items():
        times = scale if split == "train" else 1
        texts = [t for _, _, t in items] * times
        labels = pa.array([label for _, label, _ in items] * times, pa.int64())
        pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{split}.parquet")
    log(f"{folder.name}: {len(reviews['train']) * scale:,} training and {len(reviews['test']):,} test reviews")
    return folder


def _prepare_row(folder: Path, scale: int, cfg: DataBenchConfig, root: Path) -> dict:
    start = time.perf_counter()
    texts = {s: pq.read_table(folder / f"{s}.parquet", columns=["text"]).column("text").to_pylist() for s in SPLITS}
    vocab = Vocabulary.build(texts["train"], DataConfig().num_words, DataConfig().maxlen)
    for split in SPLITS:
        vocab.encode(texts[split])
    baseline = time.perf_counter() - start
    reviews = sum(len(t) for t in texts.values())
    del texts
    row = {"scale": scale, "reviews": reviews, "text_py_seconds": round(baseline, 3)}
    row["text_py_reviews_per_second"] = round(reviews / baseline, 1)
    log(f"x{scale}: text.py in one process: {baseline:.1f} s, {reviews / baseline:,.0f} reviews/s")
    for cpus in cfg.prepare_cpus:
        out = root / f"prepared-x{scale}"
        args = ["prepare", "--data", str(folder), "--out", str(out), "--cpus", str(cpus), "--overwrite"]
        (out / "manifest.json").unlink(missing_ok=True)  # every run prepares (a kept manifest is reused)
        wall = _run(args, root)
        seconds = json.loads((out / "manifest.json").read_text())["seconds"]
        row[f"prepare_{cpus}cpu"] = {
            "seconds": seconds,
            "wall_seconds": round(wall, 3),
            "reviews_per_second": round(reviews / seconds, 1),
            "ratio_to_text_py": round(baseline / seconds, 3),
            "wall_ratio_to_text_py": round(baseline / wall, 3),
        }
        log(f"x{scale}: prepare with {cpus} CPU(s): {seconds:.1f} s ({wall:.1f} s with Ray's start)")
    return row


def _train_row(scale: int, mode: str, workers: int, data: Path, cfg: DataBenchConfig, root: Path) -> dict:
    name = f"x{scale}-{mode}-w{workers}"
    args = ["train", "--data", str(data), "--workers", str(workers), "--epochs", "2"]
    args += ["--steps-per-epoch", str(cfg.steps), "--batch-size", str(cfg.batch_size)]
    args += ["--exports-dir", str(root / "exports"), "--run-name", name, "--cache-dir", str(root / "cache")]
    args += ["--storage", str(root / "ray")]
    wall = _run(args, root)
    metrics = json.loads((root / "exports" / name / "metrics.json").read_text())
    row = {
        "scale": scale,
        "mode": mode,
        "workers": workers,
        "train_reviews": metrics["train_reviews"],
        "driver_peak_rss_mb": metrics.get("driver_peak_rss_mb"),
        "worker_peak_rss_mb": [w.get("peak_rss_mb") for w in metrics.get("worker_devices", [])],
        "reviews_per_second": metrics["epochs"][-1]["reviews_per_second"],
        "wall_seconds": round(wall, 3),
    }
    log(
        f"{name}: driver {row['driver_peak_rss_mb']} MB, workers {row['worker_peak_rss_mb']} MB, "
        f"{row['reviews_per_second']:,.0f} reviews/s"
    )
    return row


def _run(args: list[str], cwd: Path) -> float:
    """One ``toolkit`` command; its wall seconds. A failure is a ``BenchError`` with its error line."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise BenchError(f"toolkit {args[0]} failed: {first_line(Exception(lines[-1] if lines else 'no output'))}")
    return time.perf_counter() - start


def _goals(report: dict) -> dict:
    """The issue's goals, judged on these figures (None where a figure was not measured)."""
    rows = {(r["scale"], r["mode"], r["workers"]): r for r in report["training"]}
    scales = sorted({r["scale"] for r in report["training"]})
    goals: dict = {}
    if len(scales) >= 2:
        low, high = scales[0], scales[-1]
        growth = {}
        for (scale, mode, workers), r in rows.items():
            if scale != low or (high, mode, workers) not in rows:
                continue
            hi = rows[(high, mode, workers)]
            growth[f"{mode} w{workers} driver"] = round(hi["driver_peak_rss_mb"] / r["driver_peak_rss_mb"], 3)
            for i, (a, b) in enumerate(zip(r["worker_peak_rss_mb"], hi["worker_peak_rss_mb"])):
                if a and b:
                    growth[f"{mode} w{workers} worker {i}"] = round(b / a, 3)
        goals["rss_growth"] = growth
        streamed = [v for k, v in growth.items() if k.startswith("streamed")]
        goals["streamed_rss_growth_at_most_1.3"] = bool(streamed) and max(streamed) <= 1.3
    speed = {}
    for (scale, mode, workers), r in rows.items():
        if mode == "streamed" and (scale, "in-memory", workers) in rows:
            base = rows[(scale, "in-memory", workers)]["reviews_per_second"]
            speed[f"x{scale} w{workers}"] = round(r["reviews_per_second"] / base, 3)
    goals["streamed_speed_ratio"] = speed
    goals["streamed_at_least_0.85"] = bool(speed) and min(speed.values()) >= 0.85
    two = [p["prepare_2cpu"]["ratio_to_text_py"] for p in report["prepare"] if "prepare_2cpu" in p]
    goals["prepare_2cpu_ratio"] = two
    goals["prepare_2cpu_at_least_1.5"] = bool(two) and max(two) >= 1.5
    return goals


def data_table(report: dict) -> str:
    lines = [f"{'prepare':<12} {'reviews':>9} {'text.py/s':>10} " + " ".join(f"{k:>22}" for k in ("1 CPU", "2 CPUs"))]
    for p in report["prepare"]:
        cells = []
        for cpus in (1, 2):
            c = p.get(f"prepare_{cpus}cpu")
            cells.append(f"{c['reviews_per_second']:>9,.0f}/s x{c['ratio_to_text_py']:<5.2f}" if c else "-")
        lines.append(
            f"x{p['scale']:<11} {p['reviews']:>9,} {p['text_py_reviews_per_second']:>10,.0f} "
            + " ".join(f"{c:>22}" for c in cells)
        )
    lines.append("")
    lines.append(f"{'training':<24} {'reviews':>9} {'driver MB':>10} {'workers MB':>18} {'reviews/s':>10}")
    for r in report["training"]:
        workers = "/".join(f"{m:,.0f}" for m in r["worker_peak_rss_mb"] if m)
        label = f"x{r['scale']} {r['mode']} w{r['workers']}"
        lines.append(
            f"{label:<24} {r['train_reviews']:>9,} {r['driver_peak_rss_mb']:>10,.0f} {workers:>18} "
            f"{r['reviews_per_second']:>10,.0f}"
        )
    goals = report["goals"]
    lines.append("")
    lines.append(f"goals: {json.dumps(goals)}")
    return "\n".join(lines)
