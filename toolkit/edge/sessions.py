"""onnxruntime sessions over an export folder: the edge runtime. Needs only onnxruntime and NumPy (and
onnx to read a derived variant's metadata); never TensorFlow, so ``toolkit.edge.predict`` and apps built on
it run where TensorFlow is not installed.

:func:`open_export` checks an export folder before anything runs on it: the files exist, the fp32
model loads, a derived variant (int8, text) was made from the files beside it (checksums),
``vocab.json`` is the one the model was exported with, and each model's metadata is what the export
wrote (``toolkit.metadata_sha256``, :func:`check_metadata`) and means what predict needs: two labels
and a threshold in (0, 1), or K > 2 labels and no threshold; the contract's input and output; the fp32
model's preprocessing.

Probabilities come back as the contract names them: float32 ``[n]`` for a two-class model (the second
class's probability; the graph gives ``[n, 1]``), ``[n, K]`` for K > 2 classes (one softmax row each).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import onnxruntime as ort

from toolkit.core.errors import ExportError
from toolkit.edge import batches
from toolkit.edge.contract import (
    DERIVED_FROM,
    OUTPUT,
    TEXT_FILES,
    TEXT_INPUT,
    TOKENS_INPUT,
    VARIANT_FILES,
    VOCAB_FILE,
)
from toolkit.edge.metadata import (
    VOCAB_KEYS,
    ExportMetadata,
    check_derived,
    check_metadata,
    output_width,
    shorten,
    variable_length,
)
from toolkit.edge.text import Vocabulary

MISSING_HINTS = {
    VARIANT_FILES["int8"]: " (export with --quantize int8)",
    VARIANT_FILES["text"]: " (export a run trained with tokenizer version 2)",
}


VOCAB_KEYS += ("padding", "truncating")


def open_export(export_dir: str | os.PathLike, variant: str = "fp32", threads: int = 0):
    """``(onnxruntime session, metadata, vocabulary)`` of ``variant`` in an export folder, checked;
    the metadata is an :class:`ExportMetadata`."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise ExportError(f"export folder {export_dir} does not exist: create one with 'toolkit export RUN'")
    if variant not in VARIANT_FILES:
        raise ExportError(f"unknown variant {variant!r}: use one of {sorted(VARIANT_FILES)}")
    for name in dict.fromkeys((VARIANT_FILES["fp32"], VARIANT_FILES[variant], VOCAB_FILE)):
        if not (export_dir / name).is_file():
            hint = MISSING_HINTS.get(name, "")
            raise ExportError(f"{export_dir} has no {name}{hint}: export the run again with 'toolkit export RUN'")
    anchor_path = export_dir / VARIANT_FILES["fp32"]
    session = load_session(anchor_path, threads)  # the anchor: it must load
    meta = anchor = check_metadata(anchor_path, session, "fp32")
    if variant != "fp32":
        check_derived(export_dir, variant)
        path = export_dir / VARIANT_FILES[variant]
        session = load_session(path, threads)
        meta = check_metadata(path, session, variant, anchor)
    expected = meta["preprocessing.vocab_sha256"]
    vocab = Vocabulary.load(export_dir / VOCAB_FILE)
    if vocab.sha256 != expected:
        raise ExportError(
            f"{export_dir / VOCAB_FILE} belongs to another model (sha256 {vocab.sha256[:12]}..., the model "
            f"expects {expected[:12]}...): use the vocab.json exported with this model"
        )
    spec = vocab.spec()
    for key in VOCAB_KEYS:
        recorded = meta.get(f"preprocessing.{key}")
        if recorded != str(spec[key]):
            raise ExportError(
                f"{meta.path} records preprocessing.{key} {shorten(recorded)}, but {export_dir / VOCAB_FILE} "
                f"says {shorten(str(spec[key]))}: export the run again"
            )
    for derived in DERIVED_FROM:  # every derived file beside it records the sha256 of what it was made
        if (export_dir / VARIANT_FILES[derived]).is_file():  # from: an fp32 model edited (and resealed)
            check_derived(export_dir, derived)  # after the export is refused even when fp32 is asked for
    return session, meta, vocab


