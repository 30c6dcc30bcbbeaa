"""verify for two or more classes (issue 18), on synthetic arrays (no TensorFlow): parity.compare and
parity.check on [n] and [n, K] probabilities, the per-class figures and confusion matrices, the reports
(parity.json, parity.md, confusion.png) and the Keras reference's shapes."""

import json
from dataclasses import asdict, fields, replace
from types import SimpleNamespace

import numpy as np
import pytest

from tests.helpers import add_text_model, edit_props, padded
from toolkit.config import Tolerances
from toolkit.core.errors import (
    AccuracyDrop,
    ExportError,
    LabelDisagreement,
    LabelFlips,
    NonFiniteProbabilities,
    ParityError,
    ProbabilityMismatch,
)
from toolkit.verify.classes import confusion, most_confused
from toolkit.verify.parity import VariantParity, check, compare
from toolkit.verify.reports import (
    REPORT_CONFUSION_PNG,
    REPORT_FILES,
    markdown,
    parity_table,
    plot,
    plot_confusion,
    to_json,
    write_reports,
)

PNG = b"\x89PNG\r\n\x1a\n"

# --- two classes: today's figures, by hand ------------------------------------------------------------
Y2 = np.array([1, 0, 1, 0, 1, 0, 1, 0], np.int32)
IDS2 = np.array([f"test/{'pos' if y else 'neg'}/{i}_7" for i, y in enumerate(Y2)])
KERAS2 = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6], np.float32)  # 6 of 8 right: reviews 6 and 7 wrong
ONNX2 = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4], np.float32)  # 6 and 7 flipped (and right)

OLD_FIELDS = {
    "variant", "file", "size_bytes", "reviews", "max_abs_diff", "mean_abs_diff", "p99_abs_diff",
    "over_tolerance", "non_finite", "labels_equal", "label_agreement", "keras_accuracy", "onnx_accuracy",
    "flipped", "seconds", "passed", "failure",
}  # fmt: skip


def test_two_classes_give_todays_figures_and_the_new_ones():
    p = compare("fp32", KERAS2, ONNX2, Y2, IDS2, Tolerances(atol=1.0, max_label_flips=2))
    assert {f.name for f in fields(VariantParity)} == OLD_FIELDS | {"num_classes", "per_class", "confusion"}
    assert p.passed and p.reviews == 8 and p.non_finite == 0 and p.over_tolerance == 0
    assert p.max_abs_diff == pytest.approx(0.2) and p.p99_abs_diff == pytest.approx(0.2)
    assert p.mean_abs_diff == pytest.approx(0.4 / 8)
    assert (p.labels_equal, p.label_agreement, p.keras_accuracy, p.onnx_accuracy) == (6, 0.75, 0.75, 1.0)
    assert [sorted(f) for f in p.flipped] == [["id", "keras", "label", "onnx"]] * 2  # the entries as they were
    assert p.flipped[0] == {"id": IDS2[6], "label": 1, "keras": pytest.approx(0.4), "onnx": pytest.approx(0.6)}
    assert p.num_classes == 2
    assert p.per_class == [
        {"name": "negative", "reviews": 4, "keras_accuracy": 0.75, "onnx_accuracy": 1.0},
        {"name": "positive", "reviews": 4, "keras_accuracy": 0.75, "onnx_accuracy": 1.0},
    ]
    assert p.confusion == [[4, 0], [0, 4]]  # rows: true class; ONNX gets every review right
    assert compare("fp32", KERAS2, ONNX2, Y2, IDS2, Tolerances()).over_tolerance == 2
    # [n, 1] is two classes too, figure for figure
    column = compare("fp32", KERAS2[:, None], ONNX2[:, None], Y2, IDS2, Tolerances(atol=1.0, max_label_flips=2))
    assert asdict(column) == asdict(p)


