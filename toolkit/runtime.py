"""onnxruntime sessions over an export folder: the edge runtime. Needs only onnxruntime and NumPy (and
onnx to read a derived variant's metadata); never TensorFlow, so ``toolkit.predict`` and apps built on
it run where TensorFlow is not installed.

:func:`open_export` checks an export folder before anything runs on it: the files exist, the fp32
model loads, a derived variant (int8, text) was made from the files beside it (checksums),
``vocab.json`` is the one the model was exported with, and each model's metadata is what the export
wrote (``toolkit.metadata_sha256``, :func:`check_metadata`) and means what predict needs: two labels,
a threshold in (0, 1), the contract's input and output, the fp32 model's preprocessing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnxruntime as ort

from . import batching
from .contract import (
    DERIVED_FROM,
    FORMAT_VERSION,
    METADATA_DIGEST,
    OUTPUT,
    TEXT_FILES,
    TEXT_INPUT,
    TOKENS_INPUT,
    VARIANT_FILES,
    VOCAB_FILE,
    metadata_digest,
    run_texts,
    run_tokens,
)
from .errors import ExportError
from .files import sha256_file
from .text import Vocabulary

MISSING_HINTS = {
    VARIANT_FILES["int8"]: " (export with --quantize int8)",
    VARIANT_FILES["text"]: " (export a run trained with tokenizer version 2)",
}


# what a derived variant (int8, text) must record exactly as the fp32 model does
SHARED_KEYS = ("toolkit.format_version", "labels", "decision_threshold", "input.variable_length")
# the preprocessing.* copies of vocab.json's spec (vocab.json itself is checked by its sha256)
VOCAB_KEYS = ("tokenizer_version", "token_pattern", "maxlen", "num_words", "pad_id", "start_id", "oov_id")
VOCAB_KEYS += ("padding", "truncating")
NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # as str(float) writes a threshold
# no control characters, line or paragraph separators or lone surrogates: a label is printed on one line
BAD_LABEL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class ExportMetadata(dict):
    """A model's ``metadata_props`` (str -> str) as :func:`check_metadata` checked them, and the values
    predict uses, parsed: ``labels`` (label 0, label 1), ``threshold`` (positive when probability >=
    threshold), ``takes_text`` (input ``text``, else ``token_ids``) and ``variable_length`` (any
    number of tokens, else exactly maxlen)."""

    def __init__(self, path: Path, props: dict, labels: tuple, threshold: float, takes_text: bool, any_length: bool):
        super().__init__(props)
        self.path, self.labels, self.threshold = path, labels, threshold
        self.takes_text, self.variable_length = takes_text, any_length


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
                f"{meta.path} records preprocessing.{key} {_short(recorded)}, but {export_dir / VOCAB_FILE} "
                f"says {_short(str(spec[key]))}: export the run again"
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


def check_metadata(path: Path, session, variant: str, anchor: Optional[ExportMetadata] = None) -> ExportMetadata:
    """``session``'s metadata (the model in ``path``, a ``variant`` model), checked: its digest
    (``contract.metadata_digest``; a missing one is an older export), the format version, the labels (a
    JSON list of two distinct non-empty strings), the decision threshold (a number in (0, 1)),
    ``input.variable_length``, the graph's input and output as the contract names them, and for a
    derived variant the ``SHARED_KEYS`` and preprocessing of the fp32 model's metadata ``anchor``."""
    try:
        props = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # e.g. metadata that is not UTF-8
        raise ExportError(f"{path}: its metadata cannot be read ({type(exc).__name__}): export the run again") from None
    if "preprocessing.vocab_sha256" not in props and "toolkit.format_version" not in props:
        raise ExportError(f"{path} carries no toolkit metadata: export it with 'toolkit export'")
    if METADATA_DIGEST not in props:
        raise ExportError(f"{path} has no metadata checksum: it was exported by an older toolkit; export the run again")
    if metadata_digest(props) != props[METADATA_DIGEST]:
        raise ExportError(
            f"{path}: its metadata does not match its checksum (edited after the export): export the run again"
        )
    version = props.get("toolkit.format_version")
    if version != FORMAT_VERSION:
        raise ExportError(
            f"{path} has export format {_short(version)}; this toolkit reads format {FORMAT_VERSION}: "
            "export the run again with this toolkit"
        )
    if not props.get("preprocessing.vocab_sha256"):
        raise ExportError(f"{path} records no preprocessing.vocab_sha256: export the run again")
    labels = parse_labels(props.get("labels"))
    if labels is None:
        raise ExportError(
            f"{path}: labels {_short(props.get('labels'))} is not a JSON list of two distinct, non-empty "
            "one-line labels: export the run again"
        )
    threshold = parse_threshold(props.get("decision_threshold"))
    if threshold is None:
        raise ExportError(
            f"{path}: decision_threshold {_short(props.get('decision_threshold'))} is not a number between 0 "
            "and 1: export the run again"
        )
    flag = props.get("input.variable_length")
    if flag not in ("true", "false"):
        raise ExportError(f"{path}: input.variable_length {_short(flag)} is not true or false: export the run again")
    opset = props.get("provenance.opset")  # verify writes it into the model card
    if opset is not None and not re.fullmatch("[0-9]{1,3}", opset):
        raise ExportError(f"{path}: provenance.opset {_short(opset)} is not an opset number: export the run again")
    recorded = props.get("variant.name", "fp32")
    if recorded != variant:
        raise ExportError(f"{path} is the {_short(recorded)} model, not {variant}: export the run again")
    takes_text = variant in TEXT_FILES
    expected = [(TEXT_INPUT, "tensor(string)", 1)] if takes_text else [(TOKENS_INPUT, "tensor(int32)", 2)]
    inputs = [(i.name, i.type, len(i.shape or ())) for i in session.get_inputs()]
    outputs = [(o.name, o.type, len(o.shape or ())) for o in session.get_outputs()]
    for what, got, want in (("input", inputs, expected), ("output", outputs, [(OUTPUT, "tensor(float)", 2)])):
        if got != want:
            raise ExportError(
                f"{path} has the {what}s {_describe(got)}, not {_describe(want)}: it is not a toolkit {variant} "
                "model; export the run again"
            )
    if not takes_text and (flag == "true") != variable_length(session):
        raise ExportError(f"{path}: input.variable_length {flag} does not describe its input: export the run again")
    if anchor is not None:
        for key in sorted(k for k in {**anchor, **props} if _shared(k)):
            if props.get(key) != anchor.get(key):
                raise ExportError(
                    f"{path} records {key} {_short(props.get(key))}, but {anchor.path} records "
                    f"{_short(anchor.get(key))}: export the run again"
                )
    return ExportMetadata(path, props, labels, threshold, takes_text, flag == "true")


