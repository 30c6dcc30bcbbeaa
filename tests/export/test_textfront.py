"""export.textfront: the text models take raw text with standard ONNX ops, and their in-graph ids equal
toolkit.edge.text's on real reviews and hard strings."""

import numpy as np
import onnx
import pytest

from toolkit.config import DataConfig

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


# --- the text model: preprocessing inside the graph (toolkit.export.textfront) -------------------------------
def test_text_model_takes_raw_text_with_standard_ops_only(exported):
    import onnxruntime as ort

    from toolkit.core.files import sha256_file

    folder = exported.path
    model = onnx.load(str(folder / "model.text.onnx"))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "text" and inp.type.tensor_type.elem_type == onnx.TensorProto.STRING
    assert out.name == "probability" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ops = {(n.domain or "ai.onnx", n.op_type) for n in model.graph.node}
    assert {
        ("com.microsoft", "Tokenizer"),
        ("ai.onnx.ml", "LabelEncoder"),
        ("ai.onnx", "StringNormalizer"),
        ("ai.onnx", "LSTM"),
    } <= ops
    assert {d for d, _ in ops} <= {"ai.onnx", "ai.onnx.ml", "com.microsoft"}  # no custom-op library
    assert model.ir_version == onnx.load(str(folder / "model.onnx")).ir_version <= 10  # onnxruntime-node reads it
    assert len({o.domain or "" for o in model.opset_import}) == len(model.opset_import)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["preprocessing.in_graph"] == "true" and meta["preprocessing.tokenizer_version"] == "2"
    assert meta["variant.source_sha256"] == sha256_file(folder / "model.onnx")
    int8 = {p.key: p.value for p in onnx.load(str(folder / "model.text.int8.onnx")).metadata_props}
    assert int8["variant.source_sha256"] == sha256_file(folder / "model.int8.onnx")
    session = ort.InferenceSession(str(folder / "model.text.onnx"), providers=["CPUExecutionProvider"])
    p = session.run(["probability"], {"text": np.array(["A wonderful film.", "Dull."], dtype=object)})[0]
    assert p.shape == (2, 1) and np.isfinite(p).all()


def test_in_graph_ids_equal_toolkit_text_on_real_reviews_and_hard_strings(exported, real_tarball):
    from toolkit.data.sources import raw_reviews
    from toolkit.edge.text import Vocabulary
    from toolkit.verify.textcheck import HARD_STRINGS, id_mismatches, preprocessing_session

    vocab = Vocabulary.load(exported.path / "vocab.json")
    session = preprocessing_session(exported.path / "model.text.onnx")
    assert id_mismatches(session, vocab, HARD_STRINGS) == []
    texts = list(raw_reviews(DataConfig(path=str(real_tarball)))["test"].values())[::25]  # 1,000 of them
    assert len(texts) == 1000 and id_mismatches(session, vocab, texts) == []
    # the check is not vacuous: tokenizer version 1 differs on the hard strings the graph is built for
    v1 = Vocabulary(vocab.words, vocab.num_words, vocab.maxlen, tokenizer_version=1)
    assert [HARD_STRINGS[i] for i in id_mismatches(session, v1, HARD_STRINGS)] == [
        "<br\xa0/>",
        "\u0130stanbul",
        "\u212a Kelvin",
    ]
