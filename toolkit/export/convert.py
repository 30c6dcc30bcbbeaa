"""Export a run's Keras model to ONNX with everything an edge app needs.

``export_run(run_dir)`` writes an export folder (default ``<run>/onnx/``):

* ``model.onnx`` — converted by tf2onnx from a trace on the CPU (a trace with a GPU visible can
  contain ``CudnnRNNV3``, which tf2onnx cannot convert); input ``token_ids`` int32 ``[batch, tokens]``
  (``[batch, maxlen]`` for the tutorial's fixed-length model), output ``probability`` float32
  ``[batch, 1]`` for two classes, ``[batch, K]`` for K > 2, the native ONNX ``LSTM`` op (padding
  handled by ``onnxgraph.skip_padding``);
  ``onnx.checker.check_model(full_check=True)`` passes; ``metadata_props`` carry the preprocessing spec
  and the provenance (see :func:`metadata`);
* ``model.int8.onnx`` with ``--quantize int8`` (onnxruntime dynamic quantisation: the LSTM becomes
  ``DynamicQuantizeLSTM`` with int8 weights);
* ``model.text.onnx`` (and ``model.text.int8.onnx``): the preprocessing inside the graph
  (``toolkit.export.textfront``), input the raw review text;
* ``vocab.json`` — the same preprocessing spec ``toolkit.edge.text`` loads;
* ``training.png`` — the run's loss and accuracy curves, when the run has them (older runs do not);
* ``README.md`` — a model card (``toolkit.export.modelcard``).

The folder is assembled beside its final place and renamed into place when complete: a crash
mid-export never leaves a ``model.onnx`` that looks valid.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnxruntime.quantization import QuantType, quantize_dynamic

from toolkit import __version__
from toolkit.artifacts.destinations import check_destination, is_toolkit_export
from toolkit.artifacts.exports import default_export_dir
from toolkit.artifacts.runs import Run, read_run
from toolkit.config import ExportConfig
from toolkit.core.environ import environ_defaults
from toolkit.core.errors import ExportError, WriteError
from toolkit.core.files import atomic_write_text, sha256_file, staged_folder, write_failed
from toolkit.core.progress import log
from toolkit.edge.contract import (
    CARD_FILE,
    DERIVED_FROM,
    EXPORT_FILES,
    FORMAT_VERSION,
    METADATA_DIGEST,
    ONNX_FILE,
    TEXT_FILES,
    THRESHOLD,
    TOKENS_INPUT,
    TRAINING_PNG,
    VARIANT_FILES,
    VOCAB_FILE,
    metadata_digest,
)
from toolkit.edge.text import OOV_ID, PAD_ID, START_ID
from toolkit.export import onnxgraph
from toolkit.export.modelcard import model_card
from toolkit.export.textfront import text_model


@dataclass(frozen=True)
class ExportResult:
    path: Path
    files: dict  # variant -> file name
    sizes: dict  # variant -> bytes


def export_run(run_dir: str | os.PathLike, cfg: ExportConfig = ExportConfig()) -> ExportResult:
    """Convert ``run_dir``'s model to ONNX (plus quantised and text variants) into ``cfg.out``; return
    what was written.

    ``cfg.out`` may replace only an earlier export folder of this toolkit's, and only with
    ``cfg.overwrite``: any other existing path is an error and nothing is removed."""
    run = read_run(run_dir)
    if run.vocabulary is None:
        raise ExportError(f"{run.path} has no {VOCAB_FILE}: the export would not know how to encode text")
    out = Path(cfg.out) if cfg.out else default_export_dir(run.path)
    target = check_destination("export", out, cfg.overwrite)
    proto = convert(run, cfg.opset)
    # onnxruntime's quantiser writes "<input>-inferred.onnx" beside its input while it works: a kill then
    # leaves it in the staging folder, which the sweep may still remove
    allowed = (*EXPORT_FILES, "model-inferred.onnx")
    with staged_folder(out, target, is_toolkit_export, allowed) as stage:
        save_model(proto, stage / ONNX_FILE)
        files = {"fp32": ONNX_FILE}
        if "int8" in cfg.quantize:
            quantize_int8(stage / ONNX_FILE, stage / VARIANT_FILES["int8"])
            files["int8"] = VARIANT_FILES["int8"]
        files.update(write_text_models(stage, files, run))
        curves = (run.path / TRAINING_PNG).is_file()  # runs trained before the curves have none
        for name in (VOCAB_FILE, TRAINING_PNG) if curves else (VOCAB_FILE,):
            try:
                shutil.copyfile(run.path / name, stage / name)
            except OSError as exc:
                raise write_failed(out / name, exc) from None
        sizes = {variant: (stage / name).stat().st_size for variant, name in files.items()}
        any_length = not proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
        atomic_write_text(stage / CARD_FILE, model_card(run, files, sizes, cfg.opset, any_length, curves))
    return ExportResult(out, files, sizes)


def convert(run: Run, opset: int) -> onnx.ModelProto:
    """tf2onnx conversion of the run's model, traced on the CPU, with metadata; checked."""
    proto, variable_length = _trace(run, opset)
    ops = {node.op_type for node in proto.graph.node}
    if "LSTM" not in ops or "Loop" in ops:
        raise ExportError(f"conversion did not produce a native ONNX LSTM (ops: {sorted(ops)})")
    if variable_length:
        onnxgraph.skip_padding(proto)
    onnxgraph.drop_unused_initializers(proto)
    onnxgraph.name_axes(proto)
    for key, value in metadata(run, opset).items():
        proto.metadata_props.add(key=key, value=value)
    # true: any number of tokens, padding skipped exactly; false: exactly maxlen tokens, pre-padded
    proto.metadata_props.add(key="input.variable_length", value=str(variable_length).lower())
    _seal(proto)
    proto.doc_string = f"LSTM text classifier ({len(run.model_config.classes)} classes) exported by toolkit"
    _check(proto, "the converted model")
    return proto


