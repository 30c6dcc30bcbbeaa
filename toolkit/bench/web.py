"""``toolkit bench web EXPORT``: the web page's speed in headless Chromium against native onnxruntime
on the same reviews, in the same run.

Per keystroke: the page's ``update`` (classify the whole text and show it: what one keystroke costs
once the debounce fires) on the median-length test review, timed in the page with
``performance.now()`` (Chromium's timer steps by 0.1 ms), p50 and p95 of ``keystrokes`` runs after the
page's own warm-up (it classifies a sample review 400 times after loading) and ``WARMUP`` more; the
``text_fp32_cold`` row, in a browser of its own, is the first ``keystrokes`` after a load without any.
Reviews/s: ``reviews`` real test reviews at each batch size, the median of ``repeats`` passes.
Native: onnxruntime's ``run`` on the same review and reviews, one intra-op thread (the page's WASM
runs one unless cross-origin isolated). Rows beyond the defaults say where the page's time goes:
onnxruntime's graph optimisation off, the ids model with the page's JavaScript tokenizer (the in-graph
tokenizer's cost), a garbage collection before every keystroke (whether the p95 tail is the GC), and
more WASM threads (``threads``, served cross-origin isolated).
"""

from __future__ import annotations

import statistics
import struct
import time
import zlib
from pathlib import Path

import numpy as np

from toolkit.artifacts.destinations import PNG_SIGNATURE, PNG_SOFTWARE, check_destination
from toolkit.bench.browser import chromium, open_page, page_call, web_server
from toolkit.bench.figures import machine, write_figures
from toolkit.config import WebBenchConfig
from toolkit.core.errors import BenchError
from toolkit.core.files import atomic_write_files
from toolkit.core.progress import log
from toolkit.data.dataset import raw_texts
from toolkit.edge.contract import IDS_FILES, TEXT_FILES, VOCAB_FILE
from toolkit.edge.sessions import check_export, load_session, run_texts
from toolkit.edge.text import Vocabulary, tokenize
from toolkit.verify.reference import matching_run
from toolkit.web.assets import ort_dir, ort_web_version

WARMUP = 20  # keystrokes before the timed ones
PAGE_WARMUP = 400  # the page's own warm-up after loading (app.js's warmRuns)
NATIVE_VARIANT = {"fp32": "text", "int8": "text-int8"}
SCREENSHOT_TEXT = (
    "One of the best films I have seen this year: the acting is superb, the story moving, and the ending "
    "stayed with me for days."
)
KEYSTROKES_JS = (
    "(async () => { const ms = []; for (let i = 0; i < args[1] + args[2]; i++) {"
    " if (args[3]) window.gc(); ms.push(await window.toolkitWeb.update(args[0])); }"
    " return ms.slice(args[1]); })()"
)
RATES_JS = (
    "(async () => { const out = {}; for (const b of args[1]) { const t = [];"
    " for (let r = 0; r < args[2]; r++) t.push(await window.toolkitWeb.time(args[0], b)); out[b] = t; }"
    " return out; })()"
)


