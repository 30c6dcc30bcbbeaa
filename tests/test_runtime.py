"""The edge path on a hand-built export (no TensorFlow, no training): runtime.open_export's checks,
batching order, the text model's front end against toolkit.edge.text, and predict.Classifier; the
metadata checks (digest, labels, threshold, input, preprocessing) in Python and in the Node client."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit.core.errors import ExportError, PredictError, VocabularyError
from toolkit.core.files import sha256_file
from toolkit.edge.contract import (
    LABELS,
    METADATA_DIGEST,
    ONNX_FILE,
    TEXT_FILES,
    VARIANT_FILES,
    VOCAB_FILE,
    metadata_digest,
)
from toolkit.edge.metadata import check_derived
from toolkit.edge.predict import Classifier
from toolkit.edge.sessions import open_export, texts_probabilities, tokens_probabilities, variable_length
from toolkit.edge.text import Vocabulary
from toolkit.export.textfront import text_model
from toolkit.verify.textcheck import HARD_STRINGS, id_mismatches, preprocessing_session

TEXTS = ["a great great film", "an awful film", "great acting, awful plot", "film film film"]


def _ids_model(vocab: Vocabulary, scale: float = 1.0) -> onnx.ModelProto:
    """token_ids -> probability = sigmoid(sum of a per-word score): "great" +2, "awful" -2, padding 0."""
    scores = np.zeros(vocab.num_words, np.float32)
    scores[vocab.ids("great")[1]], scores[vocab.ids("awful")[1]] = 2.0, -2.0
    nodes = [
        helper.make_node("Gather", ["scores", "token_ids"], ["per_token"], axis=0),
        helper.make_node("ReduceSum", ["per_token", "axis1"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "scale"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    inits = [
        numpy_helper.from_array(scores, "scores"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(scale, np.float32), "scale"),
    ]
    g = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", "tokens"])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    spec = vocab.spec()
    copied = ("tokenizer_version", "token_pattern", "maxlen", "num_words", "pad_id", "start_id", "oov_id")
    props = {f"preprocessing.{k}": str(spec[k]) for k in (*copied, "padding", "truncating")}
    props.update({"toolkit.format_version": "2", "preprocessing.vocab_sha256": vocab.sha256,
                  "labels": '["negative", "positive"]', "decision_threshold": "0.5",
                  "input.variable_length": "true", "provenance.keras_sha256": "0" * 64})  # fmt: skip
    return _set(model, props)


def _set(model: onnx.ModelProto, props: dict, seal: bool = True) -> onnx.ModelProto:
    """``model`` with ``props`` set (None: removed) and, with ``seal``, its metadata digest rewritten
    (computed here as the contract defines it: an edit made on purpose, by someone who knows how)."""
    for key, value in props.items():
        for prop in [p for p in model.metadata_props if p.key == key]:
            model.metadata_props.remove(prop)
        if value is not None:
            model.metadata_props.add(key=key, value=value)
    if seal:
        for prop in [p for p in model.metadata_props if p.key == METADATA_DIGEST]:
            model.metadata_props.remove(prop)
        digest = metadata_digest({p.key: p.value for p in model.metadata_props})
        model.metadata_props.add(key=METADATA_DIGEST, value=digest)
    return model


def _edit(path: Path, props: dict, seal: bool = True) -> None:
    onnx.save(_set(onnx.load(str(path)), props, seal), str(path))


def _text_model(folder: Path, vocab: Vocabulary) -> None:
    """model.text.onnx built on the folder's model.onnx, recorded as toolkit.export.convert does."""
    text = text_model(onnx.load(str(folder / ONNX_FILE)), vocab)
    props = {"variant.name": "text", "variant.source_sha256": sha256_file(folder / ONNX_FILE)}
    onnx.save(_set(text, {**props, "preprocessing.in_graph": "true"}), str(folder / TEXT_FILES["text"]))