def test_a_two_class_variant_built_without_the_new_fields_still_checks():
    old = VariantParity(variant="fp32", reviews=8, max_abs_diff=2e-5, mean_abs_diff=0.0, p99_abs_diff=0.0,
                        over_tolerance=1, non_finite=0, labels_equal=8, label_agreement=1.0, keras_accuracy=1.0,
                        onnx_accuracy=1.0)  # fmt: skip
    assert old.num_classes == 2 and old.per_class == [] and old.confusion == []
    with pytest.raises(ProbabilityMismatch, match="^fp32: 1 of 8 probabilities differ by more than"):
        check(old, Tolerances())


# --- three classes --------------------------------------------------------------------------------------
NAMES = ("sad", "neutral", "happy")
Y3 = np.array([0, 1, 2, 0, 1, 2], np.int32)
IDS3 = np.array([f"r{i}" for i in range(6)])
KERAS3 = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]]
)  # argmax 0 1 2 0 0 2: 5 of 6 right (review 4 is wrong)


def onnx3():
    """Keras' probabilities with review 3 turned to class 1 (wrong), review 4 to class 1 (right) and a
    tiny shift on review 0 (within atol)."""
    onnx = KERAS3.copy()
    onnx[0] += [-1e-6, 1e-6, 0.0]
    onnx[3] = [0.3, 0.45, 0.25]
    onnx[4] = [0.4, 0.5, 0.1]
    return onnx


def test_three_classes_argmax_labels_and_the_largest_difference_over_the_classes():
    p = compare("fp32", KERAS3, onnx3(), Y3, IDS3, Tolerances(atol=0.2, max_label_flips=2), classes=NAMES)
    assert p.passed and p.num_classes == 3 and p.reviews == 6 and p.non_finite == 0
    assert p.max_abs_diff == pytest.approx(0.1)  # review 3: |0.4 - 0.3| and |0.35 - 0.45|
    assert p.mean_abs_diff == pytest.approx((1e-6 + 0.1 + 0.1) / 6)  # of each review's largest |dp|
    assert p.p99_abs_diff == pytest.approx(np.percentile([1e-6, 0, 0, 0.1, 0.1, 0], 99))
    assert (p.labels_equal, p.label_agreement) == (4, pytest.approx(4 / 6))
    assert p.keras_accuracy == pytest.approx(5 / 6) and p.onnx_accuracy == pytest.approx(5 / 6)
    assert p.flipped == [
        {"id": "r3", "label": 0, "keras_label": 0, "onnx_label": 1, "keras_p": [0.4, 0.35], "onnx_p": [0.3, 0.45]},
        {"id": "r4", "label": 1, "keras_label": 0, "onnx_label": 1, "keras_p": [0.5, 0.4], "onnx_p": [0.4, 0.5]},
    ]
    assert p.per_class == [
        {"name": "sad", "reviews": 2, "keras_accuracy": 1.0, "onnx_accuracy": 0.5},
        {"name": "neutral", "reviews": 2, "keras_accuracy": 0.5, "onnx_accuracy": 1.0},
        {"name": "happy", "reviews": 2, "keras_accuracy": 1.0, "onnx_accuracy": 1.0},
    ]
    assert p.confusion == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    assert confusion(Y3, [0, 1, 2, 0, 0, 2], 3) == [[2, 0, 0], [1, 1, 0], [0, 0, 2]]  # Keras'
    json.dumps(asdict(p), allow_nan=False)  # every figure a plain JSON value


