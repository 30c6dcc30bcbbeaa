"""onnxgraph.py's surgery on a hand-built graph shaped like tf2onnx's output (no TensorFlow, no training):
token_ids -> embedding Gather -> LSTM -> Squeeze / Slice(last step) / Squeeze -> Dense -> Sigmoid."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit.core.errors import ExportError
from toolkit.export import onnxgraph

VOCAB, EMB, HIDDEN = 12, 4, 3


def _model(extra_initializer: bool = False, chain=("Squeeze", "Slice", "Squeeze")) -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def init(name, shape, dtype=np.float32):
        return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(dtype), name)

    inits = [
        init("emb", (VOCAB, EMB)),
        init("W", (1, 4 * HIDDEN, EMB)),
        init("R", (1, 4 * HIDDEN, HIDDEN)),
        init("B", (1, 8 * HIDDEN)),
        init("dense", (HIDDEN, 1)),
        numpy_helper.from_array(np.array([1, 0, 2], np.int64), "perm_unused"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([-1], np.int64), "start"),
        numpy_helper.from_array(np.array([2**62], np.int64), "end"),
    ]
    if not extra_initializer:
        inits = [i for i in inits if i.name != "perm_unused"]
    ops = {
        "Squeeze": lambda i, o: helper.make_node("Squeeze", [i, "axis1" if o == "y3" else "axis0"], [o]),
        "Slice": lambda i, o: helper.make_node("Slice", [i, "start", "end", "axis0"], [o]),
        "Identity": lambda i, o: helper.make_node("Identity", [i], [o]),
    }
    tail, names = [], ["y", "y3", "last", "state"]
    for k, op in enumerate(chain):
        tail.append(ops[op](names[k], names[k + 1]))
    nodes = [
        helper.make_node("Gather", ["emb", "token_ids"], ["embedded"], axis=0),
        helper.make_node("Transpose", ["embedded"], ["x"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["x", "W", "R", "B", ""], ["y", "y_h"], hidden_size=HIDDEN),
        *tail,
        helper.make_node("MatMul", [names[len(chain)], "dense"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    g = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("token_ids", TensorProto.INT32, [None, None])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, tokens) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["probability"], {"token_ids": np.asarray(tokens, np.int32)})[0][:, 0]


def test_skip_padding_gives_every_padding_the_unpadded_probability():
    plain = _model()
    model = _model()
    onnxgraph.skip_padding(model)
    onnx.checker.check_model(model, full_check=True)
    reference = _run(plain, [[5, 6, 7], [9, 1, 4]])  # no padding: what the masked Keras model computes
    padded = [[0, 0, 5, 6, 7], [9, 1, 4, 0, 0]]  # pre-padded, post-padded
    np.testing.assert_allclose(_run(model, padded), reference, atol=1e-6)
    np.testing.assert_allclose(_run(model, [[0, 0, 0, 0, 5, 6, 7]]), reference[:1], atol=1e-6)
    # without the surgery the padding runs through the LSTM and moves the probability
    assert abs(_run(plain, [[0, 0, 5, 6, 7]])[0] - reference[0]) > 1e-4


def test_skip_padding_reads_the_final_state_and_drops_the_last_step_chain():
    model = _model()
    onnxgraph.skip_padding(model)
    ops = [n.op_type for n in model.graph.node]
    assert "Slice" not in ops and ops.count("Squeeze") == 1  # the chain is gone, one Squeeze of Y_h added
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    assert lstm.input[4] == "skip_padding/lengths" and lstm.output[0] == ""  # Y is no longer computed
    assert onnxgraph.topological(list(model.graph.node)) == list(model.graph.node)  # already in order


def test_an_unexpected_graph_after_the_lstm_is_refused():
    model = _model(chain=("Identity", "Identity", "Identity"))
    with pytest.raises(ExportError, match="unexpected graph after the LSTM"):
        onnxgraph.skip_padding(model)


def test_unused_initializers_are_dropped_and_used_ones_kept():
    model = _model(extra_initializer=True)
    before = {i.name for i in model.graph.initializer}
    onnxgraph.drop_unused_initializers(model)
    assert before - {i.name for i in model.graph.initializer} == {"perm_unused"}
    onnx.checker.check_model(model, full_check=True)


def test_name_axes_names_batch_and_tokens():
    model = _model()
    onnxgraph.name_axes(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_param) == ("batch", "tokens")
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_topological_order_and_live_nodes():
    a = helper.make_node("Identity", ["in"], ["a"])
    b = helper.make_node("Identity", ["a"], ["b"])
    dead = helper.make_node("Identity", ["a"], ["unused"])
    assert onnxgraph.topological([b, dead, a]) == [a, b, dead]
    assert onnxgraph.live_nodes([a, b, dead], {"b"}) == [a, b]
    loop = [helper.make_node("Identity", ["y"], ["x"]), helper.make_node("Identity", ["x"], ["y"])]
    with pytest.raises(ExportError, match="cycle"):
        onnxgraph.topological(loop)