def parse_labels(text) -> Optional[tuple[str, str]]:
    """``(label 0, label 1)`` from the ``labels`` metadata, or None when it is not a JSON list of two
    distinct, non-empty, one-line strings."""
    try:
        labels = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not (isinstance(labels, list) and len(labels) == 2 and labels[0] != labels[1]):
        return None
    if not all(isinstance(x, str) and x.strip() and not BAD_LABEL_CHARS.search(x) for x in labels):
        return None
    return tuple(labels)


def parse_threshold(text) -> Optional[float]:
    """The ``decision_threshold`` metadata as a float, or None unless it is a plain decimal number
    (``0.5``, ``5e-01``) strictly between 0 and 1."""
    if not isinstance(text, str) or not NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if 0.0 < value < 1.0 else None


def _shared(key: str) -> bool:
    return key in SHARED_KEYS or (key.startswith("preprocessing.") and key != "preprocessing.in_graph")


def _short(value) -> str:
    """``value`` for a one-line message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(values: list) -> str:
    """``[(name, onnxruntime type, rank)]`` as ``text string (rank 1)``."""
    kinds = [(name, kind.removeprefix("tensor(").removesuffix(")"), rank) for name, kind, rank in values]
    return ", ".join(f"{_short(name)} {kind} (rank {rank})" for name, kind, rank in kinds) or "none"


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
