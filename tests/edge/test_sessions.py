"""edge.sessions and edge.predict on a hand-built export (no TensorFlow, no training): open_export's
checks, batching order, the in-graph front end against toolkit.edge.text, the Classifier."""

import shutil

import numpy as np
import onnx
import pytest

from tests.helpers import TEXTS, ids_model
from toolkit.core.errors import ExportError, PredictError, VocabularyError
from toolkit.edge.contract import (
    LABELS,
    ONNX_FILE,
    TEXT_FILES,
    VARIANT_FILES,
    VOCAB_FILE,
)
from toolkit.edge.metadata import check_derived
from toolkit.edge.predict import Classifier
from toolkit.edge.sessions import open_export, texts_probabilities, tokens_probabilities, variable_length
from toolkit.edge.text import Vocabulary
from toolkit.verify.textcheck import HARD_STRINGS, id_mismatches, preprocessing_session


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
    onnx.save(ids_model(vocab, scale=float("nan")), str(broken / ONNX_FILE))
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
    onnx.save(ids_model(Vocabulary.load(export / VOCAB_FILE), scale=2.0), str(export / ONNX_FILE))
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


def test_a_review_with_a_lone_surrogate_is_a_one_line_error(export):
    for variant in ("fp32", "text"):
        with pytest.raises(PredictError, match=r"review 2 holds '\\ud800', half of a UTF-16 pair"):
            Classifier.load(export, variant).predict(["fine", "good \ud800 film"])
