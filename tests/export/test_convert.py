"""export.convert on a small model trained on real reviews: the export folder, its graphs and metadata,
fixed-length models, broken and failed exports."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.helpers import BIN, MAXLEN, error_line
from toolkit.config import DataConfig, ExportConfig, ModelConfig, from_dict
from toolkit.core.errors import ExportError
from toolkit.edge.metadata import read_metadata
from toolkit.edge.sessions import open_export
from toolkit.export.convert import export_run

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


def test_export_folder_graph_and_metadata(exported, trained_run):
    folder = exported.path
    assert folder == trained_run / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "model.int8.onnx",
        "model.onnx",
        "model.text.int8.onnx",
        "model.text.onnx",
        "training.png",
        "vocab.json",
    ]
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    assert "LSTM" in ops and "Loop" not in ops  # the native ONNX LSTM op
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "token_ids" and inp.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", "tokens"]
    (lstm,) = [n for n in model.graph.node if n.op_type == "LSTM"]
    assert lstm.input[4], "the LSTM gets each review's token count as sequence_lens"
    assert out.name == "probability" and [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == [
        "batch",
        1,
    ]
    int8_ops = {n.op_type for n in onnx.load(str(folder / "model.int8.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in int8_ops
    assert exported.sizes["int8"] < exported.sizes["fp32"] / 2

    meta = read_metadata(folder / "model.onnx")
    vocab_json = json.loads((folder / "vocab.json").read_text())
    assert meta["preprocessing.vocab_sha256"] == vocab_json["sha256"]
    assert int(meta["preprocessing.maxlen"]) == MAXLEN and int(meta["preprocessing.num_words"]) == 5000
    assert (meta["preprocessing.pad_id"], meta["preprocessing.start_id"], meta["preprocessing.oov_id"]) == (
        "0",
        "1",
        "2",
    )
    assert json.loads(meta["labels"]) == ["negative", "positive"] and float(meta["decision_threshold"]) == 0.5
    assert meta["provenance.tensorflow_version"].startswith("2.21") and meta["provenance.tf2onnx_version"]
    assert meta["provenance.opset"] == "17" and meta["provenance.run_dir"] == str(trained_run.resolve())
    assert meta["input.variable_length"] == "true"
    assert json.loads(meta["training.config"])["data"]["limit"] == 1000
    assert "token_ids" in (folder / "README.md").read_text()


def test_every_exported_model_carries_the_digest_of_its_metadata(exported):
    """Issue 16, item 4: format 2, ``toolkit.metadata_sha256`` over every other prop, in all four models
    (the int8 and text models resealed after their variant props), and ``check_export`` accepts them."""
    from toolkit.edge.contract import FORMAT_VERSION, METADATA_DIGEST, metadata_digest
    from toolkit.edge.sessions import check_export

    for path in sorted(exported.path.glob("*.onnx")):
        meta = read_metadata(path)
        assert meta["toolkit.format_version"] == FORMAT_VERSION and meta[METADATA_DIGEST] == metadata_digest(meta)
    anchor = check_export(exported.path)
    assert anchor.labels == ("negative", "positive") and anchor.threshold == 0.5 and anchor.variable_length


def _padded_ways(review: np.ndarray, width: int) -> list:
    """One review (no padding) as a batch of 1 three ways: bare, pre-padded to width, post-padded."""
    pre = np.zeros((1, width), np.int32)
    pre[0, width - len(review) :] = review
    post = np.zeros((1, width), np.int32)
    post[0, : len(review)] = review
    return [review[None, :].astype(np.int32), pre, post]


def test_onnx_gives_the_same_probability_whatever_the_padding(exported, trained_run):
    """The exported masked model: no padding, pre-padding, post-padding and a mixed-length batch all
    give Keras' probability of the bare review."""
    from toolkit._tf import keras
    from toolkit.artifacts.runs import read_run
    from toolkit.data.dataset import load_data

    run = read_run(trained_run)
    model = keras.models.load_model(run.model_file)
    session, _, _ = open_export(exported.path)
    x = load_data(from_dict(DataConfig, run.config["data"])).test.x[:40]
    reviews = [row[row != 0] for row in x]
    expected = np.array([model.predict_on_batch(r[None, :])[0, 0] for r in reviews])
    for i, review in enumerate(reviews):
        for ids in _padded_ways(review, MAXLEN + 25):
            assert abs(session.run(None, {"token_ids": ids})[0][0, 0] - expected[i]) <= 1e-5
    batch = session.run(None, {"token_ids": x})[0][:, 0]  # MAXLEN wide, pre-padded, lengths mixed
    assert np.abs(batch - expected).max() <= 1e-5
    assert np.abs(model.predict_on_batch(x)[:, 0] - expected).max() <= 1e-5  # Keras agrees with itself


