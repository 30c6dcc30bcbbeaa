"""Two or more classes at the edge (issue 18) on hand-built exports (no TensorFlow, no training): the
metadata of K > 2 labels (no threshold) and the output width checked, the sessions' [n, K], the
Classifier's labels by argmax and its top-k, the predict CLI's --top-k and --json; two classes as before."""

import json
import shutil

import numpy as np
import onnx
import pytest

from tests.helpers import FP32, TEXT, edit_props, ids_model, ids_model_k, k_class_export, k_labels
from toolkit.cli.main import main
from toolkit.core.errors import ExportError, PredictError
from toolkit.core.files import sha256_file
from toolkit.edge import predict as predict_module
from toolkit.edge.contract import MAX_CLASSES, ONNX_FILE, VOCAB_FILE
from toolkit.edge.predict import Classifier, Prediction, format_table
from toolkit.edge.sessions import check_export, open_export, texts_probabilities, tokens_probabilities
from toolkit.edge.text import Vocabulary

TEXTS = ["a great film", "awful", "film", "an", "great acting, awful plot"]
# ids_model_k(k=3): great -> class 0 (+2) and 1 (+1), awful -> 1 and 2, film -> 2 and 0, acting -> 0 and 1,
# plot -> 1 and 2; "an" is known but scores nothing: a uniform row, the first class by the tie rule
ARGMAX = [0, 1, 2, 0, 1]


@pytest.fixture
def k3(tmp_path):
    return k_class_export(tmp_path / "k3", 3)


def _one_line(call, fragment: str, kind=ExportError) -> str:
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    return message


def _relabel_both(folder, props: dict) -> None:
    """``props`` on model.onnx and model.text.onnx, sealed, the text model's source sha256 kept true."""
    edit_props(folder / FP32, props)
    edit_props(folder / TEXT, {**props, "variant.source_sha256": sha256_file(folder / FP32)})


# --- metadata ----------------------------------------------------------------------------------------
def test_k_labels_open_with_no_threshold(k3, tmp_path):
    for variant in ("fp32", "text"):
        session, meta, _ = open_export(k3, variant)
        assert meta.labels == tuple(k_labels(3)) and meta.threshold is None and meta.num_classes == 3
        assert "decision_threshold" not in meta
    assert check_export(k3).labels == tuple(k_labels(3))  # the shared keys: absent from every variant alike
    big = k_class_export(tmp_path / "k1000", MAX_CLASSES, text=False)
    _, meta, _ = open_export(big)
    assert len(meta.labels) == MAX_CLASSES and meta.threshold is None


def test_two_labels_keep_their_threshold(export):
    _, meta, _ = open_export(export)
    assert meta.labels == ("negative", "positive") and meta.threshold == 0.5 and meta.num_classes == 2


LABEL_LIST = "is not a JSON list of 2 to 1,000 distinct, non-empty one-line labels"
K_EDITS = [
    # (props on both models of the 3-class export, fragment of the error)
    ({"labels": '["only"]'}, LABEL_LIST),
    ({"labels": "[]"}, LABEL_LIST),
    ({"labels": json.dumps(k_labels(MAX_CLASSES + 1))}, LABEL_LIST),
    ({"labels": '["a", "b", "a"]'}, LABEL_LIST),
    ({"labels": '["a", "b", " "]'}, LABEL_LIST),
    ({"labels": '["a", "b", "c\\nd"]'}, LABEL_LIST),
    ({"labels": '["a", "b", 3]'}, LABEL_LIST),
    ({"decision_threshold": "0.5"}, "records decision_threshold '0.5' with 3 labels: a model of more than two"),
    ({"decision_threshold": "abc"}, "records decision_threshold 'abc' with 3 labels"),
    ({"labels": json.dumps(k_labels(4))}, "its output gives 3 numbers per review, but 4 labels need 4"),
    ({"labels": '["a", "b"]', "decision_threshold": "0.5"}, "gives 3 numbers per review, but 2 labels need 1"),
    ({"labels": '["a", "b"]'}, "decision_threshold None is not a number between 0 and 1"),
]


@pytest.mark.parametrize("props, fragment", K_EDITS, ids=[str(e[0])[:40] for e in K_EDITS])
def test_broken_k_metadata_is_a_one_line_error(k3, props, fragment):
    _relabel_both(k3, props)
    for variant in ("fp32", "text"):
        message = _one_line(lambda v=variant: open_export(k3, v), fragment)
        assert message.endswith("export the run again"), message
        _one_line(lambda v=variant: Classifier.load(k3, v), fragment)


def test_two_labels_need_a_threshold_and_a_one_wide_output(export, tmp_path):
    edit_props(export / FP32, {"decision_threshold": None})
    _one_line(lambda: open_export(export, "fp32"), "decision_threshold None is not a number between 0 and 1")
    # three labels on the two-class model (output [batch, 1]), no threshold: the output cannot say three
    vocab = Vocabulary.load(export / VOCAB_FILE)
    onnx.save(ids_model(vocab), str(export / ONNX_FILE))
    (export / TEXT).unlink()
    edit_props(export / FP32, {"labels": json.dumps(k_labels(3)), "decision_threshold": None})
    _one_line(lambda: open_export(export), "its output gives 1 numbers per review, but 3 labels need 3")


