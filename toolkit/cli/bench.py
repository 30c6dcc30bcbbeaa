"""``toolkit bench``: the parsers of its benchmarks and the commands that run them."""

from __future__ import annotations

import argparse

from toolkit.cli.commands import config_from_args
from toolkit.cli.flags import (
    Parser,
    add_gpus_per_worker,
    choice_list,
    float_list,
    int_at_least,
    int_list,
    joined,
    positive_float,
    setup_list,
)
from toolkit.config import (
    WEB_PRECISIONS,
    DataBenchConfig,
    DataConfig,
    InferBenchConfig,
    LoadBenchConfig,
    ScalingBenchConfig,
    TrainBenchConfig,
    WebBenchConfig,
)
from toolkit.core.errors import one_line

DATA_HELP = "the reviews, as for 'toolkit train' (default: $TOOLKIT_DATA, the cache, a download)"
CACHE_HELP = "cache for the encoded arrays (default $TOOLKIT_CACHE or ~/.cache/toolkit)"
BENCH_DESCRIPTION = "Benchmarks. Each backend runs in its own process; figures are medians of the repeats."
INFER_DESCRIPTION = (
    "Reviews per second, latency p50/p99 per batch, peak memory and model size of Keras, "
    "onnxruntime fp32 and int8 (when exported) at each batch size, with ratios to Keras."
)
TRAIN_DESCRIPTION = (
    "Train each setup ('faithful': fixed 500 tokens, no masking; 'fast': masked padding, "
    "length buckets) in one process and on Ray workers over the same real training reviews: "
    "one warm-up epoch, then the median of --repeats epochs, with ratios to the faithful "
    "single-process figure."
)
SCALING_DESCRIPTION = (
    "Measure the compute time of one training step here (the default setup, one process, "
    "real reviews; or take --step-ms), then model data-parallel training on N GPUs (8 per "
    "node) with a fixed per-GPU batch: each step computes, then ring-all-reduces the "
    "0.85 MB gradient. Prints seconds per epoch and scaling efficiency per inter-node "
    "bandwidth. A model, not a measurement of a cluster: see the README for its assumptions."
)


WEB_DESCRIPTION = (
    "Serve EXPORT with 'toolkit web' and measure the page in headless Chromium (Debian's chromium and "
    "chromium-driver, through Selenium): per-keystroke latency (p50, p95) on the median-length test review "
    "and reviews/s at each batch size, for the text models, against native onnxruntime on the same reviews; "
    "plus rows that show where the page's time goes (no graph optimisation, the JavaScript tokenizer, a "
    "garbage collection before each keystroke)."
)
WARMUP_KEYSTROKES = 20  # bench.web.WARMUP


def add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure speed (figures written to a JSON file)",
        description=BENCH_DESCRIPTION,
    )
    bench = p.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=Parser, help="what to measure")
    bench.required = True
    _add_infer(bench)
    _add_train(bench)
    _add_scaling(bench)
    _add_load(bench)
    _add_data(bench)
    _add_web(bench)


def _add_out(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--out", metavar="FILE", default=default, help=f"JSON file for the figures (default {default})")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file written by a toolkit benchmark (any other file is refused)",
    )


def _add_infer(bench) -> None:
    d = InferBenchConfig()
    p = bench.add_parser(
        "infer",
        help="Keras vs onnxruntime fp32 / int8 on real test reviews",
        description=INFER_DESCRIPTION,
    )
    p.add_argument(
        "export", metavar="EXPORT", help="an export folder written by 'toolkit export' (--quantize int8 for int8)"
    )
    p.add_argument(
        "--batch-sizes",
        type=int_list(1),
        default=d.batch_sizes,
        metavar="B1,B2,...",
        help=f"batch sizes to measure (default {joined(d.batch_sizes)})",
    )
    p.add_argument(
        "--reviews",
        type=int_at_least(1),
        default=d.reviews,
        help=f"real test reviews to run through (default {d.reviews})",
    )
    p.add_argument(
        "--repeats",
        type=int_at_least(1),
        default=d.repeats,
        help=f"passes per setting; the median rate is reported (default {d.repeats})",
    )
    p.add_argument(
        "--max-batches",
        type=int_at_least(1),
        default=d.max_batches,
        help=f"batches per pass at most (default {d.max_batches})",
    )
    p.add_argument(
        "--threads",
        type=int_list(0),
        default=d.threads,
        metavar="T1,T2,...",
        help="onnxruntime intra-op threads to measure, 0 = onnxruntime's default of one per core "
        f"(default {joined(d.threads)})",
    )
    p.add_argument(
        "--litert",
        action="store_true",
        help="also measure LiteRT: the same weights through TFLiteConverter (one model per batch size) "
        "and the ai-edge-litert interpreter (pip install -e '.[litert]')",
    )
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_infer)