def test_the_tutorials_fixed_length_model_exports_with_its_fixed_input(trained_run, tmp_path, monkeypatch):
    """--faithful runs (no mask, maxlen tokens) export as they are: fixed time axis, no sequence_lens."""
    from toolkit._tf import keras
    from toolkit.artifacts.runs import read_run, write_run
    from toolkit.edge.predict import Classifier
    from toolkit.model.lstm import build_model, compile_model

    source = read_run(trained_run)
    model = compile_model(build_model(ModelConfig(maxlen=MAXLEN, mask_padding=False)))
    model.set_weights(keras.models.load_model(source.model_file).get_weights())
    config = {
        **source.config,
        "model": {**source.config["model"], "mask_padding": False},
    }  # the run's config describes its model
    run_dir = write_run(tmp_path / "faithful", lambda p: model.save(p), source.vocabulary, config, source.metrics)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    result = export_run(run_dir)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # the trace's CPU-only setting was scoped to it
    proto = onnx.load(str(result.path / "model.onnx"))
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["batch", MAXLEN]
    (lstm,) = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(lstm.input) < 5 or not lstm.input[4]
    texts = ["A wonderful film.", "Dull and far too long, the worst film of the year."]
    clf = Classifier.load(result.path)
    assert not clf.variable_length
    assert read_metadata(result.path / "model.onnx")["input.variable_length"] == "false"
    assert f"`[batch, {MAXLEN}]`" in (result.path / "README.md").read_text()
    ids = source.vocabulary.encode(texts)
    assert np.abs(clf.probabilities(texts) - model.predict_on_batch(ids)[:, 0]).max() <= 1e-5


def test_broken_exports_are_clear_errors(exported, trained_run, tmp_path):
    def copy(name):
        target = tmp_path / name
        shutil.copytree(exported.path, target)
        return target

    no_model = copy("no_model")
    (no_model / "model.onnx").unlink()
    no_vocab = copy("no_vocab")
    (no_vocab / "vocab.json").unlink()
    truncated = copy("truncated")
    data = (truncated / "model.onnx").read_bytes()
    (truncated / "model.onnx").write_bytes(data[: len(data) // 2])
    foreign = copy("foreign")
    vocab = json.loads((foreign / "vocab.json").read_text())
    from toolkit.edge.text import Vocabulary

    other = Vocabulary(tuple(reversed(vocab["words"])), vocab["num_words"], vocab["maxlen"])
    other.save(foreign / "vocab.json")
    cases = [
        (no_model, "has no model.onnx"),
        (no_vocab, "has no vocab.json"),
        (truncated, "not a loadable ONNX model"),
        (foreign, "belongs to another model"),
    ]
    for folder, message in cases:
        with pytest.raises(ExportError, match=message):
            open_export(folder)
        for command in (["predict", str(folder), "a fine film"], ["verify", str(folder)]):
            proc = subprocess.run([str(BIN / "toolkit"), *command], capture_output=True, text=True, timeout=120)
            assert message in error_line(proc)
    # a run folder without a trained model cannot be exported
    half = tmp_path / "half-run"
    half.mkdir()
    assert "no trained model" in error_line(
        subprocess.run([str(BIN / "toolkit"), "export", str(half)], capture_output=True, text=True, timeout=120)
    )


def test_a_failed_export_leaves_no_model_behind(trained_run, tmp_path, monkeypatch):
    import toolkit.export.convert as export

    def crash(src, dst):
        Path(dst).write_bytes(b"partial")
        raise RuntimeError("crash during quantisation")

    monkeypatch.setattr(export, "quantize_int8", crash)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="crash"):
        export_run(trained_run, ExportConfig(out=str(out), quantize=("int8",)))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_exported_graphs_load_without_warnings_and_carry_nothing_unused(exported):
    code = (
        "import sys, onnxruntime as ort\n"
        "ort.set_default_logger_severity(1)\n"
        "so = ort.SessionOptions(); so.log_severity_level = 1\n"
        "[ort.InferenceSession(p, so, providers=['CPUExecutionProvider']) for p in sys.argv[1:]]\n"
    )
    files = sorted(str(p) for p in exported.path.glob("*.onnx"))
    assert len(files) == 4
    proc = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Session successfully initialized" in proc.stderr  # the log level really shows info and up
    assert [line for line in proc.stderr.splitlines() if "[W:" in line or "[E:" in line] == []
    for f in files:
        model = onnx.load(f)
        used = {name for node in model.graph.node for name in node.input}
        assert [i.name for i in model.graph.initializer if i.name not in used] == []


def test_quantisation_prints_nothing(exported, tmp_path, capfd):
    from toolkit.export.convert import quantize_int8

    capfd.readouterr()
    quantize_int8(exported.path / "model.onnx", tmp_path / "q.onnx")
    out, err = capfd.readouterr()
    assert "pre-processing" not in err + out and (tmp_path / "q.onnx").is_file()