def test_a_variant_must_record_the_same_labels_and_no_threshold(k3):
    edit_props(k3 / TEXT, {"labels": '["x", "y", "z"]'})
    _one_line(lambda: open_export(k3, "text"), 'model.text.onnx records labels \'["x", "y", "z"]\', but')
    edit_props(k3 / TEXT, {"labels": json.dumps(k_labels(3)), "decision_threshold": "0.5"})
    _one_line(lambda: open_export(k3, "text"), "records decision_threshold '0.5' with 3 labels")


# --- sessions ----------------------------------------------------------------------------------------
def test_sessions_give_n_by_k_in_the_callers_order(k3, export):
    session, _, vocab = open_export(k3)
    texts = TEXTS * 4
    tokens = vocab.encode(texts)
    one_by_one = np.concatenate([session.run(None, {"token_ids": tokens[i : i + 1]})[0] for i in range(len(texts))])
    assert one_by_one.shape == (len(texts), 3)
    for batch_size in (1, 3, 64):
        p = tokens_probabilities(session, tokens, batch_size)
        assert p.shape == (len(texts), 3) and p.dtype == np.float32
        np.testing.assert_allclose(p, one_by_one, atol=1e-6)
    text_session, _, _ = open_export(k3, "text")
    np.testing.assert_allclose(texts_probabilities(text_session, texts, 3), one_by_one, atol=1e-6)
    assert tokens_probabilities(session, tokens[:0]).shape == (0, 3)
    assert texts_probabilities(text_session, []).shape == (0, 3)
    two, _, two_vocab = open_export(export)  # two classes: [n], as before
    assert tokens_probabilities(two, two_vocab.encode(texts), 3).shape == (len(texts),)
    assert tokens_probabilities(two, two_vocab.encode(texts)[:0]).shape == (0,)


# --- the classifier ----------------------------------------------------------------------------------
def test_the_classifier_labels_k_classes_by_argmax(k3):
    labels = k_labels(3)
    by_variant = {}
    for variant in ("fp32", "text"):
        clf = Classifier.load(k3, variant)
        assert clf.labels == tuple(labels) and clf.threshold is None and clf.num_classes == 3
        p = clf.probabilities(TEXTS)
        assert p.shape == (len(TEXTS), 3) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
        assert p.argmax(axis=1).tolist() == ARGMAX
        predictions = clf.predict(TEXTS)
        assert [x.label for x in predictions] == [labels[i] for i in ARGMAX]
        assert [x.probability for x in predictions] == pytest.approx(p.max(axis=1).tolist(), abs=0)
        assert all(len(x.top) == 1 and x.top[0] == (x.label, x.probability) for x in predictions)
        by_variant[variant] = p
        assert clf.probabilities("one review").shape == (1, 3)
    np.testing.assert_allclose(by_variant["fp32"], by_variant["text"], atol=1e-6)


def test_top_k_lists_the_most_probable_classes_best_first(k3):
    clf = Classifier.load(k3)
    p = clf.probabilities(TEXTS)
    for top_k, length in ((1, 1), (2, 2), (3, 3), (7, 3)):  # more than K: all K
        for row, x in zip(p, clf.predict(TEXTS, top_k=top_k)):
            assert len(x.top) == length
            names = [name for name, _ in x.top]
            values = [q for _, q in x.top]
            assert x.top[0] == (x.label, x.probability) and values == sorted(values, reverse=True)
            assert len(set(names)) == length
            assert values == [float(row[k_labels(3).index(name)]) for name in names]
    uniform = clf.predict(["an"], top_k=3)[0]  # a tie: label order
    assert [name for name, _ in uniform.top] == k_labels(3)
    for bad in (0, -1, 1.5, True, "2"):
        _one_line(lambda k=bad: clf.predict(TEXTS, top_k=k), "top_k must be a whole number of at least 1", PredictError)


def test_two_classes_predict_as_before_and_list_both(export):
    clf = Classifier.load(export)
    texts = ["a great film", "awful", "film"]
    p = clf.probabilities(texts)
    assert p.shape == (3,)
    for top_k in (1, 2, 5):
        predictions = clf.predict(texts, top_k=top_k)
        assert [x.label for x in predictions] == ["positive", "negative", "positive"]
        assert [x.probability for x in predictions] == [float(v) for v in p]  # the second label's, always
        for x, v in zip(predictions, p):
            q = float(np.float32(1) - v)
            assert sorted(x.top) == sorted([("positive", float(v)), ("negative", q)])
            assert x.top[0][1] >= x.top[1][1]
    assert predictions[1].top[0] == ("negative", float(np.float32(1) - p[1]))
    assert predictions[2].top == (("positive", 0.5), ("negative", 0.5))  # a tie: the predicted label first
    assert Prediction("positive", 0.9) == Prediction("positive", 0.9, ())  # top defaults to nothing