def _trace(run: Run, opset: int) -> tuple[onnx.ModelProto, bool]:
    """``(tf2onnx's graph, whether it takes any length)``. A masked model is converted as its unmasked
    twin (tf2onnx turns a masked LSTM into a ``Loop``; unmasked it is the native ``LSTM`` op, and
    ``onnxgraph.skip_padding`` then handles the padding exactly)."""
    # TensorFlow is imported here, not at the top: the trace must run on the CPU, and hiding the GPUs
    # works only before TensorFlow initialises its devices (toolkit._tf does on import). The variable is
    # set for the trace only: processes started after the export (Ray workers, benchmark children) see
    # the environment as the caller had it.
    with environ_defaults(CUDA_VISIBLE_DEVICES=""):
        import tf2onnx

        from toolkit._tf import tf
        from toolkit.model.lstm import load_run_model, unmasked_twin

        with tf.device("/CPU:0"):
            model = load_run_model(run)
            length = model.input.shape[1]  # None: the model masks its padding and takes any length
            spec = [tf.TensorSpec([None, length], tf.int32, name=TOKENS_INPUT)]
            proto, _ = tf2onnx.convert.from_keras(
                unmasked_twin(model) if length is None else model, input_signature=spec, opset=opset
            )
    return proto, length is None


def save_model(proto: onnx.ModelProto, path: Path) -> None:
    """``onnx.save``, checked: a failed write (disk full) names the file, and a file that came out
    shorter than the model is one too."""
    try:
        onnx.save(proto, str(path))
        complete = Path(path).stat().st_size == proto.ByteSize()
    except OSError as exc:
        raise write_failed(path, exc) from None
    if not complete:
        raise write_failed(path, OSError(errno.EIO, "the file came out incomplete (disk full?)"))


def _check(proto: onnx.ModelProto, what: str) -> None:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{what} fails onnx.checker: {exc}") from None


