"""The Node client (toolkit/clients/node/predict.js, onnxruntime-node): the same metadata checks and
review-file rules as Python, and Python's probabilities on a model trained on real reviews."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FP32, REPO, REVERSED, TEXT, edit_props, k_class_export, relabel
from toolkit.core.errors import ExportError, PredictError
from toolkit.core.files import sha256_file
from toolkit.edge.contract import (
    METADATA_DIGEST,
)
from toolkit.edge.predict import Classifier
from toolkit.edge.sessions import open_export

# --- the metadata: checked like the weights (toolkit.metadata_sha256, then every value predict reads) ---


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
    client = REPO / "toolkit" / "clients" / "node"
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
    (TEXT, {"labels": "not json"}, True, 'labels "not json" is not a JSON list of 2 to 1,000 distinct'),
    (TEXT, {"labels": '["negative"]'}, True, "is not a JSON list of 2 to 1,000 distinct"),
    (TEXT, {"labels": '["neg\\u2028x", "positive"]'}, True, "is not a JSON list of 2 to 1,000 distinct"),
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
    edit_props(export / file, props, sealed)
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
    edit_props(
        export / FP32, {"provenance.é": "ünïcode ✓ 🎬", "provenance.z": "", "provenance.Z": "x", "__proto__": "{}"}
    )
    edit_props(export / TEXT, {"variant.source_sha256": sha256_file(export / FP32), "provenance.\U0001f3ac": "🎬"})
    relabel(export)  # a deliberate, consistent relabelling: as in Python, only verify can tell
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


@pytest.mark.slow
def test_the_node_client_gives_pythons_probabilities(node_client, exported, real_tarball, tmp_path):
    """predict.js (onnxruntime-node) on 1,000 real test reviews, with a model trained on real reviews:
    the same labels and probabilities as Python's text model."""
    from toolkit.config import DataConfig
    from toolkit.data.sources import raw_reviews

    node, folder = node_client
    texts = list(raw_reviews(DataConfig(path=str(real_tarball)))["test"].values())[::25]
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    args = [node, "predict.js", str(exported.path), "--json", "--file", str(reviews)]
    proc = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from_node = json.loads(proc.stdout)
    p_node = np.array([r["probability"] for r in from_node], dtype=np.float64)
    p_python = Classifier.load(exported.path, variant="text").probabilities(texts).astype(np.float64)
    assert len(p_node) == 1000
    assert [r["label"] for r in from_node] == ["positive" if p >= 0.5 else "negative" for p in p_python]
    assert np.abs(p_node - p_python).max() <= 1e-6


# --- K > 2 classes (issue 18): labels by argmax, no threshold, --top-k ---------------------------------
def _node_args(node_client, export: Path, *args: str) -> subprocess.CompletedProcess:
    node, folder = node_client
    args = [node, "predict.js", str(export), *args]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=300)


K_TEXTS = ["a great film", "awful", "film", "an", "great acting, awful plot"]
K_LABELS = ["\ufeff", "\U0001f3ac film", "plain"]  # U+FEFF is no whitespace to Python: a label; an astral character


@pytest.mark.slow
def test_the_node_client_gives_pythons_k_class_predictions(node_client, tmp_path):
    from toolkit.edge.predict import format_table

    folder = k_class_export(tmp_path / "k3", 3, labels=K_LABELS)
    python = Classifier.load(folder, "text")
    proc = _node_args(node_client, folder, "--json", *K_TEXTS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    node = json.loads(proc.stdout)
    expected = python.predict(K_TEXTS, top_k=3)
    assert [list(r) for r in node] == [["label", "probability"]] * len(K_TEXTS)
    assert [r["label"] for r in node] == [p.label for p in expected] == [K_LABELS[i] for i in (0, 1, 2, 0, 1)]
    assert np.allclose([r["probability"] for r in node], [p.probability for p in expected], atol=1e-6)
    for top_k, length in (("2", 2), ("3", 3), ("9", 3)):
        proc = _node_args(node_client, folder, "--json", "--top-k", top_k, *K_TEXTS)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for r, p in zip(json.loads(proc.stdout), expected):
            assert [t["label"] for t in r["top"]] == [name for name, _ in p.top[:length]]
            assert np.allclose([t["probability"] for t in r["top"]], [q for _, q in p.top[:length]], atol=1e-6)
    for args, top_k in (((), 1), (("--top-k", "2"), 2)):  # the table: Python's, character for character
        proc = _node_args(node_client, folder, *args, *K_TEXTS)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout == format_table(K_TEXTS, python.predict(K_TEXTS, top_k=top_k), top_k=top_k) + "\n"


@pytest.mark.slow
def test_the_node_client_lists_both_of_two_classes_with_top_k(node_client, export):
    from toolkit.edge.predict import format_table

    texts = ["a great film", "awful", "film"]
    python = Classifier.load(export, "text").predict(texts, top_k=2)
    proc = _node_args(node_client, export, "--json", "--top-k", "2", *texts)
    assert proc.returncode == 0, proc.stderr[-2000:]
    node = json.loads(proc.stdout)
    assert [(r["label"], [t["label"] for t in r["top"]]) for r in node] == [
        (p.label, [name for name, _ in p.top]) for p in python
    ]
    assert np.allclose([r["probability"] for r in node], [p.probability for p in python], atol=1e-6)
    proc = _node_args(node_client, export, "--top-k", "2", *texts)
    assert proc.stdout == format_table(texts, python, top_k=2) + "\n"


K_NODE_EDITS = [
    ({"decision_threshold": "0.5"}, 'records decision_threshold "0.5" with 3 labels'),
    ({"labels": json.dumps([f"c{i}" for i in range(1001)])}, "is not a JSON list of 2 to 1,000 distinct"),
    ({"labels": '["a", "b", "a"]'}, "is not a JSON list of 2 to 1,000 distinct"),
    ({"labels": '["only"]'}, "is not a JSON list of 2 to 1,000 distinct"),
    ({"labels": '["a", "b", "c", "d"]'}, "its output gives 3 numbers per review, but 4 labels need 4"),
    ({"labels": '["a", "b"]', "decision_threshold": "0.5"}, "its output gives 3 numbers per review, but 2 labels"),
    ({"labels": '["a", "b"]'}, "decision_threshold nothing is not a number between 0 and 1"),
    ({"labels": '["x", "y", "z"]'}, "model.text.onnx records labels"),
]


@pytest.mark.slow
@pytest.mark.parametrize("props, fragment", K_NODE_EDITS, ids=[str(e[0])[:40] for e in K_NODE_EDITS])
def test_the_node_client_refuses_broken_k_metadata_like_python(node_client, tmp_path, props, fragment):
    folder = k_class_export(tmp_path / "k3", 3)
    edit_props(folder / TEXT, props)
    with pytest.raises(ExportError):  # Python refuses the same export
        open_export(folder, "text")
    proc = _node_args(node_client, folder, "--json", "a great film")
    assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr[-2000:])
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("predict.js: error: ") and fragment in line, line


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_the_node_client_refuses_a_bad_top_k(node_client, export, value):
    proc = _node_args(node_client, export, "--top-k", value, "a great film")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("predict.js: error: argument --top-k: "), proc.stderr