def _add_train(bench) -> None:
    d = TrainBenchConfig()
    p = bench.add_parser(
        "train",
        help="training reviews/s: tutorial-faithful vs fast, 1 process vs Ray workers",
        description=TRAIN_DESCRIPTION,
    )
    p.add_argument("--data", metavar="PATH", help=DATA_HELP)
    p.add_argument(
        "--steps",
        type=int_at_least(1),
        default=d.steps,
        metavar="N",
        help=f"batches per timed epoch; N x batch-size training reviews are used (default {d.steps})",
    )
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=d.batch_size, help=f"global batch size (default {d.batch_size})"
    )
    p.add_argument(
        "--repeats",
        type=int_at_least(1),
        default=d.repeats,
        help=f"timed epochs per setting; the median is reported (default {d.repeats})",
    )
    p.add_argument(
        "--workers",
        type=int_list(0),
        default=d.workers,
        metavar="W1,W2,...",
        help=f"0 = one process without Ray, N = N Ray workers sharing the machine's CPUs (default {joined(d.workers)})",
    )
    add_gpus_per_worker(p)
    p.add_argument(
        "--setups",
        type=setup_list,
        default=d.setups,
        metavar="S1,S2",
        help=f"setups to measure: {', '.join(d.setups)} (default both)",
    )
    p.add_argument(
        "--maxlen",
        type=int_at_least(1),
        default=DataConfig().maxlen,
        help=f"tokens per review (default {DataConfig().maxlen})",
    )
    p.add_argument("--cache-dir", metavar="DIR", help=CACHE_HELP)
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_train)


def _add_scaling(bench) -> None:
    d = ScalingBenchConfig()
    p = bench.add_parser(
        "scaling",
        help="estimate seconds per epoch on 1-64 GPUs from a measured step time",
        description=SCALING_DESCRIPTION,
    )
    p.add_argument("--data", metavar="PATH", help=DATA_HELP)
    p.add_argument(
        "--step-ms",
        type=positive_float,
        metavar="MS",
        help="use this compute time per step instead of measuring one",
    )
    p.add_argument(
        "--steps",
        type=int_at_least(1),
        default=d.steps,
        metavar="N",
        help=f"batches per timed epoch when measuring (default {d.steps})",
    )
    p.add_argument(
        "--repeats",
        type=int_at_least(1),
        default=d.repeats,
        help=f"timed epochs when measuring; the median is used (default {d.repeats})",
    )
    p.add_argument(
        "--per-gpu-batch",
        type=int_at_least(1),
        default=d.per_gpu_batch,
        help=f"reviews per GPU per step; the global batch is GPUs x this (default {d.per_gpu_batch})",
    )
    p.add_argument(
        "--gpus",
        type=int_list(1),
        default=d.gpus,
        metavar="N1,N2,...",
        help=f"GPU counts to model (default {joined(d.gpus)})",
    )
    p.add_argument(
        "--gbps",
        type=float_list,
        default=d.gbps,
        metavar="B1,B2",
        help=f"inter-node bandwidths in Gb/s (default {joined(d.gbps)})",
    )
    p.add_argument("--cache-dir", metavar="DIR", help=CACHE_HELP)
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_scaling)


def _add_data(bench) -> None:
    d = DataBenchConfig()
    p = bench.add_parser(
        "data",
        help="prepare's reviews/s vs text.py; memory and speed of streamed vs in-memory Ray training",
        description="Write the IMDB reviews as parquet with the training reviews repeated 1x and 10x; time "
        "'toolkit prepare' with 1 and 2 CPUs against text.py in one process; train 2 epochs of --steps batches "
        "on --workers Ray workers in memory and streamed from prepared shards, recording each process's peak "
        "memory and the second epoch's reviews/s. Every measurement runs in a process of its own.",
    )
    p.add_argument("--data", metavar="PATH", help="the aclImdb tarball or folder (default: $TOOLKIT_DATA, the cache)")
    p.add_argument(
        "--scales", type=int_list(1), default=d.scales, metavar="S1,S2", help=f"data sizes (default {joined(d.scales)})"
    )
    p.add_argument(
        "--prepare-scales",
        type=int_list(1),
        default=d.prepare_scales,
        metavar="S1,S2",
        help=f"the sizes at which prepare is timed, some of --scales (default {joined(d.prepare_scales)})",
    )
    p.add_argument(
        "--prepare-cpus",
        type=int_list(1),
        default=d.prepare_cpus,
        metavar="C1,C2",
        help=f"CPUs of prepare's embedded Ray (default {joined(d.prepare_cpus)})",
    )
    p.add_argument(
        "--workers",
        type=int_list(1),
        default=d.workers,
        metavar="W1,W2",
        help=f"Ray workers of the trainings (default {joined(d.workers)})",
    )
    p.add_argument(
        "--steps",
        type=int_at_least(1),
        default=d.steps,
        metavar="N",
        help=f"batches per training epoch; the second of two epochs is timed (default {d.steps})",
    )
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=d.batch_size, help=f"global batch size (default {d.batch_size})"
    )
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_data)


