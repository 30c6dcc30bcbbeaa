"""TensorFlow.js on the same weights, for ``toolkit bench web --tfjs``: what a Keras user would otherwise
pick for the browser.

The run's Keras model is written in TF.js's Layers format (``model.json``: the Keras topology and a
weights manifest; one little-endian float32 ``.bin``), the format ``tensorflowjs_converter
--input_format keras`` writes: its converter (tensorflowjs 4.22) cannot be installed beside TensorFlow
2.21 (it requires tensorflow-decision-forests, whose every release pins another TensorFlow; the README
says more). ``@tensorflow/tfjs`` and its WASM backend come from npm into the cache. A small page,
served from a temporary folder on loopback, loads the model with ``tf.loadLayersModel`` and is timed
like the toolkit's page: token ids in (TF.js has no tokenizer), batch 1 on the median review and
reviews/s in batches, plus its probabilities against Keras'.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from toolkit.bench.browser import page_call
from toolkit.core.errors import BenchError
from toolkit.edge.text import PAD_ID
from toolkit.web.assets import npm_folder

TFJS_VERSION = "4.22.0"
TFJS_PACKAGES = {"@tensorflow/tfjs": TFJS_VERSION, "@tensorflow/tfjs-backend-wasm": TFJS_VERSION}
TFJS_FILES = {
    "@tensorflow/tfjs/dist/tf.min.js": "tf.min.js",
    "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js": "tf-backend-wasm.min.js",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm": "tfjs-backend-wasm.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm": "tfjs-backend-wasm-simd.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm": "tfjs-backend-wasm-threaded-simd.wasm",
}
WEIGHTS_FILE = "group1-shard1of1.bin"
MAX_DIFF = 1e-4  # TF.js' probabilities against Keras': a wrong conversion is an error, not a figure
PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>TF.js</title>
<script src="tf.min.js"></script><script src="tf-backend-wasm.min.js"></script><script src="bench.js"></script>"""
BENCH_JS = """
let model;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
async function predict(rows) {
  const x = tf.tensor2d(rows.flat(), [rows.length, rows[0].length], 'int32');
  const y = model.predict(x);
  const p = Array.from(await y.data());
  tf.dispose([x, y]);
  return p;
}
window.tfjsBench = {
  ready: (async () => {
    tf.wasm.setWasmPaths(new URL('./', location.href).href);
    await tf.setBackend('wasm');
    await tf.ready();
    model = await tf.loadLayersModel('model.json');
    return { backend: tf.getBackend(), version: tf.version.tfjs };
  })(),
  predict: async (batches) => { const out = []; for (const b of batches) out.push(...await predict(b)); return out; },
  keystrokes: async (row, warmup, n) => {
    const ms = [];
    for (let i = 0; i < warmup + n; i++) {
      await tick(); // outside the timing: a busy main thread would starve the driver
      const t0 = performance.now();
      await predict([row]);
      ms.push(performance.now() - t0);
    }
    return ms.slice(warmup);
  },
  time: async (batches) => {
    let total = 0;
    for (const b of batches) {
      await tick();
      const t0 = performance.now();
      await predict(b);
      total += performance.now() - t0;
    }
    return total;
  },
};
"""