def metadata(run: Run, opset: int) -> dict[str, str]:
    """ONNX ``metadata_props``: the preprocessing spec and the provenance, all strings."""
    import tf2onnx  # TensorFlow is loaded by now (see _trace)

    from toolkit._tf import tf

    vocab, metrics, classes = run.vocabulary, run.metrics, run.model_config.classes
    summary = {k: metrics.get(k) for k in ("epochs", "test", "mode", "workers", "replicas", "restarts")}
    return {
        "toolkit.format_version": FORMAT_VERSION,
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
        "labels": json.dumps(list(classes)),
        # two classes: the second when its probability is >= the threshold; K classes: the most probable
        **({"decision_threshold": str(THRESHOLD)} if len(classes) == 2 else {}),
        "provenance.toolkit_version": __version__,
        "provenance.tensorflow_version": tf.__version__,
        "provenance.tf2onnx_version": tf2onnx.__version__,
        "provenance.opset": str(opset),
        "provenance.run_name": run.path.name,
        "provenance.run_dir": str(run.path.resolve()),
        "provenance.keras_sha256": sha256_file(run.model_file),
        "training.test_accuracy": str(metrics.get("test", {}).get("accuracy", "")),
        "training.metrics": json.dumps(summary),
        "training.config": json.dumps(run.config),
    }


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime dynamic quantisation: int8 weights, the LSTM as ``DynamicQuantizeLSTM``. The result
    records the sha256 of the fp32 model it came from (``variant.source_sha256``): ``verify`` refuses
    an int8 file made from another model."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice goes through the root logger
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        model = onnx.load(str(dst))
    except OSError as exc:
        raise write_failed(dst, exc) from None
    except DecodeError:  # its shape inference writes a temporary model beside dst, cut short on a full disk
        free = shutil.disk_usage(dst.parent).free
        raise WriteError(
            f"cannot write {str(dst)!r}: quantisation read back an incomplete file ({free:,} bytes free on "
            "that file system: disk full?); free some space and export again"
        ) from None
    finally:
        root.setLevel(level)
    _set_variant(model, "int8", src)
    save_model(model, dst)


def write_text_models(folder: Path, files: dict, run: Run) -> dict:
    """``model.text.onnx`` (and ``model.text.int8.onnx``): the preprocessing in the graph before each
    ids model in ``folder``. Each records the sha256 of the ids model it was built on. Needs a run
    with tokenizer version 2 (older runs get no text model, and a note says why)."""
    version = run.vocabulary.tokenizer_version
    if version != 2:
        log(f"no text model: {run.path} was trained with tokenizer version {version}; train it again for one")
        return {}
    written = {}
    for variant in TEXT_FILES:
        source = DERIVED_FROM[variant]
        if source not in files:
            continue
        src = folder / files[source]
        model = text_model(onnx.load(str(src)), run.vocabulary)
        _set_variant(model, variant, src, {"preprocessing.in_graph": "true"})
        _check(model, "the text model")
        save_model(model, folder / TEXT_FILES[variant])
        written[variant] = TEXT_FILES[variant]
    return written


def _set_variant(model: onnx.ModelProto, variant: str, source: Path, extra: dict | None = None) -> None:
    """Record the variant's name and its source file's sha256 (replacing what the source recorded)."""
    values = {"variant.name": variant, "variant.source_sha256": sha256_file(source), **(extra or {})}
    for prop in [p for p in model.metadata_props if p.key in values]:
        model.metadata_props.remove(prop)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    _seal(model)


def _seal(model: onnx.ModelProto) -> None:
    """(Re)write ``toolkit.metadata_sha256``, the digest of every other metadata prop
    (``contract.metadata_digest``): the last step after any change to the metadata."""
    for prop in [p for p in model.metadata_props if p.key == METADATA_DIGEST]:
        model.metadata_props.remove(prop)
    props = {p.key: p.value for p in model.metadata_props}
    model.metadata_props.add(key=METADATA_DIGEST, value=metadata_digest(props))
