"""What an exported model's metadata must say, checked: the format version and digest, labels,
threshold, preprocessing, and that each derived file was made from the file beside it.

Two classes: ``labels`` names two classes, ``decision_threshold`` says when the second is chosen, the
output is ``probability`` ``[n, 1]``. K > 2 classes (up to ``contract.MAX_CLASSES``): ``labels`` names K
classes, there is no ``decision_threshold`` (the most probable class is chosen), the output is ``[n, K]``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Optional

from toolkit.core.errors import ExportError
from toolkit.core.files import sha256_file
from toolkit.edge.contract import (
    DERIVED_FROM,
    FORMAT_VERSION,
    MAX_CLASSES,
    METADATA_DIGEST,
    OUTPUT,
    TEXT_FILES,
    TEXT_INPUT,
    TOKENS_INPUT,
    VARIANT_FILES,
    metadata_digest,
)

# what a derived variant (int8, text) must record exactly as the fp32 model does (a key absent from the
# fp32 model, as decision_threshold is for K > 2 classes, must be absent from the variant too)
SHARED_KEYS = ("toolkit.format_version", "labels", "decision_threshold", "input.variable_length")


# the preprocessing.* copies of vocab.json's spec (vocab.json itself is checked by its sha256)
VOCAB_KEYS = ("tokenizer_version", "token_pattern", "maxlen", "num_words", "pad_id", "start_id", "oov_id")


NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # as str(float) writes a threshold


# no control characters, line or paragraph separators or lone surrogates: a label is printed on one line
BAD_LABEL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class ExportMetadata(dict):
    """A model's ``metadata_props`` (str -> str) as :func:`check_metadata` checked them, and the values
    predict uses, parsed: ``labels`` (the class names, label 0 first: two, or K > 2), ``threshold``
    (two classes: the second when its probability >= threshold; None for K > 2 classes: the most
    probable), ``takes_text`` (input ``text``, else ``token_ids``) and ``variable_length`` (any number
    of tokens, else exactly maxlen)."""

    def __init__(
        self,
        path: Path,
        props: dict,
        labels: tuple,
        threshold: Optional[float],
        takes_text: bool,
        any_length: bool,
    ):
        super().__init__(props)
        self.path, self.labels, self.threshold = path, labels, threshold
        self.takes_text, self.variable_length = takes_text, any_length

    @property
    def num_classes(self) -> int:
        """How many classes the model tells apart (``len(labels)``): 2, or K > 2."""
        return len(self.labels)


def check_metadata(path: Path, session, variant: str, anchor: Optional[ExportMetadata] = None) -> ExportMetadata:
    """``session``'s metadata (the model in ``path``, a ``variant`` model), checked: its digest
    (``contract.metadata_digest``; a missing one is an older export), the format version, the labels (a
    JSON list of 2 to ``MAX_CLASSES`` distinct non-empty one-line strings), the decision threshold (a
    number in (0, 1) for two labels, absent for more), ``input.variable_length``, the graph's input and
    output as the contract names them (an output whose last dimension is fixed: 1 for two labels, K for
    K labels), and for a derived variant the ``SHARED_KEYS`` and preprocessing of the fp32 model's
    metadata ``anchor``."""
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
            f"{path} has export format {shorten(version)}; this toolkit reads format {FORMAT_VERSION}: "
            "export the run again with this toolkit"
        )
    if not props.get("preprocessing.vocab_sha256"):
        raise ExportError(f"{path} records no preprocessing.vocab_sha256: export the run again")
    labels = parse_labels(props.get("labels"))
    if labels is None:
        raise ExportError(
            f"{path}: labels {shorten(props.get('labels'))} is not a JSON list of 2 to {MAX_CLASSES:,} distinct, "
            "non-empty one-line labels: export the run again"
        )
    threshold = None
    if len(labels) == 2:
        threshold = parse_threshold(props.get("decision_threshold"))
        if threshold is None:
            raise ExportError(
                f"{path}: decision_threshold {shorten(props.get('decision_threshold'))} is not a number between 0 "
                "and 1: export the run again"
            )
    elif "decision_threshold" in props:
        raise ExportError(
            f"{path} records decision_threshold {shorten(props['decision_threshold'])} with {len(labels):,} labels: "
            "a model of more than two classes picks the most probable and has no threshold; export the run again"
        )
    flag = props.get("input.variable_length")
    if flag not in ("true", "false"):
        raise ExportError(f"{path}: input.variable_length {shorten(flag)} is not true or false: export the run again")
    opset = props.get("provenance.opset")  # shown by tools that read the metadata
    if opset is not None and not re.fullmatch("[0-9]{1,3}", opset):
        raise ExportError(f"{path}: provenance.opset {shorten(opset)} is not an opset number: export the run again")
    recorded = props.get("variant.name", "fp32")
    if recorded != variant:
        raise ExportError(f"{path} is the {shorten(recorded)} model, not {variant}: export the run again")
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
    width = output_width(session)
    if width is not None and width != (1 if len(labels) == 2 else len(labels)):
        want = "1 (the second label's probability)" if len(labels) == 2 else f"{len(labels):,}"
        raise ExportError(
            f"{path}: its output gives {width:,} numbers per review, but {len(labels):,} labels need {want}: "
            "export the run again"
        )
    if not takes_text and (flag == "true") != variable_length(session):
        raise ExportError(f"{path}: input.variable_length {flag} does not describe its input: export the run again")
    if anchor is not None:
        for key in sorted(k for k in {**anchor, **props} if _shared(k)):
            if props.get(key) != anchor.get(key):
                raise ExportError(
                    f"{path} records {key} {shorten(props.get(key))}, but {anchor.path} records "
                    f"{shorten(anchor.get(key))}: export the run again"
                )
    return ExportMetadata(path, props, labels, threshold, takes_text, flag == "true")


def parse_labels(text) -> Optional[tuple[str, ...]]:
    """The class names (label 0 first) from the ``labels`` metadata, or None when it is not a JSON list of
    2 to ``MAX_CLASSES`` distinct, non-empty, one-line strings."""
    try:
        labels = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not (isinstance(labels, list) and 2 <= len(labels) <= MAX_CLASSES):
        return None
    if not all(isinstance(x, str) and x.strip() and not BAD_LABEL_CHARS.search(x) for x in labels):
        return None
    if len(set(labels)) != len(labels):
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


def shorten(value) -> str:
    """``value`` for a one-line message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(values: list) -> str:
    """``[(name, onnxruntime type, rank)]`` as ``text string (rank 1)``."""
    kinds = [(name, kind.removeprefix("tensor(").removesuffix(")"), rank) for name, kind, rank in values]
    return ", ".join(f"{shorten(name)} {kind} (rank {rank})" for name, kind, rank in kinds) or "none"


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


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` (the weights are not read)."""
    import onnx  # only here: running a model needs onnxruntime alone

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, OSError, ...: the file is not an ONNX model
        raise ExportError(f"{path} is not a readable ONNX model ({type(exc).__name__}): export the run again") from None
    return {p.key: p.value for p in model.metadata_props}


def output_width(session) -> Optional[int]:
    """The fixed last dimension of the model's output (probabilities per review), or None when the
    graph leaves it open (a named or unknown dimension)."""
    shape = session.get_outputs()[0].shape or ()
    last = shape[-1] if shape else None
    return last if isinstance(last, int) and not isinstance(last, bool) and last >= 0 else None


def variable_length(session) -> bool:
    """Whether an ids model takes any number of tokens (a masked model) or exactly ``maxlen``."""
    return not isinstance(session.get_inputs()[0].shape[1], int)