@pytest.fixture
def export(tmp_path):
    vocab = Vocabulary.build(TEXTS * 3, num_words=10, maxlen=6)
    folder = tmp_path / "export"
    folder.mkdir()
    vocab.save(folder / VOCAB_FILE)
    onnx.save(_ids_model(vocab), str(folder / ONNX_FILE))
    _text_model(folder, vocab)
    return folder


def test_open_export_returns_the_session_metadata_and_vocabulary(export):
    session, meta, vocab = open_export(export)
    assert variable_length(session) and meta["decision_threshold"] == "0.5" and vocab.maxlen == 6
    session, meta, _ = open_export(export, "text")
    assert session.get_inputs()[0].name == "text"


def test_batches_come_back_in_the_callers_order(export):
    session, _, vocab = open_export(export)
    texts = TEXTS * 5
    tokens = vocab.encode(texts)
    one_by_one = np.array([session.run(None, {"token_ids": tokens[i : i + 1]})[0][0, 0] for i in range(len(texts))])
    for batch_size in (1, 3, 64):
        np.testing.assert_allclose(tokens_probabilities(session, tokens, batch_size), one_by_one, atol=1e-6)
    text_session, _, _ = open_export(export, "text")
    np.testing.assert_allclose(texts_probabilities(text_session, texts, 3), one_by_one, atol=1e-6)


def test_the_in_graph_front_end_equals_toolkit_text_on_hard_strings(export):
    _, _, vocab = open_export(export)
    session = preprocessing_session(export / TEXT_FILES["text"])
    assert id_mismatches(session, vocab, TEXTS) == []
    assert id_mismatches(session, vocab, HARD_STRINGS) == []


def test_the_classifier_labels_raw_text(export):
    for variant in ("auto", "fp32", "text"):
        clf = Classifier.load(export, variant=variant)
        predictions = clf.predict(["a great film", "awful", "film"])
        assert [p.label for p in predictions] == [LABELS[1], LABELS[0], LABELS[1]]  # sigmoid(0) = 0.5: positive
        assert predictions[2].probability == pytest.approx(0.5)
    assert len(Classifier.load(export).predict("one review, not a list of characters")) == 1


def test_the_classifier_refuses_what_it_cannot_classify(export, tmp_path):
    clf = Classifier.load(export)
    with pytest.raises(PredictError, match="review 2 is empty"):
        clf.predict(["fine", "  "])
    with pytest.raises(PredictError, match="review 1 is not text"):
        clf.predict([3])
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    _, _, vocab = open_export(export)
    onnx.save(_ids_model(vocab, scale=float("nan")), str(broken / ONNX_FILE))
    (broken / TEXT_FILES["text"]).unlink()
    with pytest.raises(PredictError, match="NaN or infinite probabilities for 3 of 3"):
        Classifier.load(broken).predict(["a", "b", "c"])


def test_open_export_refuses_missing_swapped_and_corrupt_files(export, tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        open_export(tmp_path / "nowhere")
    with pytest.raises(ExportError, match="unknown variant"):
        open_export(export, "fp16")
    with pytest.raises(ExportError, match="has no model.int8.onnx .export with --quantize int8"):
        open_export(export, "int8")
    # a text model made from another model.onnx
    onnx.save(_ids_model(Vocabulary.load(export / VOCAB_FILE), scale=2.0), str(export / ONNX_FILE))
    with pytest.raises(ExportError, match="was not made from"):
        check_derived(export, "text")
    with pytest.raises(ExportError, match="was not made from"):
        open_export(export, "text")
    text_file = export / TEXT_FILES["text"]
    text_file.write_bytes(text_file.read_bytes()[:100])  # truncated: its metadata cannot be read
    with pytest.raises(ExportError, match="model.text.onnx is not a readable ONNX model"):
        open_export(export, "text")
    # a vocabulary from another model
    Vocabulary.build(["other words entirely"], num_words=10, maxlen=6).save(export / VOCAB_FILE)
    with pytest.raises(ExportError, match="belongs to another model"):
        open_export(export)
    (export / VOCAB_FILE).write_text("{}")
    with pytest.raises(VocabularyError, match="not a toolkit vocabulary"):
        open_export(export)
    (export / ONNX_FILE).write_bytes(b"not onnx")
    with pytest.raises(ExportError, match="not a loadable ONNX model"):
        open_export(export)


def test_every_variant_has_one_file_name():
    assert len(set(VARIANT_FILES.values())) == len(VARIANT_FILES) and VARIANT_FILES["fp32"] == ONNX_FILE


def test_the_run_behind_an_export_is_proven_not_assumed(export, tmp_path, monkeypatch):
    from toolkit.verify.reference import matching_run

    monkeypatch.chdir(tmp_path)  # a recorded "" must not mean the current folder
    with pytest.raises(ExportError, match="records no checksum of its Keras model"):
        matching_run(export, {}, None)
    with pytest.raises(ExportError, match="records no run folder: pass --run"):
        matching_run(export, {"provenance.keras_sha256": "0" * 64}, None)
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"another model")
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text("{}")
    with pytest.raises(ExportError, match="is not the model .* was exported from"):
        matching_run(export, {"provenance.keras_sha256": "0" * 64, "provenance.run_dir": str(run)}, None)


