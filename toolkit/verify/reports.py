"""Parity reports, for machines and for people: ``parity.json``, ``parity.md``, ``parity.png`` (|Δp|
histogram on a log scale; Keras vs ONNX probabilities) and the tables the CLI prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.artifacts.runs import read_run
from toolkit.core.files import atomic_write_files
from toolkit.edge.contract import REPORT_JSON, REPORT_MD, REPORT_PNG


def pass_fail(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def write_reports(folder: Path, report: dict, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    """parity.json, parity.md and parity.png as one set:
    all are written to temporary files first and renamed into place only when every one is complete,
    so a full disk leaves the reports that were there before, not a mix (the error names the file)."""
    files = {
        folder / REPORT_JSON: json.dumps(report, indent=2).encode("utf-8"),
        folder / REPORT_MD: markdown(report).encode("utf-8"),
        folder / REPORT_PNG: lambda path: plot(path, keras_p, onnx_p),
    }
    atomic_write_files(files)


def markdown(report: dict) -> str:
    lines = [
        f"# Parity: Keras vs onnxruntime on {report['reviews']:,} {report['split']} reviews",
        "",
        f"Result: **{pass_fail(report['passed'])}**. Tolerances: {report['tolerances']}. Keras reference "
        f"computed on {report['keras_device']} (cuDNN and TF32 on a GPU would move it by more than the tolerance).",
        "",
        "| variant | size | max abs diff | mean abs diff | p99 abs diff | labels equal | Keras accuracy "
        "| ONNX accuracy | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v, r in report["variants"].items():
        lines.append(
            f"| {v} | {r['size_bytes'] / 1e6:.2f} MB | {r['max_abs_diff']:.3e} | {r['mean_abs_diff']:.3e} | "
            f"{r['p99_abs_diff']:.3e} | "
            f"{r['labels_equal']:,} / {r['reviews']:,} ({r['label_agreement']:.4%}) | {r['keras_accuracy']:.4f} | "
            f"{r['onnx_accuracy']:.4f} | {'pass' if r['passed'] else 'FAIL: ' + r['failure']} |"
        )
    t = report.get("text_preprocessing")
    if t:
        lines += [
            "",
            f"In-graph text preprocessing ({t['file']}) vs toolkit.edge.text: equal token ids on {t['equal']:,} of "
            f"{t['reviews']:,} reviews and on {t['hard_strings']['equal']} of {t['hard_strings']['total']} hard "
            f"strings: **{'pass' if t['passed'] else 'FAIL'}**.",
        ]
    for v, r in report["variants"].items():
        if r["flipped"]:
            lines += [
                "",
                f"## {v}: {len(r['flipped'])} flipped review(s)",
                "",
                "| review | label | Keras p | ONNX p |",
                "| --- | --- | --- | --- |",
            ]
            lines += [f"| {f['id']} | {f['label']} | {f['keras']:.6f} | {f['onnx']:.6f} |" for f in r["flipped"][:200]]
    return "\n".join(lines) + "\n"


def plot(path: Path, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    """parity.png: a Figure of its own with the Agg canvas (no pyplot: matplotlib's global backend and
    figure list stay as the caller had them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only here: matplotlib takes a second
    from matplotlib.figure import Figure

    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    floor = 1e-10
    bins = np.logspace(np.log10(floor), 0, 60)
    left.hist(np.clip(diff, floor, None), bins=bins, color="#3b6ea8")
    left.set_xscale("log")
    left.set_xlabel(f"|p_keras - p_onnx| (values below {floor:g} shown at {floor:g})")
    left.set_ylabel("reviews")
    left.set_title(f"max {diff.max(initial=0):.2e}, mean {diff.mean() if len(diff) else 0:.2e}")
    right.scatter(keras_p, onnx_p, s=2, alpha=0.3, color="#3b6ea8")
    right.plot([0, 1], [0, 1], color="#c0392b", linewidth=0.8)
    right.set_xlabel("Keras probability")
    right.set_ylabel("ONNX (fp32) probability")
    right.set_title("Keras vs ONNX")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")


def parity_table(report: dict) -> str:
    lines = [
        f"parity on {report['reviews']:,} {report['split']} reviews: {pass_fail(report['passed'])}",
        f"{'variant':<9} {'size':>8} {'max|dp|':>10} {'mean|dp|':>10} {'p99|dp|':>10} {'labels equal':>20} "
        f"{'keras acc':>9} {'onnx acc':>9}  result",
    ]
    for v, r in report["variants"].items():
        lines.append(
            f"{v:<9} {r['size_bytes'] / 1e6:>6.2f}MB {r['max_abs_diff']:>10.2e} {r['mean_abs_diff']:>10.2e} "
            f"{r['p99_abs_diff']:>10.2e} {r['labels_equal']:>10,}/{r['reviews']:<9,} {r['keras_accuracy']:>9.4f} "
            f"{r['onnx_accuracy']:>9.4f}  {'pass' if r['passed'] else 'FAIL: ' + r['failure']}"
        )
        for f in r["flipped"][:20]:
            lines.append(f"  flipped {f['id']}: label {f['label']}, keras {f['keras']:.6f}, onnx {f['onnx']:.6f}")
    if report.get("text_preprocessing"):
        lines.append(text_preprocessing_line(report["text_preprocessing"]))
    lines.append(f"reports: {report['export']}/parity.json, parity.md, parity.png")
    return "\n".join(lines)


def text_preprocessing_line(t: dict) -> str:
    h = t["hard_strings"]
    return (
        f"text preprocessing in the graph: ids equal to toolkit.edge.text on {t['equal']:,} of {t['reviews']:,} "
        f"reviews "
        f"and {h['equal']} of {h['total']} hard strings: {'pass' if t['passed'] else 'FAIL'}"
    )


def run_summary(run_dir, export_dir, report: dict) -> str:
    """``toolkit run``'s closing table: accuracy, speed, parity and where everything went."""
    metrics = read_run(run_dir).metrics
    seconds = sorted(e["seconds"] for e in metrics["epochs"])
    fp32 = report["variants"]["fp32"]
    rows = [
        ("test accuracy (Keras)", f"{metrics['test']['accuracy']:.4f} on {metrics['test']['reviews']:,} reviews"),
        (
            "seconds per epoch (median)",
            f"{seconds[len(seconds) // 2]:.1f} s over {len(seconds)} epoch(s), {metrics['mode']}",
        ),
        (
            "parity fp32",
            f"{fp32['labels_equal']:,}/{fp32['reviews']:,} labels equal, max |dp| {fp32['max_abs_diff']:.2e}",
        ),
    ]
    for v, r in report["variants"].items():
        rows.append(
            (
                f"{v} model",
                f"{r['size_bytes'] / 1e6:.2f} MB, accuracy {r['onnx_accuracy']:.4f}, "
                f"{'pass' if r['passed'] else 'FAIL'}",
            )
        )
    if report.get("text_preprocessing"):
        rows.append(("text preprocessing", text_preprocessing_line(report["text_preprocessing"]).split(": ", 1)[1]))
    rows += [
        ("run folder", str(run_dir)),
        ("export folder", str(export_dir)),
        ("parity", pass_fail(report["passed"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