def bench_web(export_dir: str, cfg: WebBenchConfig = WebBenchConfig()) -> dict:
    """Measure the page and native onnxruntime on the export's text models; returns and writes the figures."""
    if cfg.out and cfg.screenshot and Path(cfg.out).resolve() == Path(cfg.screenshot).resolve():
        raise BenchError(f"--out and --screenshot are the same file ({cfg.out}): name two files")
    out_target = check_destination("figures", cfg.out, cfg.overwrite) if cfg.out else None
    shot_target = check_destination("screenshot", cfg.screenshot, cfg.overwrite) if cfg.screenshot else None
    export = Path(export_dir)
    anchor = check_export(export)
    missing = [name for p in cfg.precisions if not (export / (name := TEXT_FILES[NATIVE_VARIANT[p]])).is_file()]
    if missing:
        raise BenchError(f"{export} has no {', '.join(missing)}: export the run again (with --quantize int8 for int8)")
    ort = ort_dir(cfg.ort_dir)  # before any measuring: an npm install, or its error
    run = matching_run(export, anchor, None)
    texts, median = _reviews(run, cfg.reviews)
    report = {
        "benchmark": "web",
        "export": str(export.resolve()),
        "machine": machine(),
        "onnxruntime_web": ort_web_version(),
        "median_review_words": len(median.split()),
        "median_review_tokens": len(tokenize(median)),
        "reviews": len(texts),
        "keystrokes": cfg.keystrokes,
        "native": {},
        "browser": {},
    }
    for precision in cfg.precisions:
        log(f"bench web: native onnxruntime, {precision} ...")
        report["native"][precision] = _native(export / TEXT_FILES[NATIVE_VARIANT[precision]], median, texts, cfg)
    extra = ("--ort", str(ort))
    if "fp32" in cfg.precisions:  # first, in a browser of its own: no WASM code compiled yet
        log("bench web: the page, fp32, the first keystrokes after loading without a warm-up ...")
        with web_server(export, *extra) as (url, _), chromium() as driver:
            query = "?model=fp32&threads=1&debounce=0&warmup=0"
            report["browser"]["text_fp32_cold"] = _page(driver, url + query, median, texts, cfg, False, warmup=0)
    with chromium() as driver:
        report["chromium"] = driver.capabilities.get("browserVersion")
        for threads in cfg.threads:
            isolate = ("--isolate",) if threads > 1 else ()
            with web_server(export, *extra, *isolate) as (url, _):
                for name, query, gc in _rows(cfg, threads, export):
                    log(f"bench web: the page, {name} ...")
                    report["browser"][name] = _page(driver, url + query, median, texts, cfg, gc)
                if cfg.screenshot and threads == cfg.threads[0]:
                    _screenshot(driver, url, cfg.screenshot, shot_target)
        if cfg.tfjs:
            from toolkit.bench.tfjs import bench_tfjs

            log("bench web: TensorFlow.js on the same weights (WASM backend) ...")
            vocabulary = Vocabulary.load(export / VOCAB_FILE)
            row, ms = bench_tfjs(driver, run, vocabulary, median, texts, cfg, PAGE_WARMUP + WARMUP)
            report["browser"]["tfjs_wasm"] = {**row, "keystroke": _percentiles(ms)}
    _ratios(report)
    report["goals"] = _goals(report)
    write_figures(cfg.out, report, out_target)
    return report


def _reviews(run, n: int) -> tuple[list[str], str]:
    """``n`` real test reviews (a seeded pick, as bench infer's) and the test review of median length."""
    test = raw_texts(run.data_config())["test"]
    ids = sorted(test)
    if n > len(ids):
        raise BenchError(f"--reviews {n} is more than the {len(ids):,} test reviews")
    pick = np.sort(np.random.default_rng(0).permutation(len(ids))[:n])
    words = [len(tokenize(test[i])) for i in ids]
    middle = sorted(words)[len(words) // 2]
    median = next(test[i] for i, w in zip(ids, words) if w == middle)
    return [test[ids[i]] for i in pick], median


def _rows(cfg: WebBenchConfig, threads: int, export: Path):
    """``(name, query, gc)`` of each page setting to measure at ``threads``."""
    suffix = f"_{threads}t" if threads > 1 else ""
    for precision in cfg.precisions:
        yield f"text_{precision}{suffix}", f"?model={precision}&threads={threads}&debounce=0", False
    if threads != cfg.threads[0] or "fp32" not in cfg.precisions:
        return
    base = "?model=fp32&threads=1&debounce=0"
    yield "text_fp32_no_graph_optimization", base + "&opt=disabled", False
    yield "text_fp32_gc_before_each", base, True
    if (export / IDS_FILES["fp32"]).is_file():
        yield "ids_fp32_js_tokenizer", base + "&input=ids", False


def _percentiles(ms: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(np.mean(ms)), 3),
    }


def _native(model: Path, median: str, texts: list[str], cfg: WebBenchConfig) -> dict:
    session = load_session(model, threads=1)
    ms = []
    for _ in range(WARMUP + cfg.keystrokes):
        t0 = time.perf_counter()
        run_texts(session, [median])
        ms.append((time.perf_counter() - t0) * 1e3)
    rates = {}
    for batch in cfg.batch_sizes:
        seconds = []
        for _ in range(cfg.repeats):
            t0 = time.perf_counter()
            for start in range(0, len(texts), batch):
                run_texts(session, texts[start : start + batch])
            seconds.append(time.perf_counter() - t0)
        rates[str(batch)] = round(len(texts) / statistics.median(seconds), 1)
    return {"keystroke": _percentiles(ms[WARMUP:]), "reviews_per_second": rates, "threads": 1}


