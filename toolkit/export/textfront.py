"""The preprocessing inside the ONNX graph: review text in, the ids model's ``token_ids`` out.

``text_model(ids_model, vocabulary)`` puts this front end before an exported ids model, giving one
file whose input is ``text`` (string ``[batch]``) and whose output is ``probability``. It uses only ops
of the standard onnxruntime build (no extensions library), so any onnxruntime runs it (Python, Node,
C#, Java, C++):

1. ``com.microsoft.Tokenizer`` (``tokenexp`` mode) finds the ``<br />`` tags (``text.BREAK_PATTERN``)
   and the words (``text.WORD_PATTERN``; RE2 and Python read both alike) in one pass, padding rows with
   ``""``;
2. a second ``Tokenizer`` looks for ``<`` in each token: the tags (the only tokens holding one) become
   padding;
3. ``StringNormalizer`` lower-cases the words (all ASCII, so the locale cannot matter; ``"C"`` is
   given because the default ``en_US.UTF-8`` is missing on many machines);
4. ``ai.onnx.ml.LabelEncoder`` maps words to ids (``""`` -> 0, unknown -> 2);
5. the start id is put first, the ids are packed to the right end of each row in order (the tags'
   places removed: CumSum + ScatterElements), and the last ``maxlen`` are kept.

This is ``text.Vocabulary.ids(text)[-maxlen:]`` of tokenizer version 2, pre-padded per batch; the
ids model skips padding, so the probabilities are those of the ids path. ``toolkit verify`` checks
the equality on every review and a list of hard strings.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import NodeProto, TensorProto, compose, helper, numpy_helper

from toolkit.core.errors import ExportError
from toolkit.edge.contract import TEXT_INPUT
from toolkit.edge.text import BREAK_PATTERN, FIRST_WORD_ID, OOV_ID, PAD_ID, START_ID, WORD_PATTERN, Vocabulary

node = helper.make_node
IDS_OUTPUT = "text/token_ids"  # the front end's output, fed to the ids model's token_ids
ML_OPSET, MS_OPSET = 2, 1


def _p(name: str) -> str:
    return "text/" + name


def _const(name: str, value) -> NodeProto:
    return node("Constant", [], [_p(name)], value=numpy_helper.from_array(np.asarray(value), _p(name)))


def _string(name: str, value: bytes) -> NodeProto:
    return node("Constant", [], [_p(name)], value=helper.make_tensor(_p(name), TensorProto.STRING, [1], [value]))


def front_nodes(vocab: Vocabulary, fixed_length: bool = False) -> list[NodeProto]:
    """The nodes from ``text`` to ``IDS_OUTPUT`` (int32 ``[batch, tokens]``, pre-padded; exactly
    ``maxlen`` tokens with ``fixed_length``, for the tutorial's fixed-length model)."""
    return [
        *_constants(vocab.maxlen),
        *_tokenize_nodes(),
        *_encode_nodes(list(vocab.words)),
        *_pack_nodes(vocab.maxlen, fixed_length),
    ]


def _constants(maxlen: int) -> list[NodeProto]:
    return [
        _const("flat", np.array([-1], np.int64)),
        _const("zero", np.array([0], np.int64)),
        _const("one", np.array([1], np.int64)),
        _const("zero_s", np.array(0, np.int64)),
        _const("one_s", np.array(1, np.int64)),
        _const("start", np.array(START_ID, np.int64)),
        _const("neg_maxlen", np.array([-maxlen], np.int64)),
        _const("end", np.array([np.iinfo(np.int64).max], np.int64)),
        _string("empty", b""),
    ]


def _tokenize_nodes() -> list[NodeProto]:
    """Steps 1-3: ``text`` -> lower-cased tokens ``lower_flat`` and ``keep`` (0 for a tag)."""
    return [
        # 1-2: tags and words in one pass, rows padded with "" (RE2 takes the leftmost match, as Python's
        # tag removal then word search does: a word never contains the "<" that starts a tag)
        node(
            "Tokenizer",
            [TEXT_INPUT],
            [_p("tokens")],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value="",
            tokenexp=f"{BREAK_PATTERN}|{WORD_PATTERN}",
        ),
        node("Reshape", [_p("tokens"), _p("flat")], [_p("tokens_flat")]),
        # which tokens are tags: the only ones holding "<" (a "<" appended keeps the search non-empty)
        _string("lt", b"<"),
        node("Concat", [_p("tokens_flat"), _p("lt")], [_p("tokens_flat_lt")], axis=0),
        node(
            "Tokenizer",
            [_p("tokens_flat_lt")],
            [_p("lt_found")],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value="",
            tokenexp="<",
        ),
        node("Slice", [_p("lt_found"), _p("zero"), _p("one"), _p("one")], [_p("lt_first")]),
        node("Reshape", [_p("lt_first"), _p("flat")], [_p("lt_first_flat")]),
        node("Slice", [_p("lt_first_flat"), _p("zero"), _p("flat")], [_p("lt_token")]),
        node(
            "LabelEncoder",
            [_p("lt_token")],
            [_p("is_tag")],
            domain="ai.onnx.ml",
            keys_strings=["<"],
            values_int64s=[1],
            default_int64=0,
        ),
        node("Sub", [_p("one_s"), _p("is_tag")], [_p("keep")]),
        # 3: lower-case (StringNormalizer takes 1-D input; one extra "" keeps it non-empty)
        node("Concat", [_p("tokens_flat"), _p("empty")], [_p("words_flat1")], axis=0),
        node("StringNormalizer", [_p("words_flat1")], [_p("lower_flat1")], case_change_action="LOWER", locale="C"),
        node("Slice", [_p("lower_flat1"), _p("zero"), _p("flat")], [_p("lower_flat")]),
        node("Shape", [TEXT_INPUT], [_p("batch")]),
        node("Concat", [_p("batch"), _p("flat")], [_p("rows_shape")], axis=0),
    ]


def _encode_nodes(words: list[str]) -> list[NodeProto]:
    """Step 4: ``lower_flat`` -> ``word_ids`` ``[batch, tokens]`` (tags and padding 0)."""
    return [
        # 4: words -> ids
        node(
            "LabelEncoder",
            [_p("lower_flat")],
            [_p("word_ids_flat")],
            domain="ai.onnx.ml",
            keys_strings=[""] + words,
            values_int64s=[PAD_ID] + list(range(FIRST_WORD_ID, FIRST_WORD_ID + len(words))),
            default_int64=OOV_ID,
        ),
        node("Mul", [_p("word_ids_flat"), _p("keep")], [_p("word_ids_kept")]),  # tags -> 0, removed with the padding
        node("Reshape", [_p("word_ids_kept"), _p("rows_shape")], [_p("word_ids")]),
    ]


def _pack_nodes(maxlen: int, fixed_length: bool) -> list[NodeProto]:
    """Step 5: ``word_ids`` -> ``IDS_OUTPUT``."""
    return [
        # 5: [START] + ids, packed to the right end of the row in order, the last maxlen kept
        node("Concat", [_p("batch"), _p("one")], [_p("column_shape")], axis=0),
        node("Expand", [_p("start"), _p("column_shape")], [_p("start_column")]),
        node("Concat", [_p("start_column"), _p("word_ids")], [_p("ids")], axis=1),
        node("Greater", [_p("ids"), _p("zero_s")], [_p("valid")]),
        node("Cast", [_p("valid")], [_p("valid_i")], to=TensorProto.INT64),
        node("ReduceSum", [_p("valid_i"), _p("one")], [_p("count")], keepdims=1),
        node("CumSum", [_p("valid_i"), _p("one_s")], [_p("rank")]),
        node("Shape", [_p("ids")], [_p("ids_shape")]),
        node("Gather", [_p("ids_shape"), _p("one_s")], [_p("width")], axis=0),
        node("Sub", [_p("width"), _p("count")], [_p("first")]),
        node("Add", [_p("first"), _p("rank")], [_p("after")]),
        node("Sub", [_p("after"), _p("one_s")], [_p("target")]),
        node("Expand", [_p("width"), _p("ids_shape")], [_p("spare")]),  # padding goes to an extra column
        node("Where", [_p("valid"), _p("target"), _p("spare")], [_p("index")]),
        node(
            "ConstantOfShape",
            [_p("column_shape")],
            [_p("zero_column")],
            value=numpy_helper.from_array(np.array([0], np.int64)),
        ),
        node("Concat", [_p("ids"), _p("zero_column")], [_p("wide")], axis=1),
        node("Mul", [_p("wide"), _p("zero_s")], [_p("canvas")]),
        node("ScatterElements", [_p("canvas"), _p("index"), _p("ids")], [_p("packed_wide")], axis=1),
        node("Unsqueeze", [_p("width"), _p("zero")], [_p("width_1d")]),
        node("Slice", [_p("packed_wide"), _p("zero"), _p("width_1d"), _p("one")], [_p("packed")]),
        node("Slice", [_p("packed"), _p("neg_maxlen"), _p("end"), _p("one")], [_p("last")]),
        *(_pad_to_maxlen(maxlen) if fixed_length else [node("Identity", [_p("last")], [_p("fixed")])]),
        node("Cast", [_p("fixed")], [IDS_OUTPUT], to=TensorProto.INT32),
    ]


def _pad_to_maxlen(maxlen: int) -> list[NodeProto]:
    """Left-pad ``last`` with zeros to exactly ``maxlen`` columns."""
    return [
        _const("maxlen", np.array([maxlen], np.int64)),
        _const("zero_2", np.array([0, 0], np.int64)),
        node("Shape", [_p("last")], [_p("last_shape")], start=1, end=2),
        node("Sub", [_p("maxlen"), _p("last_shape")], [_p("missing")]),
        node("Concat", [_p("zero"), _p("missing"), _p("zero_2")], [_p("pads")], axis=0),
        node("Pad", [_p("last"), _p("pads")], [_p("fixed")]),
    ]


def front_model(vocab: Vocabulary, opset: int, ir_version: int, fixed_length: bool = False):
    """The front end alone: ``text`` -> ``IDS_OUTPUT`` (what ``verify`` checks against ``text.py``)."""
    graph = helper.make_graph(
        front_nodes(vocab, fixed_length),
        "text_preprocessing",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info(IDS_OUTPUT, TensorProto.INT32, ["batch", "tokens"])],
        value_info=[  # the contrib Tokenizer has no shape inference: full_check needs these
            helper.make_tensor_value_info("text/tokens", TensorProto.STRING, ["batch", "tokens"]),
            helper.make_tensor_value_info("text/lt_found", TensorProto.STRING, ["tokens_total", "found"]),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", opset),
            helper.make_opsetid("com.microsoft", MS_OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
    )
    model.ir_version = ir_version  # the ids model's: onnxruntime-node refuses newer IR versions
    return model


def text_model(ids_model, vocab: Vocabulary):
    """``front_model`` + ``ids_model`` as one model: ``text`` -> ``probability``, with the ids model's
    metadata. ``ids_model`` is a toolkit ids export (fp32 or int8) of a tokenizer-version-2 run."""
    if vocab.tokenizer_version != 2:
        raise ExportError("the in-graph preprocessing reproduces tokenizer version 2 only")
    ids_model, given = onnx.ModelProto(), ids_model
    ids_model.CopyFrom(given)  # the caller's model stays as it was
    opset = next(o.version for o in ids_model.opset_import if o.domain in ("", "ai.onnx"))
    fixed_length = bool(ids_model.graph.input[0].type.tensor_type.shape.dim[1].dim_value)
    front = front_model(vocab, opset, ids_model.ir_version, fixed_length)
    # merge_models wants the same opset imports in both models
    have = {o.domain or "" for o in ids_model.opset_import}
    for domain, version in (("com.microsoft", MS_OPSET), ("ai.onnx.ml", ML_OPSET)):
        if domain not in have:
            ids_model.opset_import.append(onnx.helper.make_opsetid(domain, version))
    merged = compose.merge_models(front, ids_model, io_map=[(IDS_OUTPUT, ids_model.graph.input[0].name)])
    imports = {}
    for o in merged.opset_import:  # merge_models can repeat the default domain
        imports[o.domain or ""] = max(o.version, imports.get(o.domain or "", 0))
    del merged.opset_import[:]
    merged.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in imports.items())
    merged.ir_version = ids_model.ir_version
    del merged.metadata_props[:]
    merged.metadata_props.extend(ids_model.metadata_props)
    merged.doc_string = "IMDB review sentiment from raw text: preprocessing + LSTM classifier, exported by toolkit"
    return merged
