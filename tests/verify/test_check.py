"""verify.check on a small model trained on real reviews: parity on every test review, its reports, and
a tampered weight caught."""

import json
import shutil
import subprocess

import numpy as np
import onnx
import pytest

from tests.helpers import BIN

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


def test_verify_passes_on_every_test_review_and_writes_reports(exported, tmp_path):
    from toolkit.verify.check import verify_export

    folder = tmp_path / "export"  # a copy: the session's export stays as the export wrote it
    shutil.copytree(exported.path, folder)
    card = (folder / "README.md").read_bytes()
    report = verify_export(folder)
    fp32, int8 = report["variants"]["fp32"], report["variants"]["int8"]
    assert report["passed"] and report["reviews"] == 1000
    assert fp32["labels_equal"] == 1000 and fp32["max_abs_diff"] <= 1e-5 and fp32["flipped"] == []
    assert fp32["keras_accuracy"] == fp32["onnx_accuracy"]
    assert int8["keras_accuracy"] - int8["onnx_accuracy"] <= 0.005 and int8["passed"]
    text, text_int8 = report["variants"]["text"], report["variants"]["text-int8"]
    assert text["passed"] and text["labels_equal"] == 1000 and text["max_abs_diff"] <= 1e-5
    assert text_int8["passed"] and text_int8["label_agreement"] >= 0.99
    pre = report["text_preprocessing"]
    assert (
        pre["passed"] and pre["reviews"] == pre["equal"] == 50_000
    )  # every review of both splits, whatever the subset
    assert pre["hard_strings"]["equal"] == pre["hard_strings"]["total"] >= 20
    saved = json.loads((folder / "parity.json").read_text())
    assert saved["variants"]["fp32"]["labels_equal"] == 1000
    assert "| fp32 |" in (folder / "parity.md").read_text()
    assert saved["keras_device"] == "/CPU:0" and "computed on /CPU:0" in (folder / "parity.md").read_text()
    assert (folder / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1,000 / 1,000" in (folder / "parity.md").read_text()
    assert (folder / "README.md").read_bytes() == card and b"parity.md" in card  # verify writes its own files


def test_tampering_with_one_weight_fails_verification(exported, tmp_path):
    from onnx import numpy_helper

    from toolkit.verify.check import verify_export

    tampered = tmp_path / "tampered"
    shutil.copytree(exported.path, tampered)
    for derived in ("model.int8.onnx", "model.text.onnx", "model.text.int8.onnx"):
        (tampered / derived).unlink()  # fp32 parity alone (the derived files would now fail their checksums)
    model = onnx.load(str(tampered / "model.onnx"))
    initializers = {i.name: i for i in model.graph.initializer}
    dense = next(n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers)
    init = initializers[dense.input[1]]  # the output layer's [100, 1] weights
    w = numpy_helper.to_array(init).copy()
    i = int(np.abs(w).argmax())
    w.flat[i] = -w.flat[i]  # one weight: flip the sign of the largest
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(tampered / "model.onnx"))
    report = verify_export(tampered)
    assert not report["passed"] and not report["variants"]["fp32"]["passed"]
    assert report["variants"]["fp32"]["max_abs_diff"] > 1e-5
    proc = subprocess.run([str(BIN / "toolkit"), "verify", str(tampered)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "Traceback" not in proc.stderr
