"""Users' own data end to end on the real reviews, in the layouts users hold them in (``bench.layouts``):
Hugging Face parquet files, Kaggle's one CSV with string labels, JSON lines with 8 star classes; each
through `toolkit run` (train, export, verify) and `toolkit predict`."""

import json
import subprocess

import pytest

from tests.helpers import BIN, NEAR_CHANCE_INT8
from toolkit.bench.layouts import (
    KAGGLE_FILE,
    imdb_reviews,
    write_hf_parquet,
    write_kaggle_csv,
    write_stars_jsonl,
)

pytestmark = pytest.mark.slow  # models trained on real reviews, exported and verified

COMMON = ["--maxlen", "50", "--epochs", "1", "--batch-size", "32", *NEAR_CHANCE_INT8]


@pytest.fixture(scope="module")
def reviews(real_tarball):
    return imdb_reviews(real_tarball, per_split=300, seed=1)


def _run(data, tmp_path, name, *extra):
    proc = subprocess.run(
        [str(BIN / "toolkit"), "run", "--data", str(data), *COMMON, *extra]
        + ["--exports-dir", str(tmp_path / "exports"), "--run-name", name, "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _predict(export, *args):
    proc = subprocess.run(
        [str(BIN / "toolkit"), "predict", str(export), "--json", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_hugging_face_parquet_layout(reviews, tmp_path):
    folder = write_hf_parquet(reviews, tmp_path / "imdb hf")  # a path with a space
    proc = _run(folder, tmp_path, "hf")
    assert "columns: text 'text', label 'label' (found by name" in proc.stderr  # detected, and logged
    assert "PASS" in proc.stdout and "300/300 labels equal" in proc.stdout
    parity = json.loads((tmp_path / "exports" / "hf" / "onnx" / "parity.json").read_text())
    assert parity["classes"] == ["0", "1"] and parity["passed"]
    config = json.loads((tmp_path / "exports" / "hf" / "config.json").read_text())
    assert config["model"]["classes"] == ["0", "1"]
    predictions = _predict(tmp_path / "exports" / "hf" / "onnx", "a great film", "awful")
    assert len(predictions) == 2 and {p["label"] for p in predictions} <= {"0", "1"}  # the data's class names


def test_kaggle_csv_with_string_labels_and_a_test_fraction(reviews, tmp_path):
    csv = write_kaggle_csv(reviews, tmp_path / "kaggle" / KAGGLE_FILE)
    proc = _run(csv, tmp_path, "kaggle", "--test-fraction", "0.5")
    assert "PASS" in proc.stdout and "300/300 labels equal" in proc.stdout
    metrics = json.loads((tmp_path / "exports" / "kaggle" / "metrics.json").read_text())
    assert metrics["train_reviews"] == 300 and metrics["test"]["reviews"] == 300
    assert set(metrics["test"]["per_class_accuracy"]) == {"negative", "positive"}
    labels = {
        p["label"] for p in _predict(tmp_path / "exports" / "kaggle" / "onnx", "great great great", "awful awful awful")
    }
    assert labels <= {"negative", "positive"}


def test_eight_star_classes_from_json_lines(reviews, tmp_path):
    folder = write_stars_jsonl(reviews, tmp_path / "stars")
    proc = _run(folder, tmp_path, "stars", "--validation-fraction", "0.2")
    assert "PASS" in proc.stdout
    export = tmp_path / "exports" / "stars" / "onnx"
    parity = json.loads((export / "parity.json").read_text())
    classes = ["1", "2", "3", "4", "7", "8", "9", "10"]  # integers: sorted as numbers
    assert parity["classes"] == classes
    fp32 = parity["variants"]["fp32"]
    assert fp32["label_agreement"] == 1.0 and fp32["reviews"] == 300
    metrics = json.loads((tmp_path / "exports" / "stars" / "metrics.json").read_text())
    assert "val_accuracy" in metrics["epochs"][0] and metrics["validation_reviews"] == 60
    [top] = _predict(export, "--top-k", "3", "One of the best films I have seen.")
    assert top["label"] in classes and [t["label"] for t in top["top"]][0] == top["label"] and len(top["top"]) == 3
    # evaluate re-reads the run's data (its split and classes) from config.json
    evaluated = subprocess.run(
        [str(BIN / "toolkit"), "evaluate", str(tmp_path / "exports" / "stars"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    figures = json.loads(evaluated.stdout)
    assert figures["accuracy"] == metrics["test"]["accuracy"] and list(figures["per_class_accuracy"]) == classes
    # bench infer times the 8-class export too (its Keras rows and its ONNX rows), on the run's own test rows
    bench = subprocess.run(
        [str(BIN / "toolkit"), "bench", "infer", str(export), "--reviews", "64", "--repeats", "1"]
        + ["--batch-sizes", "1,64", "--max-batches", "2", "--out", str(tmp_path / "bench.json")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bench.returncode == 0, bench.stderr[-2000:]
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert {"keras", "onnx_fp32", "onnx_text"} <= set(figures["backends"])
