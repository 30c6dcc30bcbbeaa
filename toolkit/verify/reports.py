"""Parity reports, for machines and for people: ``parity.json``, ``parity.md``, ``parity.png`` (|Δp|
histogram on a log scale; Keras vs ONNX probabilities), ``confusion.png`` (the fp32 model's confusion
matrix) and the tables the CLI prints. Two classes or K: per-class accuracy and confusion matrices in
parity.md (beyond ``MATRIX_CLASSES`` classes, the most-confused pairs instead of the matrices)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from toolkit.artifacts.runs import read_run
from toolkit.core.files import atomic_write_files
from toolkit.edge.contract import REPORT_CONFUSION_PNG, REPORT_FILES, REPORT_JSON, REPORT_MD, REPORT_PNG, predicted
from toolkit.verify.classes import as_probabilities, most_confused

MATRIX_CLASSES = 20  # parity.md prints confusion matrices up to this many classes, else the pairs
CONFUSED_PAIRS = 20  # ... the most-confused pairs shown instead
PER_CLASS_ROWS = 50  # parity.md's per-class table lists every class up to this many, else the 20 worst


def pass_fail(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def write_reports(folder: Path, report: dict, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    """parity.json, parity.md, parity.png and confusion.png as one set:
    all are written to temporary files first and renamed into place only when every one is complete,
    so a full disk leaves the reports that were there before, not a mix (the error names the file)."""
    files = {
        folder / REPORT_JSON: to_json(report).encode("utf-8"),
        folder / REPORT_MD: markdown(report).encode("utf-8"),
        folder / REPORT_PNG: lambda path: plot(path, keras_p, onnx_p),
        folder / REPORT_CONFUSION_PNG: lambda path: plot_confusion(path, report),
    }
    atomic_write_files(files)


# a list of numbers as json.dumps(indent=2) spreads it, one number a line (JSON strings hold no raw newline)
_NUMBER = r"(?:-?(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|Infinity)|NaN)"
_NUMBER_LIST = re.compile(rf"\[\n\s+({_NUMBER}(?:,\n\s+{_NUMBER})*)\n\s*\]")


def to_json(report: dict) -> str:
    """parity.json's text: ``json.dumps(report, indent=2)``, but each list of numbers (a confusion
    matrix's row) on one line: a 1,000-class matrix is 1,000 lines, not a million."""
    text = json.dumps(report, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]", text)


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
    lines += per_class_table(report) + confusion_tables(report)
    names = class_names(report)
    for v, r in report["variants"].items():
        if r["flipped"] and "keras_label" in r["flipped"][0]:  # K classes
            lines += [
                "",
                f"## {v}: {len(r['flipped'])} flipped review(s)",
                "",
                "| review | label | Keras label | ONNX label | Keras p (Keras label, ONNX label) "
                "| ONNX p (Keras label, ONNX label) |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {f['id']} | {_cell(names, f['label'])} | {_cell(names, f['keras_label'])} | "
                f"{_cell(names, f['onnx_label'])} | {f['keras_p'][0]:.6f}, {f['keras_p'][1]:.6f} | "
                f"{f['onnx_p'][0]:.6f}, {f['onnx_p'][1]:.6f} |"
                for f in r["flipped"][:200]
            ]
        elif r["flipped"]:
            lines += [
                "",
                f"## {v}: {len(r['flipped'])} flipped review(s)",
                "",
                "| review | label | Keras p | ONNX p |",
                "| --- | --- | --- | --- |",
            ]
            lines += [f"| {f['id']} | {f['label']} | {f['keras']:.6f} | {f['onnx']:.6f} |" for f in r["flipped"][:200]]
    return "\n".join(lines) + "\n"


def class_names(report: dict) -> list[str]:
    """The report's class names: ``classes``, else those of its per-class figures."""
    if report.get("classes"):
        return list(report["classes"])
    for r in report["variants"].values():
        if r.get("per_class"):
            return [c["name"] for c in r["per_class"]]
    return []


def _name(names: list, i: int) -> str:
    return names[i] if 0 <= i < len(names) else str(i)


def _cell(names: list, i: int) -> str:
    """A class name for a Markdown table cell (a ``|`` in it escaped)."""
    return _name(names, i).replace("|", "\\|")