# --- the metadata: checked like the weights (toolkit.metadata_sha256, then every value predict reads) ---
FP32, TEXT = ONNX_FILE, TEXT_FILES["text"]
REVERSED = '["positive", "negative"]'
EDITS = [
    # (file, props, sealed: the digest rewritten after the edit, variant opened, fragment of the error)
    (TEXT, {"labels": REVERSED}, False, "text", "model.text.onnx: its metadata does not match its checksum"),
    (TEXT, {"labels": "negative,positive"}, False, "text", "does not match its checksum"),
    (FP32, {"decision_threshold": "abc"}, False, "fp32", "model.onnx: its metadata does not match its checksum"),
    (FP32, {"decision_threshold": "0.9"}, False, "text", "model.onnx: its metadata does not match its checksum"),
    (TEXT, {"input.variable_length": "false"}, False, "text", "does not match its checksum"),
    (FP32, {METADATA_DIGEST: None}, False, "fp32", "has no metadata checksum: it was exported by an older toolkit"),
    (FP32, {METADATA_DIGEST: None, "toolkit.format_version": "1"}, False, "fp32", "exported by an older toolkit"),
    (FP32, {"toolkit.format_version": "3"}, True, "fp32", "has export format '3'; this toolkit reads format 2"),
    (FP32, {"labels": "not json"}, True, "fp32", "model.onnx: labels 'not json' is not a JSON list of two"),
    (FP32, {"labels": '["negative"]'}, True, "fp32", "is not a JSON list of two distinct"),
    (FP32, {"labels": '["negative", "negative"]'}, True, "fp32", "is not a JSON list of two distinct"),
    (FP32, {"labels": '["negative", " "]'}, True, "fp32", "is not a JSON list of two distinct"),
    (FP32, {"labels": '["neg\\nx", "positive"]'}, True, "fp32", "is not a JSON list of two distinct"),
    (FP32, {"labels": '{"0": "negative"}'}, True, "fp32", "is not a JSON list of two distinct"),
    (FP32, {"labels": None}, True, "fp32", "labels None is not a JSON list"),
    (FP32, {"labels": "[" * 100_000}, True, "fp32", "is not a JSON list of two distinct"),
    *[
        (FP32, {"decision_threshold": t}, True, "fp32", f"decision_threshold '{t}' is not a number between 0 and 1")
        for t in ("abc", "nan", "inf", "2", "0", "1", "-0.5", " 0.5", "0x1", "1_0", "")
    ],
    (TEXT, {"labels": REVERSED}, True, "text", 'model.text.onnx records labels \'["positive", "negative"]\', but'),
    (TEXT, {"decision_threshold": "0.7"}, True, "text", "records decision_threshold '0.7', but"),
    (TEXT, {"input.variable_length": "false"}, True, "text", "records input.variable_length 'false', but"),
    (TEXT, {"preprocessing.maxlen": "7"}, True, "text", "records preprocessing.maxlen '7', but"),
    (TEXT, {"preprocessing.token_pattern": "x"}, True, "text", "records preprocessing.token_pattern 'x', but"),
    (TEXT, {"variant.name": "fp32"}, True, "text", "model.text.onnx is the 'fp32' model, not text"),
    (FP32, {"variant.name": "int8"}, True, "fp32", "model.onnx is the 'int8' model, not fp32"),
    (FP32, {"input.variable_length": "yes"}, True, "fp32", "input.variable_length 'yes' is not true or false"),
    (FP32, {"input.variable_length": "false"}, True, "fp32", "input.variable_length false does not describe its"),
    (FP32, {"preprocessing.maxlen": "7"}, True, "fp32", "records preprocessing.maxlen '7', but"),
    (FP32, {"preprocessing.pad_id": None}, True, "fp32", "records preprocessing.pad_id None, but"),
    (FP32, {"provenance.opset": "x17"}, True, "fp32", "provenance.opset 'x17' is not an opset number"),
    (FP32, {"preprocessing.vocab_sha256": None}, True, "fp32", "model.onnx records no preprocessing.vocab_sha256"),
]