def _add_load(bench) -> None:
    d = LoadBenchConfig()
    p = bench.add_parser(
        "load",
        help="seconds to read and encode the reviews: aclImdb tarball vs parquet vs CSV",
        description="Write the 50,000 IMDB reviews as Hugging Face parquet files and as one Kaggle-style CSV "
        "in a temporary folder, then read and encode each layout and the tarball into an empty cache, in "
        "turns; the median of --repeats and the ratio to the tarball.",
    )
    p.add_argument("--data", metavar="PATH", help="the aclImdb tarball or folder (default: $TOOLKIT_DATA, the cache)")
    p.add_argument(
        "--repeats",
        type=int_at_least(1),
        default=d.repeats,
        help=f"loads per layout; the median is reported (default {d.repeats})",
    )
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_load)


def _add_web(bench) -> None:
    d = WebBenchConfig()
    p = bench.add_parser(
        "web",
        help="the web page in headless Chromium vs native onnxruntime: per-keystroke latency, reviews/s",
        description=WEB_DESCRIPTION,
    )
    p.add_argument(
        "export", metavar="EXPORT", help="an export folder with text models ('toolkit export', --quantize int8)"
    )
    p.add_argument(
        "--precisions",
        type=choice_list(WEB_PRECISIONS),
        default=d.precisions,
        metavar="P1,P2",
        help=f"text models to measure: {', '.join(WEB_PRECISIONS)} (default {joined(d.precisions)})",
    )
    p.add_argument(
        "--keystrokes",
        type=int_at_least(1),
        default=d.keystrokes,
        metavar="N",
        help=f"timed keystrokes on the median-length review, after {WARMUP_KEYSTROKES} of warm-up "
        f"(default {d.keystrokes})",
    )
    p.add_argument(
        "--reviews",
        type=int_at_least(1),
        default=d.reviews,
        help=f"real test reviews for reviews/s (default {d.reviews})",
    )
    p.add_argument(
        "--batch-sizes",
        type=int_list(1),
        default=d.batch_sizes,
        metavar="B1,B2,...",
        help=f"batch sizes for reviews/s (default {joined(d.batch_sizes)})",
    )
    p.add_argument(
        "--threads",
        type=int_list(1),
        default=d.threads,
        metavar="T1,T2,...",
        help="WASM threads to measure; more than 1 serves the page cross-origin isolated "
        f"(default {joined(d.threads)})",
    )
    p.add_argument(
        "--repeats",
        type=int_at_least(1),
        default=d.repeats,
        help=f"passes per batch size; the median rate is reported (default {d.repeats})",
    )
    p.add_argument("--screenshot", metavar="FILE", help="also save a PNG of the page with a review classified")
    p.add_argument(
        "--tfjs",
        action="store_true",
        help="also TensorFlow.js (4.22, WASM backend, from npm into the cache) on the run's weights, written in "
        "its Layers format: what a Keras user would otherwise pick for the browser",
    )
    p.add_argument("--ort", metavar="DIR", dest="ort_dir", help="onnxruntime-web's files, as for 'toolkit web'")
    _add_out(p, d.DEFAULT_OUT)
    p.set_defaults(func=cmd_bench_web)


def cmd_bench_web(args: argparse.Namespace) -> int:
    from toolkit.bench.web import bench_web, web_table

    print(web_table(bench_web(args.export, config_from_args(WebBenchConfig, args))))
    print(f"figures: {one_line(args.out)}")
    return 0


def cmd_bench_data(args: argparse.Namespace) -> int:
    from toolkit.bench.data import bench_data, data_table

    data_cfg = config_from_args(DataConfig, args, path=args.data)
    print(data_table(bench_data(data_cfg, config_from_args(DataBenchConfig, args))))
    print(f"figures: {one_line(args.out)}")
    return 0


def cmd_bench_load(args: argparse.Namespace) -> int:
    from toolkit.bench.load import bench_load, load_table

    data_cfg = config_from_args(DataConfig, args, path=args.data)
    print(load_table(bench_load(data_cfg, config_from_args(LoadBenchConfig, args))))
    print(f"figures: {one_line(args.out)}")
    return 0


def cmd_bench_infer(args: argparse.Namespace) -> int:
    from toolkit.bench.infer import bench_infer, infer_table

    cfg = config_from_args(InferBenchConfig, args)
    print(infer_table(bench_infer(args.export, cfg)))
    print(f"figures: {one_line(args.out)}")
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from toolkit.bench.train import bench_train, train_table

    data_cfg = config_from_args(DataConfig, args, path=args.data)
    cfg = config_from_args(TrainBenchConfig, args)
    print(train_table(bench_train(data_cfg, cfg)))
    print(f"figures: {one_line(args.out)}")
    return 0


def cmd_bench_scaling(args: argparse.Namespace) -> int:
    from toolkit.bench.scaling import bench_scaling, scaling_table_text

    data_cfg = None if args.step_ms is not None else config_from_args(DataConfig, args, path=args.data)
    cfg = config_from_args(ScalingBenchConfig, args)
    print(scaling_table_text(bench_scaling(data_cfg, cfg)))
    print(f"figures: {one_line(args.out)}")
    return 0
