"""Export a run's Keras model to ONNX with everything an edge app needs.

``export_run(run_dir)`` writes an export folder (default ``<run>/onnx/``):

* ``model.onnx`` — converted by tf2onnx from a trace on the CPU (a trace with a GPU visible can
  contain ``CudnnRNNV3``, which tf2onnx cannot convert); input ``token_ids`` int32 ``[batch, tokens]``
  (``[batch, maxlen]`` for the tutorial's fixed-length model), output ``probability`` float32
  ``[batch, 1]``, the native ONNX ``LSTM`` op (padding handled by :func:`_skip_padding`);
  ``onnx.checker.check_model(full_check=True)`` passes; ``metadata_props`` carry the preprocessing spec
  and the provenance (see :func:`metadata`);
* ``model.int8.onnx`` with ``--quantize int8`` (onnxruntime dynamic quantisation: the LSTM becomes
  ``DynamicQuantizeLSTM`` with int8 weights);
* ``vocab.json`` — the same preprocessing spec ``toolkit.text`` loads;
* ``README.md`` — a model card.

The folder is assembled beside its final place and renamed into place when complete: a crash
mid-export never leaves a ``model.onnx`` that looks valid.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .errors import ToolkitError
from .files import WriteError, atomic_write_text, check_target, file_mode, sha256_file, staged_folder
from .progress import log
from .rundir import VOCAB_FILE, Run, is_toolkit_export, read_run
from .text import OOV_ID, PAD_ID, START_ID

MODEL_FILE = "model.onnx"
IDS_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}  # input token_ids
TEXT_FILES = {"text": "model.text.onnx", "text-int8": "model.text.int8.onnx"}  # input text (toolkit.textgraph)
TEXT_SOURCE = {"text": "fp32", "text-int8": "int8"}  # the ids model each text model is built on
VARIANT_FILES = {**IDS_FILES, **TEXT_FILES}
CARD_FILE = "README.md"
DEFAULT_OPSET = 17
OPSETS = range(13, 19)  # what tf2onnx 1.17 converts to (13: the first with the ops used here)
LABELS = ("negative", "positive")
THRESHOLD = 0.5


class ExportError(ToolkitError):
    """The run cannot be exported, or the conversion produced something unusable."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    files: dict  # variant -> file name
    sizes: dict  # variant -> bytes


def default_export_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "onnx"


def export_run(
    run_dir: str | os.PathLike,
    out: Optional[str | os.PathLike] = None,
    opset: int = DEFAULT_OPSET,
    quantize: Sequence[str] = (),
    overwrite: bool = False,
) -> ExportResult:
    """Convert ``run_dir``'s model to ONNX (plus quantised variants) into ``out``; return what was written.

    ``out`` may replace only an earlier export folder of this toolkit's, and only with ``overwrite``:
    any other existing path is an error and nothing is removed."""
    run = read_run(run_dir)
    if run.vocabulary is None:
        raise ExportError(f"{run.path} has no {VOCAB_FILE}: the export would not know how to encode text")
    unknown = set(quantize) - {"int8"}
    if unknown:
        raise ExportError(f"unknown --quantize {sorted(unknown)}: supported: int8")
    if opset not in OPSETS:
        raise ExportError(f"opset {opset} is not supported: use {OPSETS.start} to {OPSETS.stop - 1}")
    out = Path(out) if out else default_export_dir(run.path)
    check_export_target(out, overwrite)

    proto = convert(run, opset)
    import onnx

    with staged_folder(out) as stage:
        onnx.save(proto, str(stage / MODEL_FILE))
        files = {"fp32": MODEL_FILE}
        if "int8" in quantize:
            quantize_int8(stage / MODEL_FILE, stage / VARIANT_FILES["int8"])
            files["int8"] = VARIANT_FILES["int8"]
        files.update(write_text_models(stage, files, run))
        shutil.copyfile(run.path / VOCAB_FILE, stage / VOCAB_FILE)
        sizes = {variant: (stage / name).stat().st_size for variant, name in files.items()}
        any_length = not proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
        atomic_write_text(stage / CARD_FILE, model_card(run, files, sizes, opset, parity=None, any_length=any_length))
        for f in stage.iterdir():
            os.chmod(f, file_mode())
    return ExportResult(out, files, sizes)