def _one_line_export_error(call, fragment: str) -> str:
    with pytest.raises(ExportError) as info:
        call()
    message = str(info.value)
    assert fragment in message and "\n" not in message and "export" in message.split(":")[-1], message
    return message


@pytest.mark.parametrize("file, props, sealed, variant, fragment", EDITS, ids=[str(e[1])[:40] for e in EDITS])
def test_edited_metadata_is_a_one_line_error(export, file, props, sealed, variant, fragment):
    """Before the fix: JSONDecodeError, IndexError or ValueError from Classifier, or a wrong answer."""
    _edit(export / file, props, sealed)
    _one_line_export_error(lambda: open_export(export, variant), fragment)
    _one_line_export_error(lambda: Classifier.load(export, variant), fragment)


def test_an_ids_model_must_take_token_ids_and_a_text_model_text(export):
    vocab = Vocabulary.load(export / VOCAB_FILE)
    model = _ids_model(vocab)
    model.graph.input[0].name = "ids"
    model.graph.node[0].input[1] = "ids"
    onnx.save(model, str(export / ONNX_FILE))
    _one_line_export_error(lambda: open_export(export), "has the inputs 'ids' int32 (rank 2), not 'token_ids' int32")
    onnx.save(_ids_model(vocab), str(export / ONNX_FILE))
    shutil.copyfile(export / ONNX_FILE, export / TEXT)  # an ids model named like the text model ...
    _edit(export / TEXT, {"variant.name": "text", "variant.source_sha256": sha256_file(export / ONNX_FILE)})
    _one_line_export_error(lambda: open_export(export, "text"), "not 'text' string (rank 1)")


def _relabel(folder: Path, labels: str = REVERSED) -> None:
    """Every model of the export says ``labels``, the digests and the text model's source sha256 made
    to match: an edit on purpose that only the run folder can contradict."""
    _edit(folder / FP32, {"labels": labels})
    _edit(folder / TEXT, {"labels": labels, "variant.source_sha256": sha256_file(folder / FP32)})


