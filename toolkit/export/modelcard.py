"""The export folder's ``README.md``: what each file is, its inputs and outputs, the preprocessing,
the accuracy, and where ``toolkit verify`` puts its parity figures (written by the export only)."""

from __future__ import annotations

from toolkit import __version__
from toolkit.artifacts.runs import Run
from toolkit.edge.contract import (
    OUTPUT,
    REPORT_CONFUSION_PNG,
    REPORT_JSON,
    REPORT_MD,
    REPORT_PNG,
    TEXT_FILES,
    TEXT_INPUT,
    THRESHOLD,
    TOKENS_INPUT,
    TRAINING_PNG,
    VOCAB_FILE,
)
from toolkit.edge.text import OOV_ID, PAD_ID, START_ID


def model_card(run: Run, files: dict, sizes: dict, opset: int, any_length: bool, curves: bool = False) -> str:
    """The card's Markdown; ``files``: {variant: file name}, ``sizes``: {variant: bytes}; ``curves``: the
    folder holds the run's ``training.png``, which the card shows. Written by the export only:
    ``toolkit verify`` writes its figures to its own files, which the card points to."""
    classes = run.model_config.classes
    test = run.metrics.get("test", {})
    lines = [
        f"# {run.path.name}: text classifier (LSTM, ONNX)",
        "",
        f"Classifies a text into one of {len(classes):,} classes: {_names(classes)}.",
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
        f"Keras test accuracy at training time: {test.get('accuracy', float('nan')):.4f} on "
        f"{test.get('reviews', 0):,} reviews.",
        "",
        *_per_class(test.get("per_class_accuracy")),
        *(_training(run) if curves else []),
        "## Parity (Keras vs onnxruntime)",
        "",
        f"`toolkit verify` on this folder compares every model here with Keras on a whole split and writes "
        f"`{REPORT_MD}` (for people), `{REPORT_JSON}` (for machines), `{REPORT_PNG}` and `{REPORT_CONFUSION_PNG}` "
        "beside this card.",
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
    classes = run.model_config.classes
    if len(classes) == 2:
        output = (
            f"- output `{OUTPUT}`: float32 `[batch, 1]`, the probability of class `{classes[1]}`;"
            f" label `{classes[1]}` when it is >= {THRESHOLD}, else `{classes[0]}`"
        )
    else:
        output = (
            f"- output `{OUTPUT}`: float32 `[batch, {len(classes)}]`, one probability per class (softmax), in"
            f" the order of the metadata's `labels` (and below); the label is the most probable class"
        )
    return ["## Inputs and outputs", "", tokens, *text, output, "", *_class_order(classes)]


def _names(classes: tuple, shown: int = 10) -> str:
    names = ", ".join(f"`{c}`" for c in classes[:shown])
    return names + (f" and {len(classes) - shown:,} more" if len(classes) > shown else "")


def _class_order(classes: tuple, shown: int = 50) -> list[str]:
    """The classes in output order (the first ``shown``; all are in the models' ``labels`` metadata)."""
    rows = [f"| {i} | `{c}` |" for i, c in enumerate(classes[:shown])]
    more = [f"| ... | {len(classes) - shown:,} more (see the `labels` metadata) |"] if len(classes) > shown else []
    return ["## Classes", "", "| index | class |", "| --- | --- |", *rows, *more, ""]


def _per_class(per_class) -> list[str]:
    if not isinstance(per_class, dict) or not per_class:
        return []
    rows = [
        f"| `{name}` | {acc:.4f} |" if isinstance(acc, (int, float)) else f"| `{name}` | (no test rows) |"
        for name, acc in list(per_class.items())[:50]
    ]
    extra = len(per_class) - 50
    more = [f"| ... | {extra:,} more classes (see the run's metrics.json) |"] if extra > 0 else []
    return ["| class | test accuracy (recall) |", "| --- | --- |", *rows, *more, ""]


def _training(run: Run) -> list[str]:
    """The training curves (``training.png``, copied from the run folder) and what they show."""
    epochs = run.metrics.get("epochs")
    count = f"{len(epochs)} epoch(s)" if isinstance(epochs, list) else "each epoch"
    validation = run.metrics.get("validation_reviews")
    held_out = f", and on the {validation:,} validation reviews" if isinstance(validation, int) else ""
    return [
        "## Training",
        "",
        f"Loss and accuracy over {count}, on the training reviews{held_out}"
        f" (the training's TensorBoard events are in the run folder's `tensorboard/`):",
        "",
        f"![loss and accuracy per epoch]({TRAINING_PNG})",
        "",
    ]


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