def write_text_models(folder: Path, files: dict, run: Run) -> dict:
    """``model.text.onnx`` (and ``model.text.int8.onnx``): the preprocessing in the graph before each
    ids model in ``folder``. Each records the sha256 of the ids model it was built on. Needs a run
    with tokenizer version 2 (older runs get no text model, and a note says why)."""
    import onnx

    from .textgraph import text_model

    if run.vocabulary.tokenizer_version != 2:
        log(
            f"no text model: {run.path} was trained with tokenizer version {run.vocabulary.tokenizer_version}; "
            "train it again for one"
        )
        return {}
    written = {}
    for variant, source in TEXT_SOURCE.items():
        if source not in files:
            continue
        src = folder / files[source]
        model = text_model(onnx.load(str(src)), run.vocabulary)
        for key in ("variant.name", "variant.source_sha256"):
            for prop in [p for p in model.metadata_props if p.key == key]:
                model.metadata_props.remove(prop)
        for key, value in (
            ("variant.name", variant),
            ("variant.source_sha256", sha256_file(src)),
            ("preprocessing.in_graph", "true"),
        ):
            model.metadata_props.add(key=key, value=value)
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"the text model fails onnx.checker: {exc}") from None
        onnx.save(model, str(folder / TEXT_FILES[variant]))
        written[variant] = TEXT_FILES[variant]
    return written


def check_export_target(out: Path, overwrite: bool) -> None:
    """Before the conversion: ``out`` is new, or an earlier toolkit export that ``overwrite`` lets us
    replace; and its folder takes files."""
    try:
        check_target(out, overwrite, is_toolkit_export, "export folder", "--out")
    except WriteError as exc:
        raise ExportError(str(exc)) from None


def convert(run: Run, opset: int):
    """tf2onnx conversion of the run's model, traced on the CPU, with metadata; checked."""
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # before TensorFlow starts: trace on the CPU
    import onnx
    import tf2onnx

    from ._tf import keras, tf

    with tf.device("/CPU:0"):
        model = run.load_model()
        length = model.input.shape[1]  # None: the model masks its padding and takes any length
        if length is None:
            model = _without_mask(model, keras)
        spec = [tf.TensorSpec([None, length], tf.int32, name="token_ids")]
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    ops = {node.op_type for node in proto.graph.node}
    if "LSTM" not in ops or "Loop" in ops:
        raise ExportError(f"conversion did not produce a native ONNX LSTM (ops: {sorted(ops)})")
    if length is None:
        _skip_padding(proto)
    _drop_unused_initializers(proto)
    _name_axes(proto)
    for key, value in metadata(run, opset).items():
        proto.metadata_props.add(key=key, value=value)
    # true: any number of tokens, padding skipped exactly; false: exactly maxlen tokens, pre-padded
    proto.metadata_props.add(key="input.variable_length", value=str(length is None).lower())
    proto.doc_string = "IMDB review sentiment: LSTM classifier exported by toolkit"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the converted model fails onnx.checker: {exc}") from None
    return proto


