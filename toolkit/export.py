"""Export a run's Keras model to ONNX with everything an edge app needs.

``export_run(run_dir)`` writes an export folder (default ``<run>/onnx/``):

* ``model.onnx`` — converted by tf2onnx from a trace on the CPU (a trace with a GPU visible can
  contain ``CudnnRNNV3``, which tf2onnx cannot convert); input ``token_ids`` int32 ``[batch, maxlen]``,
  output ``probability`` float32 ``[batch, 1]``, a dynamic batch axis, the native ONNX ``LSTM`` op;
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
from .rundir import VOCAB_FILE, Run, read_run, staged_folder
from .text import OOV_ID, PAD_ID, START_ID, TOKEN_PATTERN, TOKENIZER_VERSION, atomic_write_text

MODEL_FILE = "model.onnx"
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
CARD_FILE = "README.md"
DEFAULT_OPSET = 17
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


def export_run(run_dir: str | os.PathLike, out: Optional[str | os.PathLike] = None, opset: int = DEFAULT_OPSET,
               quantize: Sequence[str] = (), overwrite: bool = True) -> ExportResult:
    """Convert ``run_dir``'s model to ONNX (plus quantised variants) into ``out``; return what was written."""
    run = read_run(run_dir)
    if run.vocabulary is None:
        raise ExportError(f"{run.path} has no {VOCAB_FILE}: the export would not know how to encode text")
    unknown = set(quantize) - {"int8"}
    if unknown:
        raise ExportError(f"unknown --quantize {sorted(unknown)}: supported: int8")
    out = Path(out) if out else default_export_dir(run.path)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists: pass another --out")

    proto = convert(run, opset)
    import onnx

    with staged_folder(out) as stage:
        onnx.save(proto, str(stage / MODEL_FILE))
        files = {"fp32": MODEL_FILE}
        if "int8" in quantize:
            quantize_int8(stage / MODEL_FILE, stage / VARIANT_FILES["int8"])
            files["int8"] = VARIANT_FILES["int8"]
        shutil.copyfile(run.path / VOCAB_FILE, stage / VOCAB_FILE)
        sizes = {variant: (stage / name).stat().st_size for variant, name in files.items()}
        atomic_write_text(stage / CARD_FILE, model_card(run, files, sizes, opset, parity=None))
        for f in stage.iterdir():
            os.chmod(f, 0o644)
    return ExportResult(out, files, sizes)


def convert(run: Run, opset: int):
    """tf2onnx conversion of the run's model, traced on the CPU, with metadata; checked."""
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # before TensorFlow starts: trace on the CPU
    from ._tf import keras, tf
    import onnx
    import tf2onnx

    with tf.device("/CPU:0"):
        try:
            model = keras.models.load_model(run.model_file)
        except Exception as exc:  # keras raises many types for a corrupt file
            raise ExportError(f"cannot load {run.model_file} ({exc}): train the run again") from None
        maxlen = int(model.input.shape[1])
        spec = [tf.TensorSpec([None, maxlen], tf.int32, name="token_ids")]
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    _name_batch_axis(proto)
    ops = {node.op_type for node in proto.graph.node}
    if "LSTM" not in ops or "Loop" in ops:
        raise ExportError(f"conversion did not produce a native ONNX LSTM (ops: {sorted(ops)})")
    for key, value in metadata(run, opset).items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = "IMDB review sentiment: LSTM classifier exported by toolkit"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the converted model fails onnx.checker: {exc}") from None
    return proto


def _name_batch_axis(proto) -> None:
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


def metadata(run: Run, opset: int) -> dict[str, str]:
    """ONNX ``metadata_props``: the preprocessing spec and the provenance, all strings."""
    import tf2onnx

    from ._tf import tf

    vocab = run.vocabulary
    metrics = run.metrics
    return {
        "toolkit.format_version": "1",
        "preprocessing.tokenizer_version": str(TOKENIZER_VERSION),
        "preprocessing.token_pattern": TOKEN_PATTERN,
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
        "training.test_accuracy": str(metrics.get("test", {}).get("accuracy", "")),
        "training.metrics": json.dumps({k: metrics.get(k) for k in ("epochs", "test", "mode", "workers", "replicas", "restarts")}),
        "training.config": json.dumps(run.config),
    }


def open_export(export_dir: str | os.PathLike, variant: str = "fp32", threads: int = 0):
    """``(onnxruntime session, metadata, vocabulary)`` of an export folder, checked: the files exist,
    the model loads, and ``vocab.json`` is the one the model was exported with. Needs only
    onnxruntime and NumPy (edge inference uses it)."""
    import onnxruntime as ort

    from .text import Vocabulary, VocabularyError

    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise ExportError(f"export folder {export_dir} does not exist: create one with 'toolkit export RUN'")
    if variant not in VARIANT_FILES:
        raise ExportError(f"unknown variant {variant!r}: use one of {sorted(VARIANT_FILES)}")
    for name in (VARIANT_FILES[variant], VOCAB_FILE):
        if not (export_dir / name).is_file():
            hint = " (export with --quantize int8)" if name == VARIANT_FILES["int8"] else ""
            raise ExportError(f"{export_dir} has no {name}{hint}: export the run again with 'toolkit export RUN'")
    path = export_dir / VARIANT_FILES[variant]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own InvalidProtobuf / Fail types
        raise ExportError(f"{path} is not a loadable ONNX model ({type(exc).__name__}): it may be truncated or corrupt; export the run again") from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    expected = meta.get("preprocessing.vocab_sha256")
    if expected is None:
        raise ExportError(f"{path} carries no toolkit metadata: export it with 'toolkit export'")
    try:
        vocab = Vocabulary.load(export_dir / VOCAB_FILE)
    except VocabularyError as exc:
        raise ExportError(str(exc)) from None
    if vocab.sha256 != expected:
        raise ExportError(f"{export_dir / VOCAB_FILE} belongs to another model (sha256 {vocab.sha256[:12]}..., the model "
                          f"expects {expected[:12]}...): use the vocab.json exported with this model")
    return session, meta, vocab


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime dynamic quantisation: int8 weights, the LSTM as ``DynamicQuantizeLSTM``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def model_card(run: Run, files: dict, sizes: dict, opset: int, parity: Optional[dict]) -> str:
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
        f"- input `token_ids`: int32 `[batch, {vocab.maxlen}]`",
        "- output `probability`: float32 `[batch, 1]`, the probability that the review is positive;"
        f" label `positive` when it is >= {THRESHOLD}",
        "",
        "## Preprocessing (toolkit.text, tokenizer version 1)",
        "",
        f"Lower-case; replace `<br />` with a space; tokens are the matches of `{TOKEN_PATTERN}`; each token"
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
        lines += ["| variant | labels equal | max abs diff | ONNX accuracy | Keras accuracy |", "| --- | --- | --- | --- | --- |"]
        for variant, p in parity.items():
            lines.append(f"| {variant} | {p['labels_equal']:,} / {p['reviews']:,} | {p['max_abs_diff']:.2e} | "
                         f"{p['onnx_accuracy']:.4f} | {p['keras_accuracy']:.4f} |")
    else:
        lines.append("Not verified yet: run `toolkit verify` on this folder.")
    lines += ["", f"Exported by toolkit {__version__} with tf2onnx, opset {opset}."]
    return "\n".join(lines) + "\n"