def _page(driver, url: str, median: str, texts, cfg: WebBenchConfig, gc: bool, warmup: int = WARMUP) -> dict:
    info = open_page(driver, url)
    if gc and not driver.execute_script("return typeof window.gc === 'function'"):
        raise BenchError("Chromium did not expose gc() (--js-flags=--expose-gc)")
    ms = page_call(driver, KEYSTROKES_JS, median, warmup, cfg.keystrokes, gc)
    passes = page_call(driver, RATES_JS, texts, list(cfg.batch_sizes), cfg.repeats)
    rates = {str(b): round(len(texts) / (statistics.median(t) / 1e3), 1) for b, t in passes.items()}
    return {
        "model": info["model"],
        "threads": info["threads"],
        "isolated": info["isolated"],
        "graph_optimization": info["optimization"],
        "page_warmup_runs": info["warmup"],
        "gc_before_each": gc,
        "keystroke": _percentiles(ms),
        "reviews_per_second": rates,
    }


def _ratios(report: dict) -> None:
    for name, row in report["browser"].items():
        precision = "int8" if "int8" in name else "fp32"
        native = report["native"].get(precision)
        if native:
            row["p50_to_native"] = round(row["keystroke"]["p50_ms"] / native["keystroke"]["p50_ms"], 2)


def _goals(report: dict) -> dict:
    """The issue's goals, judged on this run: p50 within 2x native, p95 at most 2 ms, int8 no slower."""
    goals = {}
    browser = report["browser"]
    for precision in ("fp32", "int8"):
        row = browser.get(f"text_{precision}")
        if row:
            goals[f"{precision}_p50_within_2x_native"] = row.get("p50_to_native", float("inf")) <= 2
            goals[f"{precision}_p95_at_most_2ms"] = row["keystroke"]["p95_ms"] <= 2
    if "text_fp32" in browser and "text_int8" in browser:
        goals["int8_no_slower_than_fp32"] = (
            browser["text_int8"]["keystroke"]["p50_ms"] <= (browser["text_fp32"]["keystroke"]["p50_ms"])
        )
    return goals


def tag_png(data: bytes) -> bytes:
    """``data`` (a PNG) with a tEXt chunk naming the toolkit after its header: what ``--overwrite`` may replace."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise BenchError("Chromium's screenshot is not a PNG")
    end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4  # signature, IHDR's length + type, data, CRC
    chunk = b"tEXt" + PNG_SOFTWARE
    return data[:end] + struct.pack(">I", len(PNG_SOFTWARE)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[end:]


def _screenshot(driver, url: str, path: str, target) -> None:
    open_page(driver, url)
    page_call(driver, "window.toolkitWeb.choose('fp32')")
    box = driver.find_element("id", "review")
    box.clear()
    box.send_keys(SCREENSHOT_TEXT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.execute_script(
            "return document.getElementById('result').shownText === arguments[0]", SCREENSHOT_TEXT
        ):
            break
        time.sleep(0.05)
    driver.execute_script("document.activeElement.blur()")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(900, height + 200)  # the whole page (the window's frame takes some of it)
    try:
        atomic_write_files({Path(path): tag_png(driver.get_screenshot_as_png())}, {Path(path): target})
    finally:
        driver.set_window_size(900, 700)


def web_table(report: dict) -> str:
    lines = [
        f"the page in headless Chromium {report.get('chromium')} (onnxruntime-web {report['onnxruntime_web']}, "
        "WASM) vs "
        f"native onnxruntime, {report['machine']}; per keystroke: the median review ({report['median_review_tokens']} "
        f"tokens), {report['keystrokes']} times; reviews/s: {report['reviews']} real test reviews",
        f"{'setting':<34} {'p50 ms':>8} {'p95 ms':>8} {'x native':>9} "
        + " ".join(f"{'rev/s@' + b:>10}" for b in next(iter(report["native"].values()))["reviews_per_second"]),
    ]
    rows = [(f"native {p}", r) for p, r in report["native"].items()] + list(report["browser"].items())
    for name, row in rows:
        k = row["keystroke"]
        ratio = f"{row['p50_to_native']:.2f}" if "p50_to_native" in row else "-"
        rates = " ".join(f"{v:>10,.1f}" for v in row["reviews_per_second"].values())
        lines.append(f"{name:<34} {k['p50_ms']:>8.2f} {k['p95_ms']:>8.2f} {ratio:>9} {rates}")
    lines.append("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in report["goals"].items()))
    return "\n".join(lines)
