"""Checking the export's text models: the in-graph preprocessing gives exactly the Python spec's
token ids on the reviews of the split and on hard strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from toolkit.config import DataConfig
from toolkit.core.errors import ExportError
from toolkit.core.progress import log
from toolkit.data.dataset import LabelledData, raw_texts
from toolkit.data.prepared import is_prepared, read_manifest
from toolkit.edge.contract import TEXT_FILES, TEXT_INPUT
from toolkit.edge.sessions import session_options
from toolkit.edge.text import PAD_ID, Vocabulary
from toolkit.export.textfront import IDS_OUTPUT
from toolkit.prepare.texts import prepared_texts

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
        tokens = session.run([IDS_OUTPUT], {TEXT_INPUT: np.array([texts[i] for i in rows], dtype=object)})[0]
        for i, row in zip(rows, tokens):
            if row[row != PAD_ID].tolist() != vocab.ids(texts[i])[-vocab.maxlen :]:
                bad.append(int(i))
    return sorted(bad)


def check_text_preprocessing(export_dir: Path, vocab, raw: dict) -> dict:
    """The in-graph preprocessing of ``model.text.onnx`` against ``text.py`` on every review of both
    splits (``raw``: {split: [texts]}) and on ``HARD_STRINGS``: equal ids, or the reviews that differ."""
    session = preprocessing_session(export_dir / TEXT_FILES["text"])
    result = {"file": TEXT_FILES["text"], "reviews": 0, "equal": 0, "mismatched": []}
    for split, texts in raw.items():
        log(f"text preprocessing: in-graph ids vs toolkit.edge.text on {len(texts):,} {split} reviews ...")
        bad = id_mismatches(session, vocab, texts)
        result["reviews"] += len(texts)
        result["equal"] += len(texts) - len(bad)
        result["mismatched"] += [f"{split}:{i}" for i in bad[:50]]
    bad = id_mismatches(session, vocab, HARD_STRINGS)
    result["hard_strings"] = {
        "total": len(HARD_STRINGS),
        "equal": len(HARD_STRINGS) - len(bad),
        "mismatched": [repr(HARD_STRINGS[i][:40]) for i in bad],
    }
    result["passed"] = result["equal"] == result["reviews"] and not bad
    return result


def check_text_models(export_dir: Path, vocab, data_cfg: DataConfig, data: LabelledData, split: str):
    """``(the split's raw texts in the order of its tokens, the in-graph preprocessing check)``."""
    if data_cfg.path and is_prepared(data_cfg.path):  # shards hold ids: the texts of the files prepare read
        texts = prepared_texts(read_manifest(data_cfg.path), split)
        if len(texts) != len(getattr(data, split)) or not np.array_equal(vocab.encode(texts), getattr(data, split).x):
            raise ExportError(
                f"the files {data_cfg.path} was prepared from do not give its {split} reviews again: the text "
                "models need the reviews' text"
            )
        return texts, check_text_preprocessing(export_dir, vocab, {split: texts})
    raw = raw_texts(data_cfg)
    preprocessing = check_text_preprocessing(export_dir, vocab, {k: list(v.values()) for k, v in raw.items()})
    return [raw[split][i] for i in getattr(data, split).review_ids], preprocessing