def test_the_tolerance_gate_for_k_classes_counts_reviews_with_any_class_beyond_it():
    p = compare("fp32", KERAS3, onnx3(), Y3, IDS3, Tolerances(), classes=NAMES)
    assert not p.passed and p.over_tolerance == 2  # reviews 3 and 4; review 0 (1e-6) is within atol 1e-5
    with pytest.raises(ProbabilityMismatch, match=r"^fp32: 2 of 6 reviews' probabilities differ by more than"):
        check(p, Tolerances())
    tol = Tolerances(atol=0.2)
    assert isinstance(_error(compare("text", KERAS3, onnx3(), Y3, IDS3, tol), tol), LabelFlips)
    assert "text: 2 labels flipped" in compare("text", KERAS3, onnx3(), Y3, IDS3, tol).failure
    # rtol is relative to each class's own |p_keras|: moving 2e-5 from class 1 (p 0.2) to class 0 (p 0.7)
    moved = KERAS3.copy()
    moved[0] += [2e-5, -2e-5, 0.0]
    assert compare("fp32", KERAS3, moved, Y3, IDS3, Tolerances(atol=0, rtol=3e-5)).over_tolerance == 1  # class 1
    assert compare("fp32", KERAS3, moved, Y3, IDS3, Tolerances(atol=0, rtol=2e-4)).passed


def test_nan_rows_of_k_classes_are_non_finite_reviews():
    keras, onnx = KERAS3.copy(), KERAS3.copy()
    keras[2] = np.nan
    onnx[5, 1] = np.inf
    tol = Tolerances(atol=1.0, max_label_flips=6)
    p = compare("fp32", keras, onnx, Y3, IDS3, tol)
    assert not p.passed and p.non_finite == 2 and p.max_abs_diff == np.inf
    assert isinstance(_error(p, tol), NonFiniteProbabilities)
    assert p.failure.startswith("fp32: 2 of 6 reviews' probabilities are NaN or infinite")
    assert [f["id"] for f in p.flipped] == ["r2", "r5"]  # a NaN row is class 0; the inf is ONNX's argmax
    assert not compare("int8", keras, onnx, Y3, IDS3, Tolerances(max_accuracy_drop=1, min_label_agreement=0)).passed


def test_a_quantised_k_class_variant_is_judged_by_accuracy_and_agreement():
    worse = KERAS3.copy()
    worse[1] = [0.5, 0.4, 0.1]  # a right answer made wrong: accuracy 5/6 -> 4/6, agreement 5/6
    tol = Tolerances(max_accuracy_drop=0.1, min_label_agreement=0.5)
    assert isinstance(_error(compare("int8", KERAS3, worse, Y3, IDS3, tol), tol), AccuracyDrop)
    tol = Tolerances(max_accuracy_drop=0.2, min_label_agreement=0.9)
    p = compare("int8", KERAS3, worse, Y3, IDS3, tol)
    assert isinstance(_error(p, tol), LabelDisagreement) and "83.33% of reviews" in p.failure
    assert compare("int8", KERAS3, KERAS3 + 0.01, Y3, IDS3, Tolerances()).passed  # |dp| does not matter


def test_shapes_names_and_labels_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="shape"):
        compare("fp32", KERAS3, KERAS3[:, :2], Y3, IDS3, Tolerances())
    with pytest.raises(ValueError, match="shape"):
        compare("fp32", KERAS3, KERAS3[:, 0], Y3, IDS3, Tolerances())
    with pytest.raises(ValueError, match="3 classes but 2 class names"):
        compare("fp32", KERAS3, KERAS3, Y3, IDS3, Tolerances(), classes=("a", "b"))
    with pytest.raises(ValueError, match="class indexes 0 to 2"):
        compare("fp32", KERAS3, KERAS3, Y3 + 1, IDS3, Tolerances())
    default = compare("fp32", KERAS3, KERAS3, Y3, IDS3, Tolerances())
    assert [c["name"] for c in default.per_class] == ["class 0", "class 1", "class 2"]
    empty = compare("fp32", np.zeros((0, 3)), np.zeros((0, 3)), Y3[:0], IDS3[:0], Tolerances())
    assert empty.passed and empty.confusion == [[0] * 3] * 3 and empty.per_class[0]["keras_accuracy"] is None


