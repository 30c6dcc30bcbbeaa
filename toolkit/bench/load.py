"""``toolkit bench load``: seconds to read and encode the IMDB reviews from the aclImdb tarball and from
the same 50,000 reviews as Hugging Face parquet files and as Kaggle's one CSV (``bench.layouts``), each
into an empty cache (nothing reused), median of the repeats, ratio to the tarball.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from toolkit.artifacts.destinations import check_destination
from toolkit.bench.figures import machine, write_figures
from toolkit.bench.layouts import KAGGLE_FILE, imdb_reviews, write_hf_parquet, write_kaggle_csv
from toolkit.config import DataConfig, LoadBenchConfig
from toolkit.core.progress import log
from toolkit.data.dataset import load_data
from toolkit.data.sources import resolve_source


def bench_load(data_cfg: DataConfig, cfg: LoadBenchConfig = LoadBenchConfig()) -> dict:
    """``{"layouts": {name: {"seconds": median, "runs": [...], "reviews": n, "ratio": to the tarball}}}``."""
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    tarball = resolve_source(data_cfg)
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-load-") as tmp:
        root = Path(tmp)
        log("writing the reviews as parquet (Hugging Face layout) and as one CSV (Kaggle layout) ...")
        reviews = imdb_reviews(tarball)
        layouts = {
            "aclimdb tarball": replace(data_cfg, path=str(tarball)),
            "parquet (train/test files)": replace(data_cfg, path=str(write_hf_parquet(reviews, root / "hf"))),
            # both splits in one file: half of it held out, so every layout reads and encodes 50,000
            "csv (one file, --test-fraction 0.5)": replace(
                data_cfg, path=str(write_kaggle_csv(reviews, root / KAGGLE_FILE)), test_fraction=0.5
            ),
        }
        runs: dict[str, list[float]] = {name: [] for name in layouts}
        sizes: dict[str, int] = {}
        for repeat in range(cfg.repeats):
            for name, layout in layouts.items():  # in turns: a slow phase of the machine hits every layout
                cache = root / f"cache-{repeat}-{len(runs[name])}-{abs(hash(name))}"
                start = time.perf_counter()
                data = load_data(replace(layout, cache_dir=str(cache)))
                runs[name].append(round(time.perf_counter() - start, 3))
                sizes[name] = len(data.train) + len(data.test)
                log(f"{name}: {runs[name][-1]:.2f} s ({sizes[name]:,} reviews, repeat {repeat + 1}/{cfg.repeats})")
    base = statistics.median(runs["aclimdb tarball"])
    report = {
        "benchmark": "load",
        "machine": machine(),
        "repeats": cfg.repeats,
        "layouts": {
            name: {
                "seconds": statistics.median(r),
                "runs": r,
                "reviews": sizes[name],
                "ratio_to_tarball": round(statistics.median(r) / base, 3),
            }
            for name, r in runs.items()
        },
    }
    write_figures(cfg.out, report, out_target)
    return report


def load_table(report: dict) -> str:
    lines = [f"{'layout':<38} {'reviews':>8} {'seconds':>8} {'x tarball':>9}"]
    for name, row in report["layouts"].items():
        lines.append(f"{name:<38} {row['reviews']:>8,} {row['seconds']:>8.2f} {row['ratio_to_tarball']:>9.2f}")
    return "\n".join(lines)
