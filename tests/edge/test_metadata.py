"""edge.metadata on a hand-built export: the digest, labels, threshold, input and preprocessing checks,
and derived files made from the model beside them."""

import shutil

import onnx
import pytest

from tests.helpers import FP32, REVERSED, TEXT, add_text_model, edit_props, ids_model, relabel
from toolkit.core.errors import ExportError
from toolkit.core.files import sha256_file
from toolkit.edge.contract import (
    METADATA_DIGEST,
    ONNX_FILE,
    VOCAB_FILE,
    metadata_digest,
)
from toolkit.edge.predict import Classifier
from toolkit.edge.sessions import open_export
from toolkit.edge.text import Vocabulary

# --- the metadata: checked like the weights (toolkit.metadata_sha256, then every value predict reads) ---

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
    (FP32, {"labels": "not json"}, True, "fp32", "model.onnx: labels 'not json' is not a JSON list of 2 to"),
    (FP32, {"labels": '["negative"]'}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
    (FP32, {"labels": '["negative", "negative"]'}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
    (FP32, {"labels": '["negative", " "]'}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
    (FP32, {"labels": '["neg\\nx", "positive"]'}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
    (FP32, {"labels": '{"0": "negative"}'}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
    (FP32, {"labels": None}, True, "fp32", "labels None is not a JSON list"),
    (FP32, {"labels": "[" * 100_000}, True, "fp32", "is not a JSON list of 2 to 1,000 distinct"),
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
    edit_props(export / file, props, sealed)
    _one_line_export_error(lambda: open_export(export, variant), fragment)
    _one_line_export_error(lambda: Classifier.load(export, variant), fragment)


def test_an_ids_model_must_take_token_ids_and_a_text_model_text(export):
    vocab = Vocabulary.load(export / VOCAB_FILE)
    model = ids_model(vocab)
    model.graph.input[0].name = "ids"
    model.graph.node[0].input[1] = "ids"
    onnx.save(model, str(export / ONNX_FILE))
    _one_line_export_error(lambda: open_export(export), "has the inputs 'ids' int32 (rank 2), not 'token_ids' int32")
    onnx.save(ids_model(vocab), str(export / ONNX_FILE))
    shutil.copyfile(export / ONNX_FILE, export / TEXT)  # an ids model named like the text model ...
    edit_props(export / TEXT, {"variant.name": "text", "variant.source_sha256": sha256_file(export / ONNX_FILE)})
    _one_line_export_error(lambda: open_export(export, "text"), "not 'text' string (rank 1)")


def test_a_relabeled_export_passes_the_predict_checks_but_not_verify(export, tmp_path):
    from toolkit.verify.reference import matching_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"the model")
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text("{}")
    edit_props(export / FP32, {"provenance.keras_sha256": sha256_file(run / "model.keras")})
    add_text_model(export, Vocabulary.load(export / VOCAB_FILE))
    _, meta, _ = open_export(export)
    assert matching_run(export, meta, run).path == run  # the genuine export: its labels are the run's
    relabel(export)
    for variant in ("fp32", "text"):
        clf = Classifier.load(export, variant)
        assert clf.labels == ("positive", "negative")  # self-consistent: predict cannot tell
        assert [p.label for p in clf.predict(["a great film", "awful"])] == ["negative", "positive"]
    _, meta, _ = open_export(export)
    message = _one_line_export_error(lambda: matching_run(export, meta, run), "labels the classes")
    assert "['positive', 'negative'] at threshold 0.5" in message and "['negative', 'positive'] at 0.5" in message
    relabel(export, '["negative", "positive"]')
    edit_props(export / FP32, {"decision_threshold": "0.7"})
    edit_props(export / TEXT, {"decision_threshold": "0.7", "variant.source_sha256": sha256_file(export / FP32)})
    assert Classifier.load(export).threshold == 0.7
    _one_line_export_error(lambda: matching_run(export, meta, run), "at threshold 0.7, but the run")
    # verify also checks every variant's metadata, not just the one it opened
    edit_props(export / TEXT, {"labels": REVERSED}, seal=False)
    _one_line_export_error(lambda: matching_run(export, meta, run), "model.text.onnx: its metadata does not match")


def test_the_metadata_digest_is_canonical():
    a = metadata_digest({"b": "2", "a": "1"})
    assert a == metadata_digest({"a": "1", "b": "2", METADATA_DIGEST: "ignored"})
    assert a != metadata_digest({"a": "12", "b": ""}) != metadata_digest({"a1": "", "b": "2"})  # length-prefixed
    import hashlib

    assert metadata_digest({"é": "x", "z": "✓"}) == hashlib.sha256("1:z3:✓2:é1:x".encode()).hexdigest()


def test_an_edited_and_resealed_fp32_model_is_refused_through_the_files_made_from_it(export):
    # the digest is no signature: a resealed model.onnx passes its own check, but model.text.onnx records
    # the sha256 of the model.onnx it was built on, so asking for fp32 alone is refused too
    edit_props(export / FP32, {"labels": REVERSED})
    _one_line_export_error(lambda: open_export(export, "fp32"), "model.text.onnx was not made from")
    _one_line_export_error(lambda: Classifier.load(export, "fp32"), "was not made from")