def check_export(export_dir: str | os.PathLike) -> ExportMetadata:
    """:func:`open_export`'s checks on every variant the folder holds; returns the fp32 model's
    metadata."""
    _, anchor, _ = open_export(export_dir)
    for variant, name in VARIANT_FILES.items():
        if variant != "fp32" and (Path(export_dir) / name).is_file():
            open_export(export_dir, variant)
    return anchor


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


def default_variant(export_dir: str | os.PathLike) -> str:
    """``auto``: the text model when the export has one, else fp32."""
    return "text" if (Path(export_dir) / TEXT_FILES["text"]).is_file() else "fp32"


ProgressCallback = Optional[Callable[[int], None]]


def tokens_probabilities(
    session, tokens: np.ndarray, batch_size: int = 256, progress: ProgressCallback = None
) -> np.ndarray:
    """float32 ``[n]`` (two classes) or ``[n, K]`` (K > 2 classes): an ids model over pre-padded
    ``tokens`` ``[n, maxlen]``, in batches as ``batches.inference_batches`` cuts them; ``progress(done)``
    after each batch."""
    out = _Rows(session, len(tokens))
    done = 0
    for rows, batch in batches.inference_batches(tokens, batch_size, variable_length(session)):
        out.put(rows, run_tokens(session, batch))
        done += len(batch)
        if progress:
            progress(done)
    return out.array()


def texts_probabilities(
    session, texts: list[str], batch_size: int = 256, progress: ProgressCallback = None
) -> np.ndarray:
    """float32 ``[n]`` (two classes) or ``[n, K]`` (K > 2 classes): a text model over batches of
    reviews of similar length (the graph pads each batch to its longest review); ``progress(done)``
    after each batch."""
    out = _Rows(session, len(texts))
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out.put(rows, run_texts(session, [texts[i] for i in rows]))
        if progress:
            progress(start + len(rows))
    return out.array()


def run_tokens(session, tokens: np.ndarray) -> np.ndarray:
    """float32 ``[n]`` (two classes) or ``[n, K]`` (K > 2): an ids model (an onnxruntime session) on
    one batch of token ids."""
    return _per_review(session.run([OUTPUT], {TOKENS_INPUT: np.ascontiguousarray(tokens, dtype=np.int32)})[0])


def run_texts(session, texts: Sequence[str]) -> np.ndarray:
    """float32 ``[n]`` (two classes) or ``[n, K]`` (K > 2): a text model (an onnxruntime session) on
    one batch of raw reviews."""
    return _per_review(session.run([OUTPUT], {TEXT_INPUT: np.array(list(texts), dtype=object)})[0])


def _per_review(out: np.ndarray) -> np.ndarray:
    """The graph's ``[n, 1]`` as ``[n]`` (two classes); ``[n, K]`` as it is."""
    if out.ndim != 2 or out.shape[1] < 1:
        raise ExportError(
            f"the model gave probabilities of shape {list(out.shape)}, not [reviews, classes]: the export is "
            "broken; export the run again"
        )
    return out[:, 0] if out.shape[1] == 1 else out


class _Rows:
    """The probabilities of ``n`` reviews, filled batch by batch (``put``) in any row order; their
    width is the first batch's (or the graph's declared one, for no reviews at all)."""

    def __init__(self, session, n: int) -> None:
        self.session, self.n, self.out = session, n, None

    def put(self, rows, p: np.ndarray) -> None:
        if self.out is None:
            self.out = np.empty((self.n, *p.shape[1:]), dtype=np.float32)
        elif p.shape[1:] != self.out.shape[1:]:
            raise ExportError(
                f"the model gave {_width(self.out):,} probabilities per review in one batch and {_width(p):,} "
                "in another: the export is broken; export the run again"
            )
        self.out[rows] = p

    def array(self) -> np.ndarray:
        if self.out is None:  # no reviews
            width = output_width(self.session) or 1
            return np.empty((0,) if width == 1 else (0, width), dtype=np.float32)
        return self.out


def _width(p: np.ndarray) -> int:
    return p.shape[1] if p.ndim == 2 else 1
