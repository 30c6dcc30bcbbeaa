"""``toolkit bench scaling``: seconds per epoch on 1-64 GPUs, modelled from a measured step time.

A model, not a measurement of a cluster (the README states its assumptions): each step computes for
the measured time, then ring-all-reduces the 0.85 MB gradient, with no overlap.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from toolkit.artifacts.destinations import check_destination
from toolkit.bench.figures import write_figures
from toolkit.bench.train import bench_train
from toolkit.config import DataConfig, ScalingBenchConfig, TrainBenchConfig
from toolkit.core.errors import BenchError

GRADIENT_BYTES = 213_301 * 4  # the seed model's float32 gradient, all-reduced every step
GPUS_PER_NODE = 8
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
    gpus: Sequence[int] = ScalingBenchConfig.gpus,
    gbps: Sequence[float] = ScalingBenchConfig.gbps,
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


def bench_scaling(data_cfg: Optional[DataConfig], cfg: ScalingBenchConfig = ScalingBenchConfig()) -> dict:
    """The scaling model with this device's measured step time (the default setup, one process,
    ``cfg.steps`` batches of ``cfg.per_gpu_batch`` real reviews, median of ``cfg.repeats`` epochs), or
    ``cfg.step_ms``."""
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    step_ms, steps, per_gpu_batch = cfg.step_ms, cfg.steps, cfg.per_gpu_batch
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
        one_step = TrainBenchConfig(
            steps=steps, repeats=cfg.repeats, workers=(0,), setups=("fast",), batch_size=per_gpu_batch, out=None
        )
        measured = bench_train(data_cfg, one_step)
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
    report["rows"] = scaling_table(step_ms / 1000, per_gpu_batch, gpus=cfg.gpus, gbps=cfg.gbps)
    write_figures(cfg.out, report, out_target)
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
            f"{r['gpus']:>5} {r['nodes']:>5} {r['inter_node_gbps']:>5g} {r['global_batch']:>6} "
            f"{r['steps_per_epoch']:>6} "
            f"{r['allreduce_ms']:>13.3f} {r['epoch_seconds']:>9.2f} {r['efficiency']:>10.1%} {r['speedup']:>9.2f}"
        )
    return "\n".join(lines)