def test_most_confused_pairs_leave_out_the_diagonal_and_empty_cells():
    m = [[9, 2, 0], [5, 9, 2], [0, 1, 9]]
    assert most_confused(m) == [(1, 0, 5), (0, 1, 2), (1, 2, 2), (2, 1, 1)]
    assert most_confused(m, top=2) == [(1, 0, 5), (0, 1, 2)] and most_confused([[3, 0], [0, 4]]) == []


# --- the reports ------------------------------------------------------------------------------------------
def report_of(keras, variants: dict, y, ids, classes, tol=Tolerances()) -> dict:
    """A report as check.verify_export builds it, from synthetic probabilities per variant."""
    from toolkit.edge.contract import predicted

    results = {v: asdict(replace(compare(v, keras, p, y, ids, tol, classes), file=f"{v}.onnx", size_bytes=1000))
               for v, p in variants.items()}  # fmt: skip
    return {
        "export": "/exports/e",
        "run": "/exports/r",
        "split": "test",
        "reviews": len(y),
        "classes": list(classes),
        "tolerances": asdict(tol),
        "keras_seconds": 0.1,
        "keras_device": "/CPU:0",
        "input": "batches of similar length, each trimmed to its longest review",
        "passed": all(r["passed"] for r in results.values()),
        "variants": results,
        "keras_confusion": confusion(y, predicted(keras), len(classes)),
        "text_preprocessing": None,
    }


