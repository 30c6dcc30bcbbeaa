"""``toolkit bench web``: a tiny run in headless Chromium on a model trained on real reviews (its figures'
shape, the goals judged, the screenshot), and the checks made before anything is measured."""

import json
import struct
import zlib

import pytest

from tests.helpers import error_line, run_cli
from toolkit.artifacts.destinations import PNG_SIGNATURE, is_toolkit_png
from toolkit.bench.browser import INSTALL_HINT, find_browser


def _chunks(data: bytes):
    """``(type, data)`` of each PNG chunk, every CRC checked."""
    assert data.startswith(PNG_SIGNATURE)
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        yield kind, body
        pos += 12 + length


@pytest.mark.slow
@pytest.mark.xdist_group("browser")
def test_bench_web_measures_the_page_against_native_onnxruntime(exported, ort_web, tmp_path):
    from tests.helpers import missing_tool

    if find_browser() is None:
        missing_tool(f"no Chromium and ChromeDriver found: install them ({INSTALL_HINT})")
    out, shot = tmp_path / "web.json", tmp_path / "page.png"
    args = ["bench", "web", str(exported.path), "--keystrokes", "5", "--reviews", "8", "--batch-sizes", "1,4"]
    args += ["--repeats", "1", "--threads", "1,2", "--ort", str(ort_web), "--out", str(out), "--screenshot", str(shot)]
    args += ["--tfjs"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "web" and report["onnxruntime_web"] == "1.30.0" and report["reviews"] == 8
    assert set(report["native"]) == {"fp32", "int8"}
    expected = {"text_fp32", "text_int8", "text_fp32_2t", "text_int8_2t"}
    expected |= {
        "text_fp32_no_graph_optimization",
        "text_fp32_gc_before_each",
        "ids_fp32_js_tokenizer",
        "text_fp32_cold",
        "tfjs_wasm",
    }
    assert set(report["browser"]) == expected
    for name, row in report["browser"].items():
        k = row["keystroke"]
        assert 0 < k["p50_ms"] <= k["p95_ms"] and set(row["reviews_per_second"]) == {"1", "4"}, name
        native = report["native"]["int8" if "int8" in name else "fp32"]["keystroke"]["p50_ms"]
        assert row["p50_to_native"] == round(k["p50_ms"] / native, 2), name
    tfjs = report["browser"]["tfjs_wasm"]  # the run's weights in TF.js's Layers format: Keras' probabilities
    assert tfjs["backend"] == "wasm" and tfjs["max_abs_diff_vs_keras"] <= 1e-5 and "masked" in tfjs["model"]
    assert report["browser"]["text_fp32_2t"]["threads"] == 2 and report["browser"]["text_fp32_2t"]["isolated"]
    assert report["browser"]["ids_fp32_js_tokenizer"]["model"] == "fp32"
    assert report["browser"]["text_fp32_no_graph_optimization"]["graph_optimization"] == "disabled"
    assert report["browser"]["text_fp32_gc_before_each"]["gc_before_each"] is True
    assert set(report["goals"]) == {
        "fp32_p50_within_2x_native",
        "fp32_p95_at_most_2ms",
        "int8_p50_within_2x_native",
        "int8_p95_at_most_2ms",
        "int8_no_slower_than_fp32",
    }
    fp32 = report["browser"]["text_fp32"]
    assert report["goals"]["fp32_p95_at_most_2ms"] == (fp32["keystroke"]["p95_ms"] <= 2)
    assert "native fp32" in proc.stdout and "goals:" in proc.stdout
    chunks = dict(_chunks(shot.read_bytes()))
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert width >= 600 and height >= 400 and chunks[b"tEXt"] == b"Software\x00toolkit" and is_toolkit_png(shot)
    # again without --overwrite: refused before measuring (the figures, then the screenshot alone); the files stay
    before, inode = shot.read_bytes(), shot.stat().st_ino
    proc = run_cli(*args)
    assert "already exists: pass --overwrite" in error_line(proc) and shot.read_bytes() == before
    small = ["bench", "web", str(exported.path), "--keystrokes", "2", "--reviews", "4", "--batch-sizes", "1"]
    small += ["--repeats", "1", "--precisions", "fp32", "--ort", str(ort_web), "--screenshot", str(shot)]
    proc = run_cli(*small, "--out", str(tmp_path / "other.json"))
    assert f"--screenshot {shot} already exists" in error_line(proc) and shot.read_bytes() == before
    proc = run_cli(*small, "--out", str(out), "--overwrite")  # a toolkit PNG and figures: replaced
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shot.stat().st_ino != inode and is_toolkit_png(shot)  # a new file, renamed into place
    assert set(json.loads(out.read_text())["native"]) == {"fp32"}


def test_bench_web_checks_the_export_and_the_files_before_measuring(export, tmp_path):
    foreign = tmp_path / "photo.png"
    foreign.write_bytes(PNG_SIGNATURE + b"someone else's picture")
    cases = [
        (["--precisions", "fp32,int8"], "has no model.text.int8.onnx"),
        (["--precisions", "fp16"], "expected some of fp32, int8"),
        (["--screenshot", str(foreign), "--overwrite"], "not a writable file written by toolkit"),
        (["--screenshot", str(foreign)], "already exists: pass --overwrite"),
        (["--reviews", "2", "--batch-sizes", "1,64"], "smaller than the largest batch"),
        (["--threads", "2"], "--threads must start with 1"),
        (["--out", str(tmp_path / "x.png"), "--screenshot", str(tmp_path / "x.png")], "are the same file"),
    ]
    for extra, fragment in cases:
        proc = run_cli("bench", "web", str(export), *extra)
        assert fragment in error_line(proc), (extra, proc.stderr)
    assert foreign.read_bytes() == PNG_SIGNATURE + b"someone else's picture"
