"""The model contract: what every model this toolkit writes takes and gives, and what its files are called.

One word per meaning, used everywhere:

* ``tokens``: a matrix of token ids ``[reviews, positions]`` (int32, padding id 0) as ``toolkit.edge.text``
  encodes reviews; never review identifiers;
* ``review_ids``: review identifiers such as ``test/pos/123_9`` (``data.Split.review_ids``);
* ``probability``: for two classes, the probability of the second class (``LABELS[1]``, "positive" for
  IMDB), float32 ``[reviews]`` (the graph's output is ``[reviews, 1]``); for K > 2 classes, one
  probability per class, float32 ``[reviews, K]`` (softmax: each row sums to 1);
* ``label``: two classes: ``labels[int(probability >= THRESHOLD)]``; K classes: ``labels[argmax]``
  (``predicted``). The class names and their order are the run's (``ModelConfig.classes``).

Pure NumPy: training, export, verify, bench and edge inference all import it.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

import numpy as np

# Graph inputs and output (the Keras model, every ONNX variant)
TOKENS_INPUT = "token_ids"  # int32 [batch, tokens]: the ids models (Keras, model.onnx, model.int8.onnx)
TEXT_INPUT = "text"  # string [batch]: the text models (model.text.onnx, model.text.int8.onnx)
OUTPUT = "probability"  # float32 [batch, 1] for two classes, [batch, K] for K > 2
LABELS = ("negative", "positive")  # IMDB's label 0, label 1 (config.training.IMDB_CLASSES: the same)
THRESHOLD = 0.5  # two classes: the second when probability >= THRESHOLD
MAX_CLASSES = 1000  # a data set of more classes is refused (and an export's metadata claiming more)

# Export metadata (ONNX metadata_props): the format, and a digest over every other prop
FORMAT_VERSION = "2"  # "toolkit.format_version"; 1: no METADATA_DIGEST (read by no toolkit since 2)
METADATA_DIGEST = "toolkit.metadata_sha256"

# Files of a run folder (toolkit train)
KERAS_FILE = "model.keras"
VOCAB_FILE = "vocab.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
TRAINING_PNG = "training.png"  # loss and accuracy per epoch (copied into the export folder too)
EVENTS_DIR = "tensorboard"  # the training's TensorBoard event files
SETTINGS_FILE = "config.toml"  # the resolved settings: toolkit train --config RUN/config.toml reruns the run
RUN_FILES = (KERAS_FILE, VOCAB_FILE, CONFIG_FILE, SETTINGS_FILE, METRICS_FILE, TRAINING_PNG, EVENTS_DIR)

# Files of an export folder (toolkit export, then toolkit verify's reports)
IDS_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}  # input TOKENS_INPUT
TEXT_FILES = {"text": "model.text.onnx", "text-int8": "model.text.int8.onnx"}  # input TEXT_INPUT
VARIANT_FILES = {**IDS_FILES, **TEXT_FILES}
VARIANTS = tuple(VARIANT_FILES)
ONNX_FILE = IDS_FILES["fp32"]  # every other variant is derived from it
DERIVED_FROM = {"int8": "fp32", "text": "fp32", "text-int8": "int8"}  # variant -> the variant it was made from
FULL_PRECISION = ("fp32", "text")  # judged by |dp| and flips; the others (int8) by accuracy and agreement
CARD_FILE = "README.md"
REPORT_JSON, REPORT_MD, REPORT_PNG = "parity.json", "parity.md", "parity.png"
REPORT_CONFUSION_PNG = "confusion.png"  # the confusion matrix of verify's labels
REPORT_FILES = (REPORT_JSON, REPORT_MD, REPORT_PNG, REPORT_CONFUSION_PNG)  # everything toolkit verify writes
EXPORT_FILES = (*VARIANT_FILES.values(), VOCAB_FILE, CARD_FILE, TRAINING_PNG, *REPORT_FILES)


def metadata_digest(props: Mapping[str, str]) -> str:
    """sha256 (hex) of an export model's metadata: every prop but ``METADATA_DIGEST`` itself, keys in
    code-point order (the order of their UTF-8 bytes), each key and then its value written as
    ``<byte length>:<UTF-8 bytes>``. ``toolkit/clients/node/predict.js`` computes the same."""
    digest = hashlib.sha256()
    for key in sorted(k for k in props if k != METADATA_DIGEST):
        for text in (key, props[key]):
            data = text.encode("utf-8")
            digest.update(b"%d:%s" % (len(data), data))
    return digest.hexdigest()


def predicted(probabilities: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """int32 ``[n]``: the class of each review. Two classes (``[n]`` or ``[n, 1]``: the probability of
    class 1): 1 where it is >= ``threshold`` (NaN counts as class 0). K classes (``[n, K]``): the most
    probable (NaN counts as less probable than any number; ties go to the first)."""
    p = np.asarray(probabilities)
    if p.ndim == 2 and p.shape[1] > 1:
        if len(p) == 0:
            return np.zeros(0, dtype=np.int32)
        return np.argmax(np.nan_to_num(p, nan=-np.inf), axis=1).astype(np.int32)
    with np.errstate(invalid="ignore"):
        return (p.reshape(len(p)) >= threshold).astype(np.int32)


def positive(probabilities: np.ndarray) -> np.ndarray:
    """int32 ``[n]``: 1 where a two-class review is judged ``LABELS[1]`` (NaN counts as label 0)."""
    return predicted(probabilities)


def class_matrix(probabilities: np.ndarray) -> np.ndarray:
    """``[n, K]``: one probability per class; two classes' ``[n]`` (or ``[n, 1]``) becomes ``[1 - p, p]``."""
    p = np.asarray(probabilities)
    if p.ndim == 2 and p.shape[1] > 1:
        return p
    p = p.reshape(len(p))
    return np.stack([1 - p, p], axis=1)


def label(probability: float, labels: Sequence[str] = LABELS, threshold: float = THRESHOLD) -> str:
    """A two-class review's label from the probability of class 1."""
    return labels[int(probability >= threshold)]