def _without_mask(model, keras):
    """The same layers and weights without the embedding's mask. tf2onnx turns a masked Keras LSTM
    into a ``Loop``; unmasked it becomes the native ``LSTM`` op, and :func:`_skip_padding` then
    handles the padding exactly in ONNX."""
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "Embedding":
            layer["config"]["mask_zero"] = False
    twin = keras.Model.from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def _skip_padding(proto) -> None:
    """Make the converted graph ignore padding, as the masked Keras model does.

    Each row of ``token_ids`` is rotated so that its tokens come first (the rotation is the position
    of its first non-pad id: pre-padding, post-padding and no padding all work), the LSTM gets each
    row's token count as ``sequence_lens`` (so it runs only over the tokens), and the classifier reads
    the LSTM's final state ``Y_h`` (the state after the last token) instead of the last time step.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    ids = graph.input[0].name
    lstm = next(n for n in graph.node if n.op_type == "LSTM")

    def const(name: str, value) -> "NodeProto":
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))

    prefix = "skip_padding/"
    p = lambda name: prefix + name  # noqa: E731
    front = [
        const(p("pad"), np.int32(0)),
        const(p("one"), np.int64(1)),
        const(p("zero"), np.int64(0)),
        const(p("axis1"), np.array([1], dtype=np.int64)),
        const(p("axis0"), np.array([0], dtype=np.int64)),
        helper.make_node("Equal", [ids, p("pad")], [p("is_pad")]),
        helper.make_node("Not", [p("is_pad")], [p("is_token")]),
        helper.make_node("Cast", [p("is_token")], [p("is_token_i32")], to=TensorProto.INT32),
        helper.make_node("ReduceSum", [p("is_token_i32"), p("axis1")], [p("lengths")], keepdims=0),
        helper.make_node("ArgMax", [p("is_token_i32")], [p("first_token")], axis=1, keepdims=1),
        helper.make_node("Shape", [ids], [p("shape")]),
        helper.make_node("Gather", [p("shape"), p("one")], [p("steps")], axis=0),
        helper.make_node("Range", [p("zero"), p("steps"), p("one")], [p("positions")]),
        helper.make_node("Add", [p("first_token"), p("positions")], [p("shifted")]),
        helper.make_node("Mod", [p("shifted"), p("steps")], [p("source")]),
        helper.make_node("GatherElements", [ids, p("source")], [p("token_ids")], axis=1),
    ]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == ids:
                node.input[i] = p("token_ids")
    lstm.input[4] = p("lengths")
    # The classifier read the last step of Y (zeros past a row's length once sequence_lens is set):
    # give its consumers Y_h instead, then drop the nodes nobody reads any more.
    last_step = _last_step_of(graph, lstm.output[0])
    back = [helper.make_node("Squeeze", [lstm.output[1], p("axis0")], [p("last_state")])]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == last_step:
                node.input[i] = p("last_state")
    nodes = front + [_copy(n) for n in graph.node] + back
    del graph.node[:]
    graph.node.extend(_live(_topological(nodes), {o.name for o in graph.output}))
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    if not any(lstm.output[0] in n.input for n in graph.node):
        lstm.output[0] = ""  # Y is no longer needed


def _drop_unused_initializers(proto) -> None:
    """tf2onnx leaves constants no node reads (``const_starts__60``...); onnxruntime warns about each on
    every load, in Python and in Node."""
    used = {name for node in proto.graph.node for name in node.input}
    keep = [init for init in proto.graph.initializer if init.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)


def _copy(node):
    from onnx import NodeProto

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


def _live(nodes: list, outputs: set) -> list:
    """The nodes (in topological order) that contribute to ``outputs``."""
    needed, live = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    return list(reversed(live))


def _topological(nodes: list) -> list:
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


def _name_axes(proto) -> None:
    """Name the dynamic axes: ``batch`` everywhere, ``tokens`` for a variable-length input."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    tokens = proto.graph.input[0].type.tensor_type.shape.dim[1]
    if not tokens.dim_value:
        tokens.dim_param = "tokens"


def metadata(run: Run, opset: int) -> dict[str, str]:
    """ONNX ``metadata_props``: the preprocessing spec and the provenance, all strings."""
    import tf2onnx

    from ._tf import tf

    vocab = run.vocabulary
    metrics = run.metrics
    return {
        "toolkit.format_version": "1",
        "preprocessing.tokenizer_version": str(vocab.tokenizer_version),
        "preprocessing.token_pattern": vocab.spec()["token_pattern"],
        "preprocessing.maxlen": str(vocab.maxlen),
        "preprocessing.num_words": str(vocab.num_words),
        "preprocessing.pad_id": str(PAD_ID),
        "preprocessing.start_id": str(START_ID),
        "preprocessing.oov_id": str(OOV_ID),
        "preprocessing.padding": "pre",
        "preprocessing.truncating": "pre",
        "preprocessing.vocab_sha256": vocab.sha256,
        "labels": json.dumps(list(LABELS)),
        "decision_threshold": str(THRESHOLD),
        "provenance.toolkit_version": __version__,
        "provenance.tensorflow_version": tf.__version__,
        "provenance.tf2onnx_version": tf2onnx.__version__,
        "provenance.opset": str(opset),
        "provenance.run_name": run.path.name,
        "provenance.run_dir": str(run.path.resolve()),
        "provenance.keras_sha256": sha256_file(run.model_file),
        "training.test_accuracy": str(metrics.get("test", {}).get("accuracy", "")),
        "training.metrics": json.dumps(
            {k: metrics.get(k) for k in ("epochs", "test", "mode", "workers", "replicas", "restarts")}
        ),
        "training.config": json.dumps(run.config),
    }


