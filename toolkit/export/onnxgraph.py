"""ONNX graph surgery on tf2onnx's output: padding skipped exactly, unused constants dropped, axes named.

Pure ``onnx`` + NumPy: the functions take and change a ``ModelProto`` in place, and are tested on
hand-built graphs as well as on real conversions.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper

from toolkit.core.errors import ExportError

PREFIX = "skip_padding/"


def skip_padding(proto: ModelProto) -> None:
    """Make the converted graph ignore padding, as the masked Keras model does.

    Each row of ``token_ids`` is rotated so that its tokens come first (the rotation is the position
    of its first non-pad id: pre-padding, post-padding and no padding all work), the LSTM gets each
    row's token count as ``sequence_lens`` (so it runs only over the tokens), and the classifier reads
    the LSTM's final state ``Y_h`` (the state after the last token) instead of the last time step.
    """
    graph = proto.graph
    tokens = graph.input[0].name
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    _rename_input(graph.node, tokens, PREFIX + "token_ids")
    lstm.input[4] = PREFIX + "lengths"
    # The classifier read the last step of Y (zeros past a row's length once sequence_lens is set):
    # give its consumers Y_h instead, then drop the nodes nobody reads any more.
    _rename_input(graph.node, _last_step_of(graph, lstm.output[0]), PREFIX + "last_state")
    back = [helper.make_node("Squeeze", [lstm.output[1], PREFIX + "axis0"], [PREFIX + "last_state"])]
    nodes = _rotation_nodes(tokens) + [_copy(n) for n in graph.node] + back
    del graph.node[:]
    graph.node.extend(live_nodes(topological(nodes), {o.name for o in graph.output}))
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    if not any(lstm.output[0] in n.input for n in graph.node):
        lstm.output[0] = ""  # Y is no longer needed


def _rotation_nodes(tokens: str) -> list[NodeProto]:
    """``token_ids`` -> ``skip_padding/token_ids`` (each row's tokens first) and ``skip_padding/lengths``."""

    def p(name: str) -> str:
        return PREFIX + name

    def const(name: str, value) -> NodeProto:
        return helper.make_node("Constant", [], [p(name)], value=numpy_helper.from_array(np.asarray(value), p(name)))

    return [
        const("pad", np.int32(0)),
        const("one", np.int64(1)),
        const("zero", np.int64(0)),
        const("axis1", np.array([1], dtype=np.int64)),
        const("axis0", np.array([0], dtype=np.int64)),
        helper.make_node("Equal", [tokens, p("pad")], [p("is_pad")]),
        helper.make_node("Not", [p("is_pad")], [p("is_token")]),
        helper.make_node("Cast", [p("is_token")], [p("is_token_i32")], to=TensorProto.INT32),
        helper.make_node("ReduceSum", [p("is_token_i32"), p("axis1")], [p("lengths")], keepdims=0),
        helper.make_node("ArgMax", [p("is_token_i32")], [p("first_token")], axis=1, keepdims=1),
        helper.make_node("Shape", [tokens], [p("shape")]),
        helper.make_node("Gather", [p("shape"), p("one")], [p("steps")], axis=0),
        helper.make_node("Range", [p("zero"), p("steps"), p("one")], [p("positions")]),
        helper.make_node("Add", [p("first_token"), p("positions")], [p("shifted")]),
        helper.make_node("Mod", [p("shifted"), p("steps")], [p("source")]),
        helper.make_node("GatherElements", [tokens, p("source")], [p("token_ids")], axis=1),
    ]


def _rename_input(nodes, old: str, new: str) -> None:
    """Every node that reads ``old`` reads ``new`` instead."""
    for node in nodes:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def drop_unused_initializers(proto: ModelProto) -> None:
    """tf2onnx leaves constants no node reads (``const_starts__60``...); onnxruntime warns about each on
    every load, in Python and in Node."""
    used = {name for node in proto.graph.node for name in node.input}
    keep = [init for init in proto.graph.initializer if init.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)


def name_axes(proto: ModelProto) -> None:
    """Name the dynamic axes: ``batch`` everywhere, ``tokens`` for a variable-length input."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    tokens = proto.graph.input[0].type.tensor_type.shape.dim[1]
    if not tokens.dim_value:
        tokens.dim_param = "tokens"


def _copy(node: NodeProto) -> NodeProto:
    out = NodeProto()
    out.CopyFrom(node)
    return out


def _last_step_of(graph, y: str) -> str:
    """The tensor at the end of tf2onnx's "Y -> Squeeze -> Slice(last step) -> Squeeze" chain."""
    name, path = y, []
    while True:
        consumers = [n for n in graph.node if name in n.input]
        if len(consumers) != 1 or consumers[0].op_type not in ("Squeeze", "Slice"):
            break
        path.append(consumers[0].op_type)
        name = consumers[0].output[0]
    if path != ["Squeeze", "Slice", "Squeeze"]:
        raise ExportError(f"unexpected graph after the LSTM ({' -> '.join(path) or 'nothing'}): cannot handle padding")
    return name


def live_nodes(nodes: list, outputs: set) -> list:
    """The nodes (in topological order) that contribute to ``outputs``."""
    needed, live = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    return list(reversed(live))


def topological(nodes: list) -> list:
    """``nodes`` ordered so that each comes after the producers of its inputs; a cycle is an error."""
    produced = {o for n in nodes for o in n.output}
    ready = set()
    ordered, pending = [], list(nodes)
    while pending:
        rest = []
        for node in pending:
            if all(not i or i not in produced or i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ExportError("the converted graph has a cycle")
        pending = rest
    return ordered
