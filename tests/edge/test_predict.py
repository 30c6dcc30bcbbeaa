"""edge.predict on a model trained on real reviews: raw text in, Keras's probabilities out, no TensorFlow
imported; predict's inputs and bad inputs through the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import BIN, error_line
from toolkit.config import DataConfig

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


def test_predict_on_raw_text_equals_keras_on_the_same_text(exported, trained_run):
    from toolkit._tf import keras
    from toolkit.edge.predict import Classifier

    texts = [
        "A wonderful, moving film with brilliant acting.",
        "Dull, boring and far too long. A waste of time.",
        "zzxq qqwv",
        "word " * 100_000,
        "It was <br /><br />OK, I guess... 5/10",
    ]
    clf = Classifier.load(exported.path)
    probs = clf.probabilities(texts)
    model = keras.models.load_model(trained_run / "model.keras")
    expected = model.predict(clf.vocabulary.encode(texts), verbose=0)[:, 0]
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    labels = [p.label for p in clf.predict(texts)]
    assert labels == ["positive" if p >= 0.5 else "negative" for p in expected]


def test_predict_never_imports_tensorflow(exported, tmp_path):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text('id,text\n1,"Great film, loved it"\n2,"Awful."\n', encoding="utf-8")
    code = (
        "import sys, json\n"
        "from toolkit.cli.main import main\n"
        f"rc = main(['predict', {str(exported.path)!r}, '--file', {str(reviews)!r}, '--json'])\n"
        "assert 'tensorflow' not in sys.modules and 'tf_keras' not in sys.modules, 'TensorFlow was imported'\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out) == 2 and all(o["label"] in ("negative", "positive") and 0 <= o["probability"] <= 1 for o in out)


@pytest.mark.parametrize("kind", ["txt", "jsonl", "stdin", "args"])
def test_predict_inputs(exported, tmp_path, kind):
    reviews = ["Great film, loved it", "Awful, a waste of time"]
    cmd = [str(BIN / "toolkit"), "predict", str(exported.path), "--json"]
    stdin = None
    if kind == "txt":
        (tmp_path / "r.txt").write_text("\n".join(reviews) + "\n\n", encoding="utf-8")
        cmd += ["--file", str(tmp_path / "r.txt")]
    elif kind == "jsonl":
        (tmp_path / "r.jsonl").write_text(
            json.dumps({"text": reviews[0]}) + "\n" + json.dumps(reviews[1]) + "\n", encoding="utf-8"
        )
        cmd += ["--file", str(tmp_path / "r.jsonl")]
    elif kind == "stdin":
        stdin = "\n".join(reviews)
    else:
        cmd += reviews
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 2


def test_predict_bad_inputs(exported, tmp_path):
    def run(*a, **kw):
        return subprocess.run(
            [str(BIN / "toolkit"), "predict", str(exported.path), *a], capture_output=True, text=True, timeout=120, **kw
        )

    assert "review 1 is empty" in error_line(run(""))
    assert "review 2 is empty" in error_line(run("fine film", "   "))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"Caf\xe9 scenes\n")
    assert "not UTF-8" in error_line(run("--file", str(latin1)))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "holds no reviews" in error_line(run("--file", str(empty)))
    assert "does not exist" in error_line(run("--file", str(tmp_path / "missing.txt")))


def test_predict_uses_the_text_model_and_equals_the_ids_path(exported, real_tarball):
    from toolkit.data.sources import raw_reviews
    from toolkit.edge.predict import Classifier

    texts = list(raw_reviews(DataConfig(path=str(real_tarball)))["test"].values())[::125]
    auto, ids = Classifier.load(exported.path), Classifier.load(exported.path, variant="fp32")
    assert auto.takes_text and not ids.takes_text
    np.testing.assert_allclose(auto.probabilities(texts), ids.probabilities(texts), atol=1e-6, rtol=0)
    # int8 quantises each batch's activations with that batch's range: compare review by review
    q_text, q_ids = (Classifier.load(exported.path, variant=v) for v in ("text-int8", "int8"))
    q_text.batch_size = q_ids.batch_size = 1
    np.testing.assert_allclose(q_text.probabilities(texts[:50]), q_ids.probabilities(texts[:50]), atol=1e-6, rtol=0)
