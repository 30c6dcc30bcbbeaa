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

from .text import BREAK_PATTERN, FIRST_WORD_ID, OOV_ID, PAD_ID, START_ID, WORD_PATTERN, Vocabulary

TEXT_INPUT = "text"
IDS_OUTPUT = "text/token_ids"  # the front end's output, fed to the ids model's token_ids
ML_OPSET, MS_OPSET = 2, 1


def front_nodes(vocab: Vocabulary, fixed_length: bool = False) -> list:
    """The nodes from ``text`` to ``IDS_OUTPUT`` (int32 ``[batch, tokens]``, pre-padded; exactly
    ``maxlen`` tokens with ``fixed_length``, for the tutorial's fixed-length model)."""
    from onnx import TensorProto, helper, numpy_helper

    def p(name: str) -> str:
        return "text/" + name

    def const(name: str, value) -> "NodeProto":
        return helper.make_node("Constant", [], [p(name)], value=numpy_helper.from_array(np.asarray(value), p(name)))

    node = helper.make_node
    words = list(vocab.words)
    return [
        const("flat", np.array([-1], np.int64)),
        const("zero", np.array([0], np.int64)),
        const("one", np.array([1], np.int64)),
        const("zero_s", np.array(0, np.int64)),
        const("one_s", np.array(1, np.int64)),
        const("start", np.array(START_ID, np.int64)),
        const("neg_maxlen", np.array([-vocab.maxlen], np.int64)),
        const("end", np.array([np.iinfo(np.int64).max], np.int64)),
        node("Constant", [], [p("empty")], value=helper.make_tensor(p("empty"), TensorProto.STRING, [1], [b""])),
        # 1-2: tags and words in one pass, rows padded with "" (RE2 takes the leftmost match, as Python's
        # tag removal then word search does: a word never contains the "<" that starts a tag)
        node(
            "Tokenizer",
            [TEXT_INPUT],
            [p("tokens")],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value="",
            tokenexp=f"{BREAK_PATTERN}|{WORD_PATTERN}",
        ),
        node("Reshape", [p("tokens"), p("flat")], [p("tokens_flat")]),
        # which tokens are tags: the only ones holding "<" (a "<" appended keeps the search non-empty)
        node("Constant", [], [p("lt")], value=helper.make_tensor(p("lt"), TensorProto.STRING, [1], [b"<"])),
        node("Concat", [p("tokens_flat"), p("lt")], [p("tokens_flat_lt")], axis=0),
        node(
            "Tokenizer",
            [p("tokens_flat_lt")],
            [p("lt_found")],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value="",
            tokenexp="<",
        ),
        node("Slice", [p("lt_found"), p("zero"), p("one"), p("one")], [p("lt_first")]),
        node("Reshape", [p("lt_first"), p("flat")], [p("lt_first_flat")]),
        node("Slice", [p("lt_first_flat"), p("zero"), p("flat")], [p("lt_token")]),
        node(
            "LabelEncoder",
            [p("lt_token")],
            [p("is_tag")],
            domain="ai.onnx.ml",
            keys_strings=["<"],
            values_int64s=[1],
            default_int64=0,
        ),
        node("Sub", [p("one_s"), p("is_tag")], [p("keep")]),
        # 3: lower-case (StringNormalizer takes 1-D input; one extra "" keeps it non-empty)
        node("Concat", [p("tokens_flat"), p("empty")], [p("words_flat1")], axis=0),
        node("StringNormalizer", [p("words_flat1")], [p("lower_flat1")], case_change_action="LOWER", locale="C"),
        node("Slice", [p("lower_flat1"), p("zero"), p("flat")], [p("lower_flat")]),
        node("Shape", [TEXT_INPUT], [p("batch")]),
        node("Concat", [p("batch"), p("flat")], [p("rows_shape")], axis=0),
        # 4: words -> ids
        node(
            "LabelEncoder",
            [p("lower_flat")],
            [p("word_ids_flat")],
            domain="ai.onnx.ml",
            keys_strings=[""] + words,
            values_int64s=[PAD_ID] + list(range(FIRST_WORD_ID, FIRST_WORD_ID + len(words))),
            default_int64=OOV_ID,
        ),
        node("Mul", [p("word_ids_flat"), p("keep")], [p("word_ids_kept")]),  # tags -> 0, removed with the padding
        node("Reshape", [p("word_ids_kept"), p("rows_shape")], [p("word_ids")]),
        # 5: [START] + ids, packed to the right end of the row in order, the last maxlen kept
        node("Concat", [p("batch"), p("one")], [p("column_shape")], axis=0),
        node("Expand", [p("start"), p("column_shape")], [p("start_column")]),
        node("Concat", [p("start_column"), p("word_ids")], [p("ids")], axis=1),
        node("Greater", [p("ids"), p("zero_s")], [p("valid")]),
        node("Cast", [p("valid")], [p("valid_i")], to=TensorProto.INT64),
        node("ReduceSum", [p("valid_i"), p("one")], [p("count")], keepdims=1),
        node("CumSum", [p("valid_i"), p("one_s")], [p("rank")]),
        node("Shape", [p("ids")], [p("ids_shape")]),
        node("Gather", [p("ids_shape"), p("one_s")], [p("width")], axis=0),
        node("Sub", [p("width"), p("count")], [p("first")]),
        node("Add", [p("first"), p("rank")], [p("after")]),
        node("Sub", [p("after"), p("one_s")], [p("target")]),
        node("Expand", [p("width"), p("ids_shape")], [p("spare")]),  # padding goes to an extra column
        node("Where", [p("valid"), p("target"), p("spare")], [p("index")]),
        node(
            "ConstantOfShape",
            [p("column_shape")],
            [p("zero_column")],
            value=numpy_helper.from_array(np.array([0], np.int64)),
        ),
        node("Concat", [p("ids"), p("zero_column")], [p("wide")], axis=1),
        node("Mul", [p("wide"), p("zero_s")], [p("canvas")]),
        node("ScatterElements", [p("canvas"), p("index"), p("ids")], [p("packed_wide")], axis=1),
        node("Unsqueeze", [p("width"), p("zero")], [p("width_1d")]),
        node("Slice", [p("packed_wide"), p("zero"), p("width_1d"), p("one")], [p("packed")]),
        node("Slice", [p("packed"), p("neg_maxlen"), p("end"), p("one")], [p("last")]),
        *(
            _pad_to_maxlen(vocab.maxlen, p, const, node)
            if fixed_length
            else [node("Identity", [p("last")], [p("fixed")])]
        ),
        node("Cast", [p("fixed")], [IDS_OUTPUT], to=TensorProto.INT32),
    ]


