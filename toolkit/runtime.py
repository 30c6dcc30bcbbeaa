"""onnxruntime sessions over an export folder: the edge runtime. Needs only onnxruntime and NumPy (and
onnx to read a derived variant's metadata); never TensorFlow, so ``toolkit.predict`` and apps built on
it run where TensorFlow is not installed.

:func:`open_export` checks an export folder before anything runs on it: the files exist, the fp32
model loads, a derived variant (int8, text) was made from the files beside it (checksums), and
``vocab.json`` is the one the model was exported with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnxruntime as ort

from . import batching
from .contract import DERIVED_FROM, TEXT_FILES, VARIANT_FILES, VOCAB_FILE, run_texts, run_tokens
from .errors import ExportError
from .files import sha256_file
from .text import Vocabulary

MISSING_HINTS = {
    VARIANT_FILES["int8"]: " (export with --quantize int8)",
    VARIANT_FILES["text"]: " (export a run trained with tokenizer version 2)",
}


def open_export(export_dir: str | os.PathLike, variant: str = "fp32", threads: int = 0):
    """``(onnxruntime session, metadata, vocabulary)`` of ``variant`` in an export folder, checked."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise ExportError(f"export folder {export_dir} does not exist: create one with 'toolkit export RUN'")
    if variant not in VARIANT_FILES:
        raise ExportError(f"unknown variant {variant!r}: use one of {sorted(VARIANT_FILES)}")
    for name in dict.fromkeys((VARIANT_FILES["fp32"], VARIANT_FILES[variant], VOCAB_FILE)):
        if not (export_dir / name).is_file():
            hint = MISSING_HINTS.get(name, "")
            raise ExportError(f"{export_dir} has no {name}{hint}: export the run again with 'toolkit export RUN'")
    session = load_session(export_dir / VARIANT_FILES["fp32"], threads)  # the anchor: it must load
    if variant != "fp32":
        check_derived(export_dir, variant)
        session = load_session(export_dir / VARIANT_FILES[variant], threads)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    expected = meta.get("preprocessing.vocab_sha256")
    if expected is None:
        path = export_dir / VARIANT_FILES[variant]
        raise ExportError(f"{path} carries no toolkit metadata: export it with 'toolkit export'")
    vocab = Vocabulary.load(export_dir / VOCAB_FILE)
    if vocab.sha256 != expected:
        raise ExportError(
            f"{export_dir / VOCAB_FILE} belongs to another model (sha256 {vocab.sha256[:12]}..., the model "
            f"expects {expected[:12]}...): use the vocab.json exported with this model"
        )
    return session, meta, vocab


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


def load_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own InvalidProtobuf / Fail types
        raise ExportError(
            f"{path} is not a loadable ONNX model ({type(exc).__name__}): it may be truncated or corrupt; "
            "export the run again"
        ) from None


def session_options(threads: int = 0) -> ort.SessionOptions:
    """onnxruntime settings for this model (see the README's inference figures): every graph
    optimisation, sequential execution (the graph is one chain: parallel branches would only add
    hand-offs), one inter-op thread, and ``threads`` intra-op threads (0: onnxruntime's default, one
    per physical core)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` (the weights are not read)."""
    import onnx  # only here: running a model needs onnxruntime alone

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, OSError, ...: the file is not an ONNX model
        raise ExportError(f"{path} is not a readable ONNX model ({type(exc).__name__}): export the run again") from None
    return {p.key: p.value for p in model.metadata_props}


def variable_length(session) -> bool:
    """Whether an ids model takes any number of tokens (a masked model) or exactly ``maxlen``."""
    return not isinstance(session.get_inputs()[0].shape[1], int)


def default_variant(export_dir: str | os.PathLike) -> str:
    """``auto``: the text model when the export has one, else fp32."""
    return "text" if (Path(export_dir) / TEXT_FILES["text"]).is_file() else "fp32"


Progress = Optional[Callable[[int], None]]


def tokens_probabilities(session, tokens: np.ndarray, batch_size: int = 256, progress: Progress = None) -> np.ndarray:
    """float32 ``[n]``: an ids model over pre-padded ``tokens`` ``[n, maxlen]``, in batches as
    ``batching.inference_batches`` cuts them; ``progress(done)`` after each batch."""
    out = np.empty(len(tokens), dtype=np.float32)
    done = 0
    for rows, batch in batching.inference_batches(tokens, batch_size, variable_length(session)):
        out[rows] = run_tokens(session, batch)
        done += len(batch)
        if progress:
            progress(done)
    return out


def texts_probabilities(session, texts: list[str], batch_size: int = 256, progress: Progress = None) -> np.ndarray:
    """float32 ``[n]``: a text model over batches of reviews of similar length (the graph pads each
    batch to its longest review); ``progress(done)`` after each batch."""
    out = np.empty(len(texts), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = run_texts(session, [texts[i] for i in rows])
        if progress:
            progress(start + len(rows))
    return out
