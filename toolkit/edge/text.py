"""The one preprocessing spec, shared by training and edge inference. Pure NumPy, no TensorFlow.

Raw review -> tokens -> ids -> a fixed-length row:

* **Tokenizer** (version 2, the default): remove the ``<br />`` tags IMDB reviews are full of
  (``BREAK_PATTERN``: ``<br``, ASCII white space, optional ``/``, ``>``, any case), take every match
  of ``WORD_PATTERN``: runs of ASCII letters/digits, keeping inner apostrophes (``don't``, ``90's``),
  and lower-case them (ASCII only: every token is ASCII). Everything else, non-ASCII letters included,
  separates tokens. Version 2 is defined so that the ONNX graph (``toolkit.export.textfront``) reproduces
  it exactly for every string; version 1 (``str.lower()`` on the whole text, then ``[a-z0-9]`` tokens
  and Unicode white space inside the tag) differs from it only where ``lower()`` maps a non-ASCII letter
  into ASCII (``İ``, the Kelvin sign) or a tag holds non-ASCII space. Vocabularies saved with
  version 1 still load and encode with version 1.
* **Vocabulary**, built from the training split only, with the ``keras.datasets.imdb`` conventions:
  id 0 is padding, 1 marks the start of a review, 2 is any out-of-vocabulary word, and the most
  frequent words get ids 3, 4, ... up to ``num_words - 1`` (ties broken alphabetically).
* **Encoding**: ``[START] + ids``, then pre-truncated (keep the last ``maxlen``) and pre-padded with 0,
  exactly like ``keras.utils.pad_sequences`` with its defaults.

The vocabulary is saved as JSON (never pickle) with a format version and the sha256 of its content,
so an export can prove which preprocessing its model was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from toolkit.core.errors import VocabularyError, first_line, nested_deeper_than
from toolkit.core.files import atomic_write_text

PAD_ID = 0
START_ID = 1
OOV_ID = 2
FIRST_WORD_ID = 3

TOKENIZER_VERSION = 2  # what new vocabularies use
TOKENIZERS = (1, 2)  # what this toolkit reads
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"  # version 1, on lower-cased text
WORD_PATTERN = r"[a-zA-Z0-9]+(?:'[a-zA-Z0-9]+)*"  # version 2
BREAK_PATTERN = r"<[bB][rR][ \t\n\r\f\v]*/?>"  # version 2: RE2 and Python read it alike
VOCAB_FORMAT = "toolkit.vocabulary"
VOCAB_FORMAT_VERSION = 1

_TOKEN_RE = re.compile(TOKEN_PATTERN)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD_RE = re.compile(WORD_PATTERN)
_BREAK_RE = re.compile(BREAK_PATTERN)


def tokenize(text: str, version: int = TOKENIZER_VERSION) -> list[str]:
    """Lower-cased word tokens of one review."""
    if version == 1:
        return _TOKEN_RE.findall(_BR_RE.sub(" ", text).lower())
    return [t.lower() for t in _WORD_RE.findall(_BREAK_RE.sub(" ", text))]


def pad_sequences(sequences: Sequence[Sequence[int]], maxlen: int, value: int = PAD_ID) -> np.ndarray:
    """Pre-truncate and pre-pad to ``[n, maxlen]`` int32, as ``keras.utils.pad_sequences`` does by default."""
    out = np.full((len(sequences), maxlen), value, dtype=np.int32)
    for i, seq in enumerate(sequences):
        tail = list(seq)[-maxlen:] if maxlen else []
        if tail:
            out[i, maxlen - len(tail) :] = tail
    return out


@dataclass(frozen=True)
class Vocabulary:
    """Words with ids ``FIRST_WORD_ID + i``, plus the settings needed to encode a review."""

    words: tuple[str, ...]
    num_words: int
    maxlen: int
    tokenizer_version: int = TOKENIZER_VERSION
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokenizer_version not in TOKENIZERS:
            raise VocabularyError(
                f"tokenizer version {self.tokenizer_version} is not supported (this toolkit reads {TOKENIZERS})"
            )
        if len(self.words) > self.num_words - FIRST_WORD_ID:
            raise VocabularyError(f"{len(self.words)} words do not fit in num_words={self.num_words}")
        object.__setattr__(self, "_index", {w: FIRST_WORD_ID + i for i, w in enumerate(self.words)})

    @classmethod
    def build(cls, texts: Iterable[str], num_words: int, maxlen: int) -> "Vocabulary":
        """The ``num_words - 3`` most frequent tokens of ``texts`` (ties: alphabetical)."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(tokenize(text, TOKENIZER_VERSION))
        return cls.from_counts(counts.items(), num_words, maxlen)

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[str, int]], num_words: int, maxlen: int) -> "Vocabulary":
        """The ``num_words - 3`` most frequent of ``(token, count)`` pairs (ties: alphabetical), each token
        once: how :meth:`build` ranks, and ``toolkit prepare`` with counts summed over many workers."""
        ranked = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
        return cls(tuple(w for w, _ in ranked[: num_words - FIRST_WORD_ID]), num_words, maxlen)

    def ids(self, text: str) -> list[int]:
        """``[START] + word ids`` of one review, unpadded."""
        index = self._index
        return [START_ID] + [index.get(tok, OOV_ID) for tok in tokenize(text, self.tokenizer_version)]

    def encode(self, texts: Iterable[str], maxlen: int | None = None) -> np.ndarray:
        """int32 ``[n, maxlen]``: pre-truncated, pre-padded ids of each review."""
        return pad_sequences([self.ids(t) for t in texts], self.maxlen if maxlen is None else maxlen)

    # --- persistence -------------------------------------------------------------------------
    def spec(self) -> dict:
        """Everything an edge app needs to reproduce the encoding (without the checksum)."""
        if self.tokenizer_version == 1:
            tokenizer = {"token_pattern": TOKEN_PATTERN, "lowercase": True, "strip_html_breaks": True}
        else:
            tokenizer = {
                "token_pattern": WORD_PATTERN,
                "break_pattern": BREAK_PATTERN,
                "lowercase": "ascii",
                "strip_html_breaks": True,
            }
        return {
            "format": VOCAB_FORMAT,
            "format_version": VOCAB_FORMAT_VERSION,
            "tokenizer_version": self.tokenizer_version,
            **tokenizer,
            "num_words": self.num_words,
            "maxlen": self.maxlen,
            "pad_id": PAD_ID,
            "start_id": START_ID,
            "oov_id": OOV_ID,
            "first_word_id": FIRST_WORD_ID,
            "padding": "pre",
            "truncating": "pre",
            "words": list(self.words),
        }

    @property
    def sha256(self) -> str:
        return _content_sha256(self.spec())

    def to_json(self) -> str:
        return json.dumps({**self.spec(), "sha256": self.sha256}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        try:
            data = json.loads(text)
        except ValueError as exc:  # not JSON, or a number of more than 4,300 digits
            raise VocabularyError(f"not valid JSON ({first_line(exc)})") from None
        except RecursionError:  # '[[[[...' 100,000 deep: the parser gives up
            raise VocabularyError(_TOO_DEEP) from None
        if nested_deeper_than(data, 8):  # a vocabulary is 2 deep; the checksum of a field 900 deep would fail
            raise VocabularyError(_TOO_DEEP)
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise VocabularyError("not a toolkit vocabulary file")
        if data.get("format_version") != VOCAB_FORMAT_VERSION or data.get("tokenizer_version") not in TOKENIZERS:
            raise VocabularyError(
                f"vocabulary format {data.get('format_version')} / tokenizer {data.get('tokenizer_version')} "
                f"is not supported by this toolkit (reads {VOCAB_FORMAT_VERSION} / {TOKENIZERS})"
            )
        claimed = data.pop("sha256", None)
        if claimed != _content_sha256(data):
            raise VocabularyError("checksum mismatch: the file was edited or is corrupt")
        # a checksum proves the file was not edited after it was written, not who wrote it: check the fields
        try:
            reserved = (data["pad_id"], data["start_id"], data["oov_id"], data["first_word_id"])
            words, num_words, maxlen = data["words"], data["num_words"], data["maxlen"]
        except KeyError as exc:
            raise VocabularyError(f"the field {exc} is missing") from None
        if reserved != (PAD_ID, START_ID, OOV_ID, FIRST_WORD_ID):
            raise VocabularyError(f"unsupported reserved ids {reserved}")
        if not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
            raise VocabularyError("words must be a list of strings")
        if not all(type(n) is int and n > 0 for n in (num_words, maxlen)):
            raise VocabularyError(f"num_words and maxlen must be whole numbers > 0, got {num_words!r} and {maxlen!r}")
        return cls(tuple(words), num_words, maxlen, int(data["tokenizer_version"]))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VocabularyError(f"cannot read {path}: {exc}") from None
        try:
            return cls.from_json(text)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None


_TOO_DEEP = "not a toolkit vocabulary file (its JSON is nested too deeply)"


def _content_sha256(spec: dict) -> str:
    canonical = json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