def open_export(export_dir: str | os.PathLike, variant: str = "fp32", threads: int = 0):
    """``(onnxruntime session, metadata, vocabulary)`` of an export folder, checked: the files exist,
    the fp32 model loads, a derived variant (int8, text) was made from the files beside it (checksums),
    and ``vocab.json`` is the one the model was exported with. Needs only onnxruntime and NumPy (edge
    inference uses it)."""
    from .text import Vocabulary, VocabularyError

    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise ExportError(f"export folder {export_dir} does not exist: create one with 'toolkit export RUN'")
    if variant not in VARIANT_FILES:
        raise ExportError(f"unknown variant {variant!r}: use one of {sorted(VARIANT_FILES)}")
    for name in dict.fromkeys((VARIANT_FILES["fp32"], VARIANT_FILES[variant], VOCAB_FILE)):
        if not (export_dir / name).is_file():
            hint = {
                VARIANT_FILES["int8"]: " (export with --quantize int8)",
                VARIANT_FILES["text"]: " (export a run trained with tokenizer version 2)",
            }.get(name, "")
            raise ExportError(f"{export_dir} has no {name}{hint}: export the run again with 'toolkit export RUN'")
    session = _session(export_dir / VARIANT_FILES["fp32"], threads)  # the anchor: it must load
    if variant != "fp32":
        check_derived(export_dir, variant)
        session = _session(export_dir / VARIANT_FILES[variant], threads)
    path = export_dir / VARIANT_FILES[variant]
    meta = dict(session.get_modelmeta().custom_metadata_map)
    expected = meta.get("preprocessing.vocab_sha256")
    if expected is None:
        raise ExportError(f"{path} carries no toolkit metadata: export it with 'toolkit export'")
    try:
        vocab = Vocabulary.load(export_dir / VOCAB_FILE)
    except VocabularyError as exc:
        raise ExportError(str(exc)) from None
    if vocab.sha256 != expected:
        raise ExportError(
            f"{export_dir / VOCAB_FILE} belongs to another model (sha256 {vocab.sha256[:12]}..., the model "
            f"expects {expected[:12]}...): use the vocab.json exported with this model"
        )
    return session, meta, vocab


DERIVED_FROM = {"int8": "fp32", **TEXT_SOURCE}  # variant -> the variant it was made from


def check_derived(export_dir: Path, variant: str) -> None:
    """``variant``'s file (and the ones it was made from, back to fp32) records the sha256 of its source
    beside it: a file swapped in from another export is refused."""
    while variant in DERIVED_FROM:
        derived = export_dir / VARIANT_FILES[variant]
        source = export_dir / VARIANT_FILES[DERIVED_FROM[variant]]
        recorded = read_metadata(derived).get("variant.source_sha256") if derived.is_file() else None
        actual = sha256_file(source) if source.is_file() else "missing"
        if recorded != actual:
            raise ExportError(
                f"{derived} was not made from {source} (it records {(recorded or 'no source')[:12]}..., "
                f"the file is {actual[:12]}...): export the run again"
            )
        variant = DERIVED_FROM[variant]


def _session(path: Path, threads: int):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own InvalidProtobuf / Fail types
        raise ExportError(
            f"{path} is not a loadable ONNX model ({type(exc).__name__}): it may be truncated or corrupt; "
            "export the run again"
        ) from None