def _accuracy(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def per_class_table(report: dict) -> list[str]:
    """parity.md's per-class accuracy (recall): Keras' and each variant's on each class's reviews."""
    variants = {v: r["per_class"] for v, r in report["variants"].items() if r.get("per_class")}
    if not variants:
        return []
    first = next(iter(variants.values()))
    names = [c["name"] for c in first]
    rows = list(range(len(first)))
    lines = ["", f"## Accuracy per class (recall): {len(first):,} classes", ""]
    if len(rows) > PER_CLASS_ROWS:

        def drop(i):  # the largest drop below Keras of any variant on class i (a class without reviews: 0)
            if first[i]["keras_accuracy"] is None:
                return 0.0
            return max(first[i]["keras_accuracy"] - c[i]["onnx_accuracy"] for c in variants.values())

        rows = sorted(rows, key=lambda i: (-drop(i), i))[:20]
        lines += [f"The 20 classes whose accuracy drops most below Keras' ({REPORT_JSON} has every class).", ""]
    lines += [
        "| class | reviews | Keras | " + " | ".join(variants) + " |",
        "| --- | --- | --- |" + " --- |" * len(variants),
    ]
    for i in rows:
        accuracies = " | ".join(_accuracy(c[i]["onnx_accuracy"]) for c in variants.values())
        c = first[i]
        lines.append(f"| {_cell(names, i)} | {c['reviews']:,} | {_accuracy(c['keras_accuracy'])} | {accuracies} |")
    return lines


def confusion_tables(report: dict) -> list[str]:
    """parity.md's confusion matrices (Keras', then each variant's; rows: the true class, columns: the
    predicted), or beyond ``MATRIX_CLASSES`` classes the pairs most confused, with every model's count."""
    matrices = {"Keras": report.get("keras_confusion") or []}
    matrices.update({f"{v} ONNX": r.get("confusion") or [] for v, r in report["variants"].items()})
    matrices = {title: m for title, m in matrices.items() if m}
    if not matrices:
        return []
    names = class_names(report)
    k = len(next(iter(matrices.values())))
    lines = ["", "## Confusion matrix", "", "Rows: the true class; columns: the class predicted; cells: reviews."]
    if k <= MATRIX_CLASSES:
        for title, m in matrices.items():
            header = " | ".join(_cell(names, j) for j in range(k))
            lines += ["", f"### {title}", "", f"| true class | {header} |", "| --- |" + " --- |" * k]
            lines += [f"| {_cell(names, i)} | " + " | ".join(f"{n:,}" for n in row) + " |" for i, row in enumerate(m)]
        return lines
    ranked = next((t for t in matrices if t != "Keras"), "Keras")  # the pairs fp32 confuses, when it is there
    pairs = most_confused(matrices[ranked], CONFUSED_PAIRS)
    lines += ["", f"{k:,} classes: too many for a matrix here ({REPORT_JSON} has every count)."]
    if not pairs:
        return lines + ["", f"{ranked} predicts every review as its true class."]
    lines += [
        "",
        f"The {len(pairs)} pairs {ranked} confuses most (true class, predicted class), reviews per model:",
        "",
        "| true class | predicted | " + " | ".join(matrices) + " |",
        "| --- | --- |" + " --- |" * len(matrices),
    ]
    for i, j, _ in pairs:
        counts = " | ".join(f"{m[i][j]:,}" for m in matrices.values())
        lines.append(f"| {_cell(names, i)} | {_cell(names, j)} | {counts} |")
    return lines


def plot(path: Path, keras_p: np.ndarray, onnx_p: np.ndarray) -> None:
    """parity.png: a Figure of its own with the Agg canvas (no pyplot: matplotlib's global backend and
    figure list stay as the caller had them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only here: matplotlib takes a second
    from matplotlib.figure import Figure

    keras_p, onnx_p = as_probabilities(keras_p), as_probabilities(onnx_p)
    diff = np.abs(keras_p.astype(np.float64) - onnx_p.astype(np.float64))
    what, farthest = "probability", ""
    if keras_p.ndim == 2:  # K classes: each review's largest |dp|; the probabilities of Keras' label
        diff, farthest = diff.max(axis=1), "largest over the classes, "
        rows, label = np.arange(len(keras_p)), predicted(keras_p)
        keras_p, onnx_p, what = keras_p[rows, label], onnx_p[rows, label], "probability of Keras' label"
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    floor = 1e-10
    bins = np.logspace(np.log10(floor), 0, 60)
    left.hist(np.clip(diff, floor, None), bins=bins, color="#3b6ea8")
    left.set_xscale("log")
    left.set_xlabel(f"|p_keras - p_onnx| ({farthest}values below {floor:g} shown at {floor:g})")
    left.set_ylabel("reviews")
    left.set_title(f"max {diff.max(initial=0):.2e}, mean {diff.mean() if len(diff) else 0:.2e}")
    right.scatter(keras_p, onnx_p, s=2, alpha=0.3, color="#3b6ea8")
    right.plot([0, 1], [0, 1], color="#c0392b", linewidth=0.8)
    right.set_xlabel(f"Keras {what}")
    right.set_ylabel(f"ONNX (fp32) {what}")
    right.set_title("Keras vs ONNX")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")


def plot_confusion(path: Path, report: dict) -> None:
    """confusion.png: the fp32 model's confusion matrix (else the first variant's, else Keras'), each
    cell coloured by its share of the true class's reviews, with the counts up to ``MATRIX_CLASSES``
    classes (a Figure of its own, as :func:`plot`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    variants = {v: r for v, r in report["variants"].items() if r.get("confusion")}
    source = "fp32" if "fp32" in variants else next(iter(variants), None)
    matrix = variants[source]["confusion"] if source else report.get("keras_confusion") or []
    title = f"{source} ONNX" if source else "Keras"
    m = np.asarray(matrix, dtype=np.float64).reshape(len(matrix), -1) if matrix else np.zeros((0, 0))
    names = [n if len(n) <= 24 else f"{n[:11]}…{n[-11:]}" for n in class_names(report)]
    k, names = len(m), [n.replace("$", r"\$") for n in names]  # a name is text, not mathtext
    side = 4.5 + 0.45 * min(k, MATRIX_CLASSES) if k <= MATRIX_CLASSES else 10
    fig = Figure(figsize=(side + 1.5, side))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(f"{title} on {report['reviews']:,} {report['split']} reviews", fontsize=10)
    if k == 0:
        ax.text(0.5, 0.5, "no confusion matrix: no variant was compared", ha="center", va="center")
        ax.set_axis_off()
    else:
        totals = m.sum(axis=1, keepdims=True)
        share = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's reviews")
        if k <= MATRIX_CLASSES:
            labels = names if len(names) == k else [str(i) for i in range(k)]
            ax.set_xticks(range(k), labels=labels, rotation=45 if k > 2 else 0, ha="right" if k > 2 else "center")
            ax.set_yticks(range(k), labels=labels)
            for i in range(k):
                for j in range(k):
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{int(m[i, j]):,}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xlabel("predicted class" + ("" if k <= MATRIX_CLASSES else f" (index 0 to {k - 1})"))
        ax.set_ylabel("true class" + ("" if k <= MATRIX_CLASSES else f" (index 0 to {k - 1})"))
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png", bbox_inches="tight")  # long class names stay in the picture


def parity_table(report: dict) -> str:
    lines = [
        f"parity on {report['reviews']:,} {report['split']} reviews: {pass_fail(report['passed'])}",
        f"{'variant':<9} {'size':>8} {'max|dp|':>10} {'mean|dp|':>10} {'p99|dp|':>10} {'labels equal':>20} "
        f"{'keras acc':>9} {'onnx acc':>9}  result",
    ]
    names = class_names(report)
    for v, r in report["variants"].items():
        lines.append(
            f"{v:<9} {r['size_bytes'] / 1e6:>6.2f}MB {r['max_abs_diff']:>10.2e} {r['mean_abs_diff']:>10.2e} "
            f"{r['p99_abs_diff']:>10.2e} {r['labels_equal']:>10,}/{r['reviews']:<9,} {r['keras_accuracy']:>9.4f} "
            f"{r['onnx_accuracy']:>9.4f}  {'pass' if r['passed'] else 'FAIL: ' + r['failure']}"
        )
        for f in r["flipped"][:20]:
            lines.append(f"  flipped {_flip(names, f)}")
    if report.get("text_preprocessing"):
        lines.append(text_preprocessing_line(report["text_preprocessing"]))
    lines.append(f"reports: {report['export']}/{', '.join(REPORT_FILES)}")
    return "\n".join(lines)


def _flip(names: list, f: dict) -> str:
    """One flipped review for the CLI table: two classes as always, K with each side's class."""
    if "keras_label" not in f:
        return f"{f['id']}: label {f['label']}, keras {f['keras']:.6f}, onnx {f['onnx']:.6f}"
    return (
        f"{f['id']}: label {_name(names, f['label'])}, keras {_name(names, f['keras_label'])} "
        f"{f['keras_p'][0]:.6f}, onnx {_name(names, f['onnx_label'])} {f['onnx_p'][1]:.6f}"
    )


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