def test_a_relabeled_export_passes_the_predict_checks_but_not_verify(export, tmp_path):
    from toolkit.verify.reference import matching_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"the model")
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text("{}")
    _edit(export / FP32, {"provenance.keras_sha256": sha256_file(run / "model.keras")})
    _text_model(export, Vocabulary.load(export / VOCAB_FILE))
    _, meta, _ = open_export(export)
    assert matching_run(export, meta, run).path == run  # the genuine export: its labels are the run's
    _relabel(export)
    for variant in ("fp32", "text"):
        clf = Classifier.load(export, variant)
        assert clf.labels == ("positive", "negative")  # self-consistent: predict cannot tell
        assert [p.label for p in clf.predict(["a great film", "awful"])] == ["negative", "positive"]
    _, meta, _ = open_export(export)
    message = _one_line_export_error(lambda: matching_run(export, meta, run), "labels the classes")
    assert "['positive', 'negative'] at threshold 0.5" in message and "['negative', 'positive'] at 0.5" in message
    _relabel(export, '["negative", "positive"]')
    _edit(export / FP32, {"decision_threshold": "0.7"})
    _edit(export / TEXT, {"decision_threshold": "0.7", "variant.source_sha256": sha256_file(export / FP32)})
    assert Classifier.load(export).threshold == 0.7
    _one_line_export_error(lambda: matching_run(export, meta, run), "at threshold 0.7, but the run")
    # verify also checks every variant's metadata, not just the one it opened
    _edit(export / TEXT, {"labels": REVERSED}, seal=False)
    _one_line_export_error(lambda: matching_run(export, meta, run), "model.text.onnx: its metadata does not match")


def test_the_metadata_digest_is_canonical():
    a = metadata_digest({"b": "2", "a": "1"})
    assert a == metadata_digest({"a": "1", "b": "2", METADATA_DIGEST: "ignored"})
    assert a != metadata_digest({"a": "12", "b": ""}) != metadata_digest({"a1": "", "b": "2"})  # length-prefixed
    import hashlib

    assert metadata_digest({"é": "x", "z": "✓"}) == hashlib.sha256("1:z3:✓2:é1:x".encode()).hexdigest()