def test_a_three_class_report_has_the_classes_per_class_figures_and_confusion_matrices(tmp_path):
    int8 = KERAS3.copy()
    int8[2] = [0.2, 0.5, 0.3]  # wrong now
    report = report_of(KERAS3, {"fp32": onnx3(), "int8": int8}, Y3, IDS3, NAMES)
    write_reports(tmp_path, report, KERAS3, onnx3())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)
    text = (tmp_path / "parity.json").read_text()
    saved = json.loads(text)
    assert saved == report and saved["classes"] == ["sad", "neutral", "happy"]
    assert saved["keras_confusion"] == [[2, 0, 0], [1, 1, 0], [0, 0, 2]]
    fp32 = saved["variants"]["fp32"]
    assert fp32["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]] and fp32["num_classes"] == 3
    assert fp32["per_class"][0] == {"name": "sad", "reviews": 2, "keras_accuracy": 1.0, "onnx_accuracy": 0.5}
    assert saved["variants"]["int8"]["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert '"confusion": [\n' in text and "[1, 1, 0]," in text  # one line a row
    md = (tmp_path / "parity.md").read_text()
    assert md == markdown(report)
    assert "## Accuracy per class (recall): 3 classes" in md and "| class | reviews | Keras | fp32 | int8 |" in md
    assert "| sad | 2 | 1.0000 | 0.5000 | 1.0000 |" in md and "| happy | 2 | 1.0000 | 1.0000 | 0.5000 |" in md
    assert "### Keras" in md and "### fp32 ONNX" in md and "### int8 ONNX" in md
    assert "| true class | sad | neutral | happy |" in md and "| sad | 1 | 1 | 0 |" in md  # fp32's first row
    assert "| neutral | 1 | 1 | 0 |" in md  # Keras' second row
    assert "## fp32: 2 flipped review(s)" in md
    assert "| r3 | sad | sad | neutral | 0.400000, 0.350000 | 0.300000, 0.450000 |" in md
    for png in ("parity.png", REPORT_CONFUSION_PNG):
        assert (tmp_path / png).read_bytes()[:8] == PNG
    table = parity_table(report)
    assert "flipped r3: label sad, keras sad 0.400000, onnx neutral 0.450000" in table
    assert "parity.json, parity.md, parity.png, confusion.png" in table


def test_a_two_class_report_shows_per_class_accuracy_and_its_confusion_matrix(tmp_path):
    report = report_of(KERAS2, {"fp32": ONNX2}, Y2, IDS2, ("negative", "positive"), Tolerances(atol=1.0))
    md = markdown(report)
    assert "| negative | 4 | 0.7500 | 1.0000 |" in md and "| positive | 4 | 0.7500 | 1.0000 |" in md
    keras, fp32 = md.split("### Keras", 1)[1].split("### fp32 ONNX", 1)
    assert "| true class | negative | positive |" in keras and "| negative | 3 | 1 |\n| positive | 1 | 3 |" in keras
    assert "| negative | 4 | 0 |\n| positive | 0 | 4 |" in fp32
    assert "| review | label | Keras p | ONNX p |" in md  # the two-class flipped table as it was
    assert "| test/pos/6_7 | 1 | 0.400000 | 0.600000 |" in md
    plot_confusion(tmp_path / "c.png", report)
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_thirty_classes_print_the_most_confused_pairs_instead_of_the_matrix(tmp_path):
    k, n = 30, 600
    rng = np.random.default_rng(3)
    y = rng.integers(0, k, n).astype(np.int32)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 2.5  # mostly right
    keras = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onnx = keras.copy()
    onnx[:40] = onnx[:40, ::-1]  # 40 reviews' classes reversed: new confusions
    names = tuple(f"topic {i}" for i in range(k))
    report = report_of(keras, {"fp32": onnx}, y, np.array([f"r{i}" for i in range(n)]), names, Tolerances(atol=1))
    md = markdown(report)
    assert "30 classes: too many for a matrix here (parity.json has every count)." in md
    assert "### Keras" not in md and "| true class | topic 0 |" not in md
    pairs = md.split("The 20 pairs fp32 ONNX confuses most (true class, predicted class)", 1)[1]
    rows = [line for line in pairs.splitlines() if line.startswith("| topic ")]
    expected = most_confused(report["variants"]["fp32"]["confusion"], 20)
    assert len(rows) == len(expected) == 20
    fp32 = np.array(report["variants"]["fp32"]["confusion"])
    keras_m = np.array(report["keras_confusion"])
    i, j, count = expected[0]
    assert rows[0] == f"| topic {i} | topic {j} | {keras_m[i, j]:,} | {count:,} |" and count == fp32.max(
        where=~np.eye(k, dtype=bool), initial=0
    )
    per_class = md.split("## Accuracy per class (recall): 30 classes", 1)[1].split("## Confusion", 1)[0]
    assert [line.split(" | ")[0] for line in per_class.splitlines() if line.startswith("| topic")] == [
        f"| {name}" for name in names
    ]  # every class
    plot_confusion(tmp_path / "c.png", report)
    plot(tmp_path / "p.png", keras, onnx)
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG and (tmp_path / "p.png").read_bytes()[:8] == PNG


def test_beyond_fifty_classes_the_per_class_table_shows_the_largest_drops():
    k = 60
    y = np.arange(k, dtype=np.int32).repeat(2)
    keras = np.full((2 * k, k), 0.1 / (k - 1))
    keras[np.arange(2 * k), y] = 0.9
    onnx = keras.copy()
    onnx[[14, 15]] = onnx[[14, 15]][:, ::-1]  # both reviews of class 7 wrong
    onnx[20] = onnx[20, ::-1]  # one of class 10
    names = tuple(f"c{i}" for i in range(k))
    md = markdown(report_of(keras, {"int8": onnx}, y, np.array([f"r{i}" for i in range(2 * k)]), names))
    assert "The 20 classes whose accuracy drops most below Keras' (parity.json has every class)." in md
    table = md.split("## Accuracy per class", 1)[1].split("## Confusion", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| c") and not line.startswith("| class")]
    assert len(rows) == 20 and rows[0] == "| c7 | 2 | 1.0000 | 0.0000 |" and rows[1] == "| c10 | 2 | 1.0000 | 0.5000 |"
    assert rows[2].startswith("| c0 |")  # then no drop, in class order


def test_to_json_keeps_numbers_in_strings_and_every_value():
    report = {"ids": ["[\n  1,\n  2\n]", "a [1, 2] b"], "m": [[1, 2], [3, -4]], "f": [0.5, 1e-07], "x": float("inf")}
    text = to_json(report)
    assert json.loads(text) == report and '"m": [\n    [1, 2],\n    [3, -4]\n  ]' in text
    assert '"f": [0.5, 1e-07]' in text and "Infinity" in text


def test_class_names_are_text_in_the_table_and_the_figure(tmp_path):
    names = ("a|b", "$5 \\frac{", "x$y$")  # a pipe would split a cell, dollars would be mathtext
    report = report_of(KERAS3, {"fp32": onnx3()}, Y3, IDS3, names, Tolerances(atol=1.0, max_label_flips=2))
    md = markdown(report)
    assert "| a\\|b | 2 | 1.0000 | 0.5000 |" in md and "| true class | a\\|b | $5 \\frac{ | x$y$ |" in md
    plot_confusion(tmp_path / "c.png", report)
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_the_four_reports_land_together_or_not_at_all(tmp_path, monkeypatch):
    import toolkit.verify.reports as reports
    from toolkit.core.errors import WriteError

    report = report_of(KERAS3, {"fp32": onnx3()}, Y3, IDS3, NAMES)
    write_reports(tmp_path, report, KERAS3, onnx3())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(path, report):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports, "plot_confusion", full_disk)
    with pytest.raises(WriteError, match="confusion.png"):
        write_reports(tmp_path, {**report, "reviews": 7}, KERAS3, onnx3())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary file, nothing replaced


# --- the Keras reference and the run's classes --------------------------------------------------------
@pytest.mark.parametrize("units", [1, 3])
def test_the_keras_reference_is_n_for_one_unit_and_n_k_for_k_units(units):
    from toolkit.verify.reference import predict_all

    class Model:  # predict_on_batch gives each row its number of tokens, + the unit's index
        output = SimpleNamespace(shape=(None, units))

        def predict_on_batch(self, batch):
            count = (np.asarray(batch) != 0).sum(axis=1, keepdims=True).astype(np.float32)
            return count + np.arange(units, dtype=np.float32)

    lengths = [3, 9, 1, 5, 5, 2, 8]
    done = []
    out = predict_all(Model(), padded(lengths, width=10), 3, True, done.append)
    expected = np.array(lengths, np.float32)[:, None] + np.arange(units)
    assert out.dtype == np.float32 and done[-1] == len(lengths)
    assert out.shape == ((7,) if units == 1 else (7, units)) and np.array_equal(out, expected.reshape(out.shape))


def test_the_run_labels_come_from_its_model_config(export, tmp_path):
    from toolkit.core.files import sha256_file
    from toolkit.edge.contract import VOCAB_FILE
    from toolkit.edge.sessions import open_export
    from toolkit.edge.text import Vocabulary
    from toolkit.verify.reference import matching_run, run_labels

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"the model")
    (run / "metrics.json").write_text("{}")
    edit_props(export / "model.onnx", {"provenance.keras_sha256": sha256_file(run / "model.keras")})
    add_text_model(export, Vocabulary.load(export / VOCAB_FILE))
    _, meta, _ = open_export(export)
    for config in ({}, {"model": {}}, {"model": {"classes": ["negative", "positive"]}}):  # older runs: none
        (run / "config.json").write_text(json.dumps(config))
        assert matching_run(export, meta, run).path == run
    (run / "config.json").write_text(json.dumps({"model": {"classes": ["sad", "neutral", "happy"]}}))
    from toolkit.artifacts.runs import read_run

    assert run_labels(read_run(run)) == (["sad", "neutral", "happy"], None)
    with pytest.raises(ExportError, match=r"but the run .* has \['sad', 'neutral', 'happy'\] at None"):
        matching_run(export, meta, run)


def _error(p, tol):
    with pytest.raises(ParityError) as info:
        check(p, tol)
    assert not p.passed and str(info.value) == p.failure
    return info.value