def variable_length(session) -> bool:
    """Whether an export's input takes any number of tokens (a masked model) or exactly ``maxlen``."""
    return not isinstance(session.get_inputs()[0].shape[1], int)


def session_options(threads: int = 0):
    """onnxruntime settings for this model (see the README's inference figures): every graph
    optimisation, sequential execution (the graph is one chain: parallel branches would only add
    hand-offs), one inter-op thread, and ``threads`` intra-op threads (0: onnxruntime's default, one
    per physical core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime dynamic quantisation: int8 weights, the LSTM as ``DynamicQuantizeLSTM``. The result
    records the sha256 of the fp32 model it came from (``variant.source_sha256``): ``verify`` refuses
    an int8 file made from another model."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice goes through the root logger
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    model = onnx.load(str(dst))
    for key, value in (("variant.name", "int8"), ("variant.source_sha256", sha256_file(src))):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(dst))


def model_card(run: Run, files: dict, sizes: dict, opset: int, parity: Optional[dict], any_length: bool) -> str:
    vocab = run.vocabulary
    test = run.metrics.get("test", {})
    lines = [
        f"# {run.path.name}: IMDB review sentiment (LSTM, ONNX)",
        "",
        "Classifies an English movie review as negative or positive.",
        "",
        "## Files",
        "",
        "| file | what | size |",
        "| --- | --- | --- |",
        *[f"| `{name}` | {variant} model | {sizes[variant] / 1e6:.2f} MB |" for variant, name in files.items()],
        f"| `{VOCAB_FILE}` | preprocessing spec and vocabulary (sha256 `{vocab.sha256[:16]}…`) | |",
        "",
        "## Inputs and outputs",
        "",
        (
            f"- input `token_ids`: int32 `[batch, tokens]`, any number of tokens; padding (id {PAD_ID}) is skipped, so a"
            " review gets the same probability however it is padded"
            if any_length
            else f"- input `token_ids`: int32 `[batch, {vocab.maxlen}]`"
        ),
        *(
            [
                f"- `{TEXT_FILES['text']}`: input `text`, string `[batch]`, the raw reviews; the preprocessing below runs"
                " inside the graph (standard onnxruntime ops only)"
            ]
            if "text" in files
            else []
        ),
        "- output `probability`: float32 `[batch, 1]`, the probability that the review is positive;"
        f" label `positive` when it is >= {THRESHOLD}",
        "",
        f"## Preprocessing (toolkit.text, tokenizer version {vocab.tokenizer_version})",
        "",
        f"Remove `<br />` tags; tokens are the matches of `{vocab.spec()['token_pattern']}`, lower-cased; each token"
        f" maps to its id in `vocab.json` (the {len(vocab.words):,} most frequent training words, ids 3 to"
        f" {vocab.num_words - 1}), unknown words to {OOV_ID}; prepend {START_ID}; keep the last {vocab.maxlen}"
        f" ids and left-pad with {PAD_ID}. In Python: `toolkit.predict.Classifier.load(folder).predict(texts)`.",
        "",
        "## Accuracy",
        "",
        f"Keras test accuracy at training time: {test.get('accuracy', float('nan')):.4f} on {test.get('reviews', 0):,} reviews.",
        "",
        "## Parity (Keras vs onnxruntime)",
        "",
    ]
    if parity:
        lines += [
            "| variant | labels equal | max abs diff | ONNX accuracy | Keras accuracy |",
            "| --- | --- | --- | --- | --- |",
        ]
        for variant, p in parity.items():
            lines.append(
                f"| {variant} | {p['labels_equal']:,} / {p['reviews']:,} | {p['max_abs_diff']:.2e} | "
                f"{p['onnx_accuracy']:.4f} | {p['keras_accuracy']:.4f} |"
            )
    else:
        lines.append("Not verified yet: run `toolkit verify` on this folder.")
    lines += ["", f"Exported by toolkit {__version__} with tf2onnx, opset {opset}."]
    return "\n".join(lines) + "\n"