def test_nan_and_a_wrong_width_are_refused_for_k_classes(k3, monkeypatch):
    broken = k3.parent / "broken"
    shutil.copytree(k3, broken)
    _, _, vocab = open_export(k3)
    onnx.save(ids_model_k(vocab, 3, scale=float("nan")), str(broken / ONNX_FILE))
    (broken / TEXT).unlink()
    _one_line(lambda: Classifier.load(broken).predict(["a", "b", "c"]), "for 3 of 3 review(s)", PredictError)
    clf = Classifier.load(k3, "fp32")  # a graph whose width is open could give another number of classes
    monkeypatch.setattr(predict_module, "tokens_probabilities", lambda *a: np.full((2, 2), 0.5, np.float32))
    _one_line(lambda: clf.probabilities(["a", "b"]), "the model gave 2 numbers per review, but 3 labels need 3")


def test_format_table_shows_the_top_classes_only_when_asked(k3, export):
    clf = Classifier.load(k3)
    plain = format_table(TEXTS, clf.predict(TEXTS, top_k=2))
    assert plain.splitlines()[0] == "label     probability  review"
    table = format_table(TEXTS, clf.predict(TEXTS, top_k=2), top_k=2).splitlines()
    assert table[0].split() == ["label", "probability", "top", "review"]
    assert table[1].startswith("class 0        0.6652  class 0 0.6652, class 2 0.2447  a great film")
    assert len({line.index("review" if i == 0 else TEXTS[i - 1][:4]) for i, line in enumerate(table)}) == 1
    two = Classifier.load(export)
    texts = ["a great film", "awful"]
    assert format_table(texts, two.predict(texts)).splitlines() == [
        "label     probability  review",
        "positive       0.8808  a great film",
        "negative       0.1192  awful",
    ]
    assert format_table(texts, two.predict(texts, top_k=2), top_k=2).splitlines()[2] == (
        "negative       0.1192  negative 0.8808, positive 0.1192  awful"
    )


# --- the predict CLI ---------------------------------------------------------------------------------
def _cli(capsys, *args):
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_cli_top_k_and_json_for_k_classes(k3, capsys):
    expected = Classifier.load(k3).predict(TEXTS, top_k=3)
    code, out, err = _cli(capsys, "predict", k3, "--json", *TEXTS)
    assert code == 0, err
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"label", "probability"}] * len(TEXTS)  # as ever: no "top" by default
    assert [(r["label"], r["probability"]) for r in rows] == [(x.label, round(x.probability, 6)) for x in expected]
    for top_k, length in (("2", 2), ("3", 3), ("50", 3)):
        code, out, err = _cli(capsys, "predict", k3, "--json", "--top-k", top_k, *TEXTS)
        assert code == 0, err
        rows = json.loads(out)
        for r, x in zip(rows, expected):
            assert list(r) == ["label", "probability", "top"]
            assert r["top"] == [{"label": n, "probability": round(q, 6)} for n, q in x.top[:length]]
    code, out, err = _cli(capsys, "predict", k3, "--top-k", "2", "--variant", "fp32", *TEXTS)
    assert code == 0, err
    assert out == format_table(TEXTS, expected, top_k=2) + "\n"
    code, out, _ = _cli(capsys, "predict", k3, *TEXTS)
    assert out == format_table(TEXTS, expected) + "\n" and " top " not in out.splitlines()[0]


def test_predict_cli_two_classes_unchanged_and_both_with_top_k(export, capsys):
    code, out, err = _cli(capsys, "predict", export, "--json", "a great film", "awful")
    assert code == 0, err
    assert json.loads(out) == [
        {"label": "positive", "probability": 0.880797},
        {"label": "negative", "probability": 0.119203},
    ]
    code, out, err = _cli(capsys, "predict", export, "--json", "--top-k", "2", "awful")
    assert code == 0, err
    assert json.loads(out) == [
        {
            "label": "negative",
            "probability": 0.119203,
            "top": [{"label": "negative", "probability": 0.880797}, {"label": "positive", "probability": 0.119203}],
        }
    ]


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("0", "argument --top-k: must be at least 1, got 0"),
        ("-2", "argument --top-k: must be at least 1, got -2"),
        ("two", "argument --top-k: expected a whole number, got 'two'"),
        ("1.5", "argument --top-k: expected a whole number, got '1.5'"),
    ],
)
def test_a_bad_top_k_is_a_one_line_usage_error(k3, capsys, value, fragment):
    code, out, err = _cli(capsys, "predict", k3, "--top-k", value, "a great film")
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("toolkit: error: ") and fragment in line, line


def test_predict_cli_refuses_a_broken_k_export_in_one_line(k3, capsys):
    _relabel_both(k3, {"decision_threshold": "0.5"})
    code, out, err = _cli(capsys, "predict", k3, "a great film")
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("toolkit: error: ") and "with 3 labels" in line, line