# --- the Node client: the same checks (toolkit/clients/node/predict.js) ----------------------------
@pytest.fixture(scope="module")
def node_client(tmp_path_factory):
    """``(node, folder)``: predict.js with onnxruntime-node installed by npm (slow: the install)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node and npm are required for the Node client test under CI=true")
        pytest.skip("node or npm not installed")
    folder = tmp_path_factory.mktemp("node-client")
    client = Path(__file__).parents[1] / "toolkit" / "clients" / "node"
    for name in ("package.json", "predict.js"):
        shutil.copy(client / name, folder / name)
    args = [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    install = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    return node, folder


def _node(node_client, export: Path, *texts: str) -> subprocess.CompletedProcess:
    node, folder = node_client
    args = [node, "predict.js", str(export), "--json", *texts]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=300)


NODE_EDITS = [
    (TEXT, {"labels": REVERSED}, False, "model.text.onnx: its metadata does not match its checksum"),
    (FP32, {"decision_threshold": "0.9"}, False, "model.onnx: its metadata does not match its checksum"),
    (TEXT, {METADATA_DIGEST: None, "toolkit.format_version": "1"}, False, "exported by an older toolkit"),
    (TEXT, {"labels": "not json"}, True, 'labels "not json" is not a JSON list of two distinct'),
    (TEXT, {"labels": '["negative"]'}, True, "is not a JSON list of two distinct"),
    (TEXT, {"labels": '["neg\\u2028x", "positive"]'}, True, "is not a JSON list of two distinct"),
    (TEXT, {"decision_threshold": "nan"}, True, 'decision_threshold "nan" is not a number between 0 and 1'),
    (TEXT, {"decision_threshold": "2"}, True, 'decision_threshold "2" is not a number between 0 and 1'),
    (TEXT, {"decision_threshold": "0x1"}, True, "is not a number between 0 and 1"),
    (TEXT, {"labels": REVERSED}, True, "model.text.onnx records labels"),
    (TEXT, {"input.variable_length": "false"}, True, "records input.variable_length"),
    (TEXT, {"preprocessing.maxlen": "7"}, True, "records preprocessing.maxlen"),
    (FP32, {"labels": '["negative", "negative"]'}, True, "model.onnx: labels"),
    (FP32, {"provenance.note": "edited"}, True, "model.text.onnx was not made from"),  # sha256 of model.onnx
]


@pytest.mark.slow
@pytest.mark.parametrize("file, props, sealed, fragment", NODE_EDITS, ids=[str(e[1])[:40] for e in NODE_EDITS])
def test_the_node_client_checks_the_metadata_like_python(node_client, export, file, props, sealed, fragment):
    _edit(export / file, props, sealed)
    with pytest.raises(ExportError):  # Python refuses the same export
        open_export(export, "text")
    proc = _node(node_client, export, "a great film")
    assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr[-2000:])
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("predict.js: error: ") and fragment in line, line


@pytest.mark.slow
def test_the_node_client_reads_labels_and_threshold_from_the_checked_metadata(node_client, export):
    texts = ["a great film", "awful", "film"]
    proc = _node(node_client, export, *texts)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["label"] for r in json.loads(proc.stdout)] == [p.label for p in Classifier.load(export).predict(texts)]
    # non-ASCII keys and values: the digest is computed the same way in both languages
    _edit(export / FP32, {"provenance.é": "ünïcode ✓ 🎬", "provenance.z": "", "provenance.Z": "x", "__proto__": "{}"})
    _edit(export / TEXT, {"variant.source_sha256": sha256_file(export / FP32), "provenance.\U0001f3ac": "🎬"})
    _relabel(export)  # a deliberate, consistent relabelling: as in Python, only verify can tell
    proc = _node(node_client, export, *texts)
    assert proc.returncode == 0, proc.stderr[-2000:]
    node = [(r["label"], r["probability"]) for r in json.loads(proc.stdout)]
    python = Classifier.load(export).predict(texts)
    assert [label for label, _ in node] == [p.label for p in python] == ["negative", "positive", "negative"]
    assert np.allclose([p for _, p in node], [p.probability for p in python], atol=1e-6)


def _review_file(folder: Path, name: str, content) -> Path:
    path = folder / name
    if content == "fifo":
        os.mkfifo(path)
    elif content == "folder":
        path.mkdir()
    elif content == "sparse":  # 1.5 GB that take no disk: the size alone is refused, nothing is read
        path.touch()
        os.truncate(path, 1_500_000_000)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


DEEP = "[" * 600 + "]" * 600
# name, content: what toolkit.edge.reviews and predict.js must read alike; same: the same error message
# (not only the same FILE:LINE: the JSON parsers word a syntax error each their own way)
NODE_FILES = [
    ("sep.txt", "great\x1cawful\n\x1c\n\x1f \x85\r\n\u2003\ngreat great\n", True),  # \x1c-\x1f, \x85: blank
    ("bom.txt", "\ufeffgreat\n\ufeff\n \ufeff \nawful\n", True),  # U+FEFF is no whitespace to Python
    ("sep.jsonl", '"great"\n\x1c\n{"review": "awful\\u001cfilm"}\n', True),
    ("bom.jsonl", '"great"\n"\\ufeff"\n', True),
    ("empty.jsonl", '"great"\n\n"\\u001c\\u0085 "\n', True),
    ("null.jsonl", '{"text": "great"}\n{"text": null, "review": "awful"}\n', True),  # "text" first, even null
    ("bad.jsonl", '"great"\n{"text": "awful",}\n', False),
    ("nan.jsonl", '{"text": "great", "score": NaN}\n', False),
    ("int.jsonl", '"great"\n{"text": "awful", "n": ' + "7" * 5000 + "}\n", True),
    ("deep.jsonl", '"great"\n{"text": "awful", "x": ' + DEEP + "}\n", True),
    ("lone.jsonl", '"great"\n"awful \\ud800 film"\n', True),  # read, then refused by predict
    ("latin1.txt", b"great\ncaf\xe9\n", True),
    ("big.txt", "sparse", True),
    ("folder.txt", "folder", True),
    ("fifo.txt", "fifo", False),  # "pass a .txt, .jsonl or .csv file": Node reads no .csv
]


def _python_reads(export: Path, path: Path):
    """``(rows, probabilities, None)`` or ``(None, None, error)``: what toolkit predict --file does."""
    from toolkit.edge.reviews import read_reviews_file

    try:
        rows = read_reviews_file(path)
        return rows, [p.probability for p in Classifier.load(export, "text").predict(rows)], None
    except PredictError as exc:
        return None, None, str(exc)


def _node_reads(node_client, export: Path, path: Path):
    """The same from predict.js: its reader's rows (readReviews, required as a module), and the client run on
    the file (``--json``): its probabilities, or its one-line error."""
    node, folder = node_client
    script = "console.log(JSON.stringify(require('./predict.js').readReviews(process.argv[1])))"
    reader = subprocess.run([node, "-e", script, str(path)], cwd=folder, capture_output=True, text=True, timeout=60)
    args = [node, "predict.js", str(export), "--json", "--file", str(path)]
    proc = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60)  # a FIFO: it waited
    if proc.returncode == 0:
        assert reader.returncode == 0, reader.stderr[-2000:]
        return json.loads(reader.stdout), [r["probability"] for r in json.loads(proc.stdout)], None
    assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr[-2000:])
    (line,) = proc.stderr.splitlines()  # one line, no stack
    assert line.startswith("predict.js: error: "), line
    return None, None, line.removeprefix("predict.js: error: ")


@pytest.mark.slow
@pytest.mark.parametrize("name, content, same", NODE_FILES, ids=[f[0] for f in NODE_FILES])
def test_the_node_client_reads_review_files_like_python(node_client, export, tmp_path, name, content, same):
    """The same rows, in order (and the same probabilities), or both a one-line error naming the same
    FILE:LINE. predict.js took \\x1c lines and dropped U+FEFF ones (JS's trim is not str.strip), read
    {"text": null, "review": ...}, threw JSON errors without the line, read a FIFO until it was written
    to, and any file whole, whatever its size."""
    path = _review_file(tmp_path, name, content)
    rows, probabilities, error = _python_reads(export, path)
    node_rows, node_probabilities, node_error = _node_reads(node_client, export, path)
    if error is None:
        assert node_error is None, node_error
        assert node_rows == rows
        assert np.allclose(node_probabilities, probabilities, atol=1e-6)
        return
    assert node_error is not None, f"Python: {error}; Node read {node_rows!r}"
    named = re.match(rf"{re.escape(str(path))}(:\d+:)?", error)  # FILE:LINE:, or FILE alone
    where = named.group(0) if named else ""  # predict's "review 2 holds ...": the same message
    assert node_error.startswith(where) and node_error[len(where) :][:1] != ":", (error, node_error)
    same = same or not named
    if same:
        assert node_error == error


@pytest.mark.slow
def test_the_node_client_refuses_a_csv_and_stdin(node_client, export, tmp_path):
    """It read a .csv as lines of text: the header and the ids were classified."""
    path = _review_file(tmp_path, "reviews.csv", "id,text\n1,great\n")
    for file, fragment in ((path, "reads .txt and .jsonl files, not .csv"), ("-", "does not read stdin")):
        node, folder = node_client
        args = [node, "predict.js", str(export), "--json", "--file", str(file)]
        proc = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr[-2000:])
        (line,) = proc.stderr.splitlines()
        assert line.startswith("predict.js: error: ") and fragment in line, line


def test_an_edited_and_resealed_fp32_model_is_refused_through_the_files_made_from_it(export):
    # the digest is no signature: a resealed model.onnx passes its own check, but model.text.onnx records
    # the sha256 of the model.onnx it was built on, so asking for fp32 alone is refused too
    _edit(export / FP32, {"labels": REVERSED})
    _one_line_export_error(lambda: open_export(export, "fp32"), "model.text.onnx was not made from")
    _one_line_export_error(lambda: Classifier.load(export, "fp32"), "was not made from")


def test_a_review_with_a_lone_surrogate_is_a_one_line_error(export):
    for variant in ("fp32", "text"):
        with pytest.raises(PredictError, match=r"review 2 holds '\\ud800', half of a UTF-16 pair"):
            Classifier.load(export, variant).predict(["fine", "good \ud800 film"])
