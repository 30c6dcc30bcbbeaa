"""The export folder's ``README.md``: what each file is, its inputs and outputs, the preprocessing,
the accuracy, and where ``toolkit verify`` puts its parity figures (written by the export only)."""

from __future__ import annotations

from toolkit import __version__
from toolkit.artifacts.runs import Run
from toolkit.edge.contract import (
    LABELS,
    OUTPUT,
    REPORT_JSON,
    REPORT_MD,
    REPORT_PNG,
    TEXT_FILES,
    TEXT_INPUT,
    THRESHOLD,
    TOKENS_INPUT,
    VOCAB_FILE,
)
from toolkit.edge.text import OOV_ID, PAD_ID, START_ID


def model_card(run: Run, files: dict, sizes: dict, opset: int, any_length: bool) -> str:
    """The card's Markdown; ``files``: {variant: file name}, ``sizes``: {variant: bytes}. Written by the
    export only: ``toolkit verify`` writes its figures to its own files, which the card points to."""
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
        f"| `{VOCAB_FILE}` | preprocessing spec and vocabulary (sha256 `{run.vocabulary.sha256[:16]}…`) | |",
        "",
        *_inputs_outputs(run, "text" in files, any_length),
        *_preprocessing(run),
        "## Accuracy",
        "",
        f"Keras test accuracy at training time: {run.metrics.get('test', {}).get('accuracy', float('nan')):.4f} on "
        f"{run.metrics.get('test', {}).get('reviews', 0):,} reviews.",
        "",
        "## Parity (Keras vs onnxruntime)",
        "",
        f"`toolkit verify` on this folder compares every model here with Keras on a whole split and writes "
        f"`{REPORT_MD}` (for people), `{REPORT_JSON}` (for machines) and `{REPORT_PNG}` beside this card.",
        "",
        f"Exported by toolkit {__version__} with tf2onnx, opset {opset}.",
    ]
    return "\n".join(lines) + "\n"


def _inputs_outputs(run: Run, has_text: bool, any_length: bool) -> list[str]:
    tokens = (
        f"- input `{TOKENS_INPUT}`: int32 `[batch, tokens]`, any number of tokens; padding (id {PAD_ID}) is "
        "skipped, so a review gets the same probability however it is padded"
        if any_length
        else f"- input `{TOKENS_INPUT}`: int32 `[batch, {run.vocabulary.maxlen}]`"
    )
    text = (
        [
            f"- `{TEXT_FILES['text']}`: input `{TEXT_INPUT}`, string `[batch]`, the raw reviews; the preprocessing "
            "below runs inside the graph (standard onnxruntime ops only)"
        ]
        if has_text
        else []
    )
    output = (
        f"- output `{OUTPUT}`: float32 `[batch, 1]`, the probability that the review is positive;"
        f" label `{LABELS[1]}` when it is >= {THRESHOLD}"
    )
    return ["## Inputs and outputs", "", tokens, *text, output, ""]


def _preprocessing(run: Run) -> list[str]:
    vocab = run.vocabulary
    return [
        f"## Preprocessing (toolkit.edge.text, tokenizer version {vocab.tokenizer_version})",
        "",
        f"Remove `<br />` tags; tokens are the matches of `{vocab.spec()['token_pattern']}`, lower-cased; each token"
        f" maps to its id in `vocab.json` (the {len(vocab.words):,} most frequent training words, ids 3 to"
        f" {vocab.num_words - 1}), unknown words to {OOV_ID}; prepend {START_ID}; keep the last {vocab.maxlen}"
        f" ids and left-pad with {PAD_ID}. In Python: `toolkit.Classifier.load(folder).predict(texts)`.",
        "",
    ]