def layers_model(model, folder: Path) -> None:
    """Write ``model`` (tf_keras) as a TF.js Layers model into ``folder``: ``model.json`` and the weights."""
    topology = json.loads(model.to_json())
    weights = [(w.name.split(":")[0], np.asarray(w.numpy(), dtype="<f4")) for w in model.weights]
    (folder / WEIGHTS_FILE).write_bytes(b"".join(a.tobytes() for _, a in weights))
    manifest = [{"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in weights]
    config = {"class_name": topology["class_name"], "config": topology["config"]}
    doc = {
        "format": "layers-model",
        "generatedBy": f"keras v{topology['keras_version']}",
        "convertedBy": "toolkit bench web",
        "modelTopology": {
            "keras_version": topology["keras_version"],
            "backend": topology["backend"],
            "model_config": config,
        },
        "weightsManifest": [{"paths": [WEIGHTS_FILE], "weights": manifest}],
    }
    (folder / "model.json").write_text(json.dumps(doc), encoding="utf-8")


def batches_of(tokens: np.ndarray, batch: int, variable_length: bool) -> list[list[list[int]]]:
    """Pre-padded id rows in batches of ``batch``: each batch cut to its longest row (a masked model), or
    the full width (the tutorial's fixed-length model)."""
    out = []
    for start in range(0, len(tokens), batch):
        rows = tokens[start : start + batch]
        if variable_length:
            used = np.flatnonzero((rows != PAD_ID).any(axis=0))
            rows = rows[:, used[0] :] if len(used) else rows[:, -1:]
        out.append(rows.astype(int).tolist())
    return out


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


@contextmanager
def _static_site(folder: Path):
    """``folder`` served on a free loopback port (a thread): its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def bench_tfjs(driver, run, vocabulary, median: str, texts: list[str], cfg, warmup: int) -> tuple[dict, list[float]]:
    """The TF.js row (reviews/s over ``texts``, max |Δp| against Keras) and its batch-1 milliseconds on
    ``median`` after ``warmup`` untimed ones (as many as the page gets: V8 optimises hot WASM late)."""
    from toolkit.model.lstm import load_run_model  # TensorFlow: only for --tfjs

    home = npm_folder(f"tfjs-{TFJS_VERSION}", TFJS_PACKAGES, instead="leave out --tfjs")
    model = load_run_model(run)
    variable_length = model.inputs[0].shape[1] is None
    folder = Path(tempfile.mkdtemp(prefix="toolkit-tfjs-"))
    try:
        for source, name in TFJS_FILES.items():
            if not (home / "node_modules" / source).is_file():
                raise BenchError(f"{home} has no {source}: remove that folder and run again (npm installs it)")
            shutil.copy(home / "node_modules" / source, folder / name)
        (folder / "index.html").write_text(PAGE, encoding="utf-8")
        (folder / "bench.js").write_text(BENCH_JS, encoding="utf-8")
        layers_model(model, folder)
        tokens = vocabulary.encode(texts)
        keras = model.predict(tokens, batch_size=64, verbose=0).reshape(len(texts), -1)
        row = batches_of(vocabulary.encode([median]), 1, variable_length)[0][0]
        with _static_site(folder) as url:
            driver.get(url)
            info = page_call(driver, "window.tfjsBench.ready")
            got = page_call(driver, "window.tfjsBench.predict(args[0])", batches_of(tokens, 64, variable_length))
            gap = float(np.abs(np.array(got).reshape(keras.shape) - keras).max())
            if not gap <= MAX_DIFF:
                raise BenchError(
                    f"TF.js gave probabilities up to {gap:.3g} from Keras' (more than {MAX_DIFF}): not timed"
                )
            js = "window.tfjsBench.keystrokes(args[0], args[1], args[2])"
            ms = page_call(driver, js, row, warmup, cfg.keystrokes)
            rates = {}
            for batch in cfg.batch_sizes:
                rows = batches_of(tokens, batch, variable_length)
                passes = [page_call(driver, "window.tfjsBench.time(args[0])", rows) for _ in range(cfg.repeats)]
                rates[str(batch)] = round(len(texts) / (float(np.median(passes)) / 1e3), 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    shape = "masked, each batch cut to its longest review" if variable_length else "fixed length"
    row = {
        "model": f"TF.js {info['version']} Layers model ({shape})",
        "backend": info["backend"],
        "input": "token ids from Python (TF.js has no tokenizer)",
        "threads": 1,
        "reviews_per_second": rates,
        "max_abs_diff_vs_keras": gap,
    }
    return row, ms
