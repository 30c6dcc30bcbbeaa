"""``toolkit web``: what it serves (and refuses), with which headers, and how it starts and stops.
A real server on a free loopback port, hand-built exports and a folder of onnxruntime-web's file names
(the browser tests in tests/clients/test_web.py use the real files from npm)."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FP32, error_line, run_cli
from toolkit.web.assets import ORT_FILES, ort_web_version
from toolkit.web.server import CSP

WASM = b"\x00asm\x01\x00\x00\x00"


@pytest.fixture
def ort(tmp_path) -> Path:
    """A folder laid out like onnxruntime-web's dist/ (its package.json one level up), tiny files."""
    dist = tmp_path / "ort" / "node_modules" / "onnxruntime-web" / "dist"
    dist.mkdir(parents=True)
    (dist.parent / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": ort_web_version()}))
    for name in ORT_FILES:
        (dist / name).write_bytes(WASM if name.endswith(".wasm") else b"export {};\n")
    (dist / "ort.all.mjs").write_bytes(b"// not served\n")
    return tmp_path / "ort"


def _start(export: Path, *extra: str, env=None):
    args = [sys.executable, "-m", "toolkit", "web", str(export), "--port", "0", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert "serving" in line, (line, proc.communicate(timeout=30))
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    return proc, port, line


def _get(port: int, path: str, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)  # sent as given: no normalisation of '..'
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def _stop(proc) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_it_serves_the_page_the_export_and_onnxruntime_web_with_their_types(export, ort):
    proc, port, line = _start(export, "--ort", str(ort))
    try:
        assert line.startswith(f"toolkit web: serving {export} at http://127.0.0.1:{port}/") and "Ctrl-C" in line
        cases = {
            "/": "text/html; charset=utf-8",
            "/index.html?model=int8": "text/html; charset=utf-8",
            "/app.js": "text/javascript; charset=utf-8",
            "/ort/ort.wasm.min.mjs": "text/javascript; charset=utf-8",
            "/ort/ort-wasm-simd-threaded.wasm": "application/wasm",
            "/export/model.onnx": "application/octet-stream",
            "/export/model.text.onnx": "application/octet-stream",
            "/export/vocab.json": "application/json",
        }
        for path, mime in cases.items():
            status, headers, body = _get(port, path)
            assert (status, headers["Content-Type"]) == (200, mime), path
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["Content-Security-Policy"] == CSP
            assert "Cross-Origin-Embedder-Policy" not in headers
            assert int(headers["Content-Length"]) == len(body) > 0
        assert _get(port, "/export/model.onnx")[2] == (export / FP32).read_bytes()
        assert _get(port, "/ort/ort-wasm-simd-threaded.wasm")[2] == WASM
        status, headers, body = _get(port, "/export/model.onnx", "HEAD")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) == (export / FP32).stat().st_size
        assert _get(port, "/export/model.onnx", "POST")[:2][0] == 405
    finally:
        code, out, err = _stop(proc)
    assert code == 0 and out.strip().splitlines()[-1] == "toolkit web: stopped", (code, out, err)
    assert "Traceback" not in err


def test_it_refuses_paths_out_of_its_folders_and_files_it_does_not_serve(export, ort, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    (export / "notes.txt").write_text("beside the export, not part of it")
    (export / "README.md").symlink_to(secret)  # a link out of the export, under a name it serves
    (export / "parity.json").symlink_to(export / "notes.txt")  # a link to a file of the folder it does not serve
    proc, port, _ = _start(export, "--ort", str(ort))
    try:
        refused = [
            "/export/../secret.txt",
            "/export/%2e%2e/secret.txt",
            "/export/%2E%2E%2Fsecret.txt",
            "/../../../../etc/passwd",
            "/export/..%5csecret.txt",
            "/export/./model.onnx",
            "/export/model.onnx%00.html",
            "/export/README.md",  # the link out
            "/export/parity.json",  # the link to a file not served
            "/export//model.onnx",
            "/export/%ff",
        ]
        for path in refused:
            assert _get(port, path)[0] == 403, path
        missing = [
            "/export/notes.txt",
            "/ort/ort.all.mjs",
            "/export/",
            "/package.json",
            "/nowhere/app.js",
            "/favicon.ico",
        ]
        for path in missing:
            assert _get(port, path)[0] == 404, path
        assert _get(port, "/export/model.onnx")[0] == 200  # still serving
    finally:
        code, out, err = _stop(proc)
    assert code == 0
    assert "refused GET /export/../secret.txt: outside the served folders" in err
    assert "not for the browser" not in out + err and "beside the export" not in out + err


def test_isolate_sends_the_cross_origin_isolation_headers(export, ort):
    proc, port, line = _start(export, "--ort", str(ort), "--isolate")
    try:
        assert "cross-origin isolated" in line
        _, headers, _ = _get(port, "/ort/ort-wasm-simd-threaded.wasm")
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    finally:
        _stop(proc)


def test_sigterm_stops_it_cleanly(export, ort):
    proc, port, _ = _start(export, "--ort", str(ort))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "toolkit web: stopped" in out and "Traceback" not in err


def test_another_host_is_served_with_a_warning(export, ort):
    args = [sys.executable, "-m", "toolkit", "web", str(export), "--port", "0", "--host", "0.0.0.0", "--ort", str(ort)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "at http://0.0.0.0:" in line
    code, _, err = _stop(proc)
    assert code == 0 and "warning: serving on 0.0.0.0, not loopback" in err


def test_bad_exports_ports_and_onnxruntime_folders_are_one_line_errors(export, ort, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / FP32).write_bytes(b"not onnx")
    try:
        cases = [
            ((str(tmp_path / "nowhere"), "--ort", str(ort)), "does not exist"),
            ((str(broken), "--ort", str(ort)), "has no vocab.json"),
            ((str(export), "--ort", str(tmp_path / "empty")), "has no ort.wasm.min.mjs"),
            ((str(export), "--ort", str(ort), "--port", str(port)), f"port {port} on 127.0.0.1 is in use"),
            ((str(export), "--ort", str(ort), "--port", "70000"), "--port"),
            ((str(export), "--ort", str(ort), "--host", "no-such-host.invalid", "--port", "0"), "no-such-host.invalid"),
        ]
        for args, fragment in cases:
            proc = run_cli("web", *args)
            assert proc.returncode in (1, 2) and proc.stdout == "", (args, proc.stdout, proc.stderr)
            assert fragment in error_line(proc), (args, proc.stderr)
    finally:
        busy.close()


def test_a_wrong_onnxruntime_web_version_is_refused(export, ort):
    package = ort / "node_modules" / "onnxruntime-web" / "package.json"
    package.write_text(json.dumps({"version": "1.0.0"}))
    proc = run_cli("web", str(export), "--ort", str(ort))
    assert proc.returncode == 1
    assert f"holds onnxruntime-web 1.0.0, not {ort_web_version()}" in error_line(proc)


def test_without_npm_and_without_ort_it_says_what_to_do(export, tmp_path):
    bin_dir = tmp_path / "bin"  # python only on PATH: no npm
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    proc = run_cli("web", str(export), env_extra={"PATH": str(bin_dir)})
    assert proc.returncode == 1
    line = error_line(proc)
    assert "npm is not found" in line and "--ort DIR" in line
    cache = Path(os.environ["TOOLKIT_CACHE"]) / "web"
    assert not any(cache.glob("*")) if cache.exists() else True  # nothing half-installed


def test_help_names_the_flags():
    proc = run_cli("web", "--help")
    assert proc.returncode == 0
    for flag in ("--host", "--port", "--isolate", "--ort"):
        assert flag in proc.stdout