def _pad_to_maxlen(maxlen: int, p, const, node) -> list:
    """Left-pad ``last`` with zeros to exactly ``maxlen`` columns."""
    return [
        const("maxlen", np.array([maxlen], np.int64)),
        const("zero_2", np.array([0, 0], np.int64)),
        node("Shape", [p("last")], [p("last_shape")], start=1, end=2),
        node("Sub", [p("maxlen"), p("last_shape")], [p("missing")]),
        node("Concat", [p("zero"), p("missing"), p("zero_2")], [p("pads")], axis=0),
        node("Pad", [p("last"), p("pads")], [p("fixed")]),
    ]


def front_model(vocab: Vocabulary, opset: int, ir_version: int, fixed_length: bool = False):
    """The front end alone: ``text`` -> ``IDS_OUTPUT`` (what ``verify`` checks against ``text.py``)."""
    from onnx import TensorProto, helper

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
    import onnx
    from onnx import compose

    if vocab.tokenizer_version != 2:
        raise ValueError("the in-graph preprocessing reproduces tokenizer version 2 only")
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


# --- checking the in-graph preprocessing against text.py ------------------------------------------
# Strings where a careless reimplementation of the tokenizer goes wrong (verify runs every one)
HARD_STRINGS = (
    "",
    " ",
    "!!!",
    "'",
    "''",
    "a''b 'quoted' don't 90's x'",
    "<br />",
    "<BR/>",
    "<Br >",
    "<br\t/>",
    "<br\xa0/>",
    "a<br />b<br/>c<br>d",
    "don<br />t",
    "<br<br />",
    "\u00c9COLE \u00e9cole na\u00efve caf\u00e9",
    "\u0130stanbul",
    "\u212a Kelvin",
    "\u00df STRASSE",
    "emoji \U0001f600 great \U0001f44d",
    "nul\x00byte",
    "tab\tnew\nline\r\n",
    "\u2028line\u2029separator\x0cform feed",
    "ＦＵＬＬＷＩＤＴＨ great",
    "GREAT Great great",
    "123 4,5 6.7",
    "word " * 200_000,  # 1 MB
)


def preprocessing_session(model_path):
    """An onnxruntime session of the front end of a text model (``text`` -> ``IDS_OUTPUT``), cut out of
    the exported file itself, so that what is checked is what ships."""
    import onnx
    import onnxruntime as ort

    from .export import session_options

    model = onnx.load(str(model_path))
    front = onnx.utils.Extractor(model).extract_model([TEXT_INPUT], [IDS_OUTPUT])
    return ort.InferenceSession(front.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])


def id_mismatches(session, vocab: Vocabulary, texts, batch_size: int = 256) -> list[int]:
    """Indices of the ``texts`` whose in-graph ids differ from ``vocab.ids(text)[-maxlen:]``."""
    texts = list(texts)
    bad = []
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = session.run([IDS_OUTPUT], {TEXT_INPUT: np.array([texts[i] for i in rows], dtype=object)})[0]
        for i, row in zip(rows, ids):
            if row[row != PAD_ID].tolist() != vocab.ids(texts[i])[-vocab.maxlen :]:
                bad.append(int(i))
    return sorted(bad)
