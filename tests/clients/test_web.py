"""The web page (toolkit/clients/web, onnxruntime-web from npm) in a real headless Chromium (Debian's
chromium and chromium-driver, through Selenium), served by ``toolkit web``: reviews typed into the page
get Python's probabilities, the page works offline once loaded, and it checks what it loads.

Outside CI the tests skip when Chromium, ChromeDriver or npm is missing (the README says how to install
them); under CI=true they fail instead. onnxruntime-web: the ``ort_web`` fixture (tests/conftest.py)."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REVERSED, TEXT, edit_props, ids_model, k_class_export
from tests.helpers import missing_tool as _missing
from toolkit.bench.browser import INSTALL_HINT, chromium, find_browser, open_page, page_call, web_server
from toolkit.edge.contract import ONNX_FILE, TEXT_FILES, VOCAB_FILE
from toolkit.edge.predict import Classifier
from toolkit.edge.text import Vocabulary

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

TRICKY = [
    "<br />Great<BR/>film<br\t/>awful<bR >",
    "don't 90's rock'n'roll 'quoted' o''clock",
    "İstanbul \u212aelvin GREAT café naïve",
    "great\u2028awful\x1cfilm\u3000great",
    "<br\u3000/>great <br\x85>awful",
    "__proto__ constructor toString hasOwnProperty great",
    "🎬 great 🎬 awful",
    "a" * 3000 + " great",
]


@pytest.fixture(scope="module")
def browser():
    if find_browser() is None:
        _missing(f"no Chromium and ChromeDriver found: install them ({INSTALL_HINT})")
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def real_texts(real_tarball):
    """200 real test reviews, every 125th."""
    from toolkit.config import DataConfig
    from toolkit.data.sources import raw_reviews

    return list(raw_reviews(DataConfig(path=str(real_tarball)))["test"].values())[::125]


def _copy(export: Path, folder: Path, drop=()) -> Path:
    shutil.copytree(export, folder)
    for name in drop:
        (folder / name).unlink()
    return folder


def _state(driver) -> dict:
    return driver.execute_script(
        "const r = document.getElementById('result'), box = document.getElementById('review');"
        "return {shown: r.shownText === box.value, seq: Number(r.dataset.seq || 0), label: r.dataset.label,"
        " probability: r.dataset.probability, status: document.getElementById('status').textContent,"
        " error: document.getElementById('error').textContent};"
    )


def type_review(driver, text: str, keys: bool = False) -> dict:
    """Put ``text`` into the review box (``keys``: real keystrokes, else its value and one input event)
    and wait for the page to show its result: ``{label, probability, ...}`` read from the page."""
    box = driver.find_element("id", "review")
    before = _state(driver)["seq"]
    if keys:
        box.clear()
        box.send_keys(text)
    else:
        driver.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
            box,
            text,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _state(driver)
        if state["error"]:
            raise AssertionError(state["error"])
        if state["seq"] > before and state["shown"]:
            return {**state, "probability": json.loads(state["probability"])}
        time.sleep(0.01)
    raise AssertionError(f"the page showed no result for {text[:40]!r}: {_state(driver)}")


def _wait_for_status(driver, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in _state(driver)["status"]:
        assert time.monotonic() < deadline, _state(driver)
        time.sleep(0.05)


def _classify_by_typing(driver, texts) -> tuple[list, np.ndarray]:
    results = [type_review(driver, t) for t in texts]
    return [r["label"] for r in results], np.array([r["probability"] for r in results], dtype=np.float64)


def test_typed_reviews_get_pythons_probabilities_fp32_and_int8(browser, ort_web, exported, real_texts):
    """200 real reviews typed into the page: within 1e-6 of Classifier (text fp32) with the same labels;
    text int8: the same labels on at least 99 % (the two int8 kernels, WASM's and x86's, round apart)."""
    export = exported.path
    fp32, int8 = Classifier.load(export, "text"), Classifier.load(export, "text-int8")
    with web_server(export, "--ort", str(ort_web)) as (url, _):
        info = open_page(browser, url + "?debounce=0")
        assert info["model"] == "text" and info["variants"] == {"fp32": "text", "int8": "text-int8"}
        assert info["sealed"] and info["threads"] == 1
        labels, got = _classify_by_typing(browser, real_texts)
        want = fp32.probabilities(real_texts)
        assert len(got) == 200 and np.abs(got - want).max() <= 1e-6, np.abs(got - want).max()
        assert labels == [p.label for p in fp32.predict(real_texts)]

        fp32_got = got
        browser.find_element("id", "variant").send_keys("int8")  # the select, by keyboard
        _wait_for_status(browser, "model.text.int8.onnx: ready")
        labels, got = _classify_by_typing(browser, real_texts)
        want = int8.probabilities(real_texts)
        same = np.mean(np.array(labels) == np.array([p.label for p in int8.predict(real_texts)]))
        assert same >= 0.99, (same, np.abs(got - want).max())
        assert 0 < np.abs(got - fp32_got).max() and np.abs(got - want).max() <= 0.05  # int8's own figures


def test_real_keystrokes_classify_as_you_type_and_it_works_offline(browser, ort_web, exported, real_texts):
    export = exported.path
    fp32 = Classifier.load(export, "text")
    with web_server(export, "--ort", str(ort_web)) as (url, proc):
        open_page(browser, url)
        for text in ("A wonderful, moving film.", "Dull. Awful acting, far too long.", real_texts[0][:600]):
            shown = type_review(browser, text, keys=True)
            assert abs(shown["probability"] - float(fp32.probabilities([text])[0])) <= 1e-6
            assert shown["label"] == fp32.predict([text])[0].label
        visible = browser.execute_script(
            "return [...document.querySelectorAll('#label, #probability, #latency')].map((e) => e.textContent)"
        )
        assert visible[0] in ("negative", "positive") and visible[1].startswith("positive: ") and "ms" in visible[2]
        resources = "return performance.getEntriesByType('resource').map((e) => e.name.split('/').pop())"
        deadline = time.monotonic() + 60  # the other model, fetched in the background after the first
        while "model.text.int8.onnx" not in browser.execute_script(resources):
            assert time.monotonic() < deadline, browser.execute_script(resources)
            time.sleep(0.05)
        fetched = len(browser.execute_script(resources))
        proc.send_signal(signal.SIGINT)  # the server is gone: the page has everything it needs
        proc.wait(timeout=30)
        for text in real_texts[1:4]:
            shown = type_review(browser, text)
            assert abs(shown["probability"] - float(fp32.probabilities([text])[0])) <= 1e-6
        browser.find_element("id", "variant").send_keys("int8")  # switching works offline too
        _wait_for_status(browser, "model.text.int8.onnx: ready")
        int8 = Classifier.load(export, "text-int8")
        shown = type_review(browser, real_texts[5])
        assert shown["label"] == int8.predict([real_texts[5]])[0].label
        assert len(browser.execute_script(resources)) == fetched


def test_without_a_text_model_the_page_tokenizes_in_javascript(browser, ort_web, exported, real_texts, tmp_path):
    """The ids models and vocab.json: the page's tokenizer gives text.py's ids (every one, for 200 real
    reviews and the odd cases) and the probabilities Classifier gives."""
    export = _copy(exported.path, tmp_path / "ids", drop=TEXT_FILES.values())
    vocab = Vocabulary.load(export / VOCAB_FILE)
    texts = [*real_texts, *TRICKY]
    with web_server(export, "--ort", str(ort_web)) as (url, _):
        info = open_page(browser, url)
        assert info["variants"] == {"fp32": "fp32", "int8": "int8"}
        assert page_call(browser, "window.toolkitWeb.encode(args[0])", texts) == [
            vocab.ids(t)[-vocab.maxlen :] for t in texts
        ]
        got = np.array(page_call(browser, "window.toolkitWeb.classify(args[0])", texts))
        assert np.abs(got - Classifier.load(export, "fp32").probabilities(texts)).max() <= 1e-6
        shown = type_review(browser, real_texts[5])
        assert shown["label"] == Classifier.load(export, "fp32").predict([real_texts[5]])[0].label


def test_the_javascript_tokenizer_reads_version_1_vocabularies_too(browser, ort_web, export, tmp_path):
    v2 = Vocabulary.load(export / VOCAB_FILE)
    v1 = Vocabulary(("great", "awful", "kelvin", "br", "i"), v2.num_words, 40, tokenizer_version=1)
    folder = tmp_path / "v1"
    folder.mkdir()
    v1.save(folder / VOCAB_FILE)
    import onnx

    onnx.save(ids_model(v1), str(folder / ONNX_FILE))
    with web_server(folder, "--ort", str(ort_web)) as (url, _):
        open_page(browser, url)
        assert page_call(browser, "window.toolkitWeb.encode(args[0])", TRICKY) == [
            v1.ids(t)[-v1.maxlen :] for t in TRICKY
        ]


def test_more_than_two_classes_show_the_top_classes(browser, ort_web, tmp_path):
    export = k_class_export(tmp_path / "k", k=4)
    texts = ["a great great film", "an awful film", "film"]
    classifier = Classifier.load(export, "text")
    with web_server(export, "--ort", str(ort_web)) as (url, _):
        open_page(browser, url)
        for text, p in zip(texts, classifier.predict(texts, top_k=4)):
            shown = type_review(browser, text)
            assert shown["label"] == p.label
            assert np.allclose(shown["probability"], classifier.probabilities([text])[0], atol=1e-6)
            items = browser.execute_script("return [...document.querySelectorAll('#top li')].map((e) => e.textContent)")
            assert [i.split(":")[0] for i in items] == [name for name, _ in p.top[:4]]


def test_the_page_refuses_a_model_edited_after_the_server_checked_it(browser, ort_web, export):
    with web_server(export, "--ort", str(ort_web)) as (url, _):
        edit_props(export / TEXT, {"labels": REVERSED}, seal=False)
        browser.get(url)
        deadline = time.monotonic() + 60
        while not _state(browser)["error"] and time.monotonic() < deadline:
            time.sleep(0.05)
        error = _state(browser)["error"]
        assert error.startswith("error: model.text.onnx: its metadata does not match its checksum"), error
        assert browser.find_element("id", "review").get_attribute("disabled") == "true"
        assert browser.find_element("id", "error").get_attribute("role") == "alert"
        assert browser.find_element("id", "error").is_displayed()

        browser.get(url + "?ort=https://example.invalid/")  # a link must not load another site's script
        deadline = time.monotonic() + 60
        while not _state(browser)["error"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "the ort parameter must name a folder of this site" in _state(browser)["error"]


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_keyboard_labels_and_contrast(browser, ort_web, exported):
    """Every control has a label, Tab reaches the model choice and then the review box, the result is
    announced (aria-live), and text contrast is at least 4.5:1 (WCAG AA)."""
    with web_server(exported.path, "--ort", str(ort_web)) as (url, _):
        open_page(browser, url)
        labels = browser.execute_script(
            "return [...document.querySelectorAll('select, textarea')].map((e) => e.labels.length)"
        )
        assert labels == [1, 1]
        browser.execute_script("document.activeElement.blur(); document.body.focus()")
        order = []
        for _ in range(2):
            browser.switch_to.active_element.send_keys("\ue004")  # Tab
            order.append(browser.switch_to.active_element.get_attribute("id"))
        assert order == ["variant", "review"]
        assert browser.find_element("id", "result").get_attribute("aria-live") == "polite"
        type_review(browser, "A wonderful film.", keys=True)
        for element in ("label", "probability", "latency", "status", "model-info"):
            color, background = browser.execute_script(
                "const s = getComputedStyle(document.getElementById(arguments[0]));"
                "return [s.color, getComputedStyle(document.body).backgroundColor];",
                element,
            )
            lighter, darker = sorted((_luminance(color), _luminance(background)), reverse=True)
            assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (element, color, background)


def test_isolated_pages_run_wasm_on_threads_and_the_cache_installs_onnxruntime_web(browser, exported, real_texts):
    """Without --ort: onnxruntime-web installed with npm into the cache (once); with --isolate and
    ?threads=2 the page is cross-origin isolated and runs two WASM threads, with the same results."""
    export = exported.path
    if shutil.which("npm") is None:
        _missing("npm is not installed (apt install npm)")
    with web_server(export, "--isolate") as (url, _):
        info = open_page(browser, url + "?threads=2")
        assert info["isolated"] is True and info["threads"] == 2
        got = np.array(page_call(browser, "window.toolkitWeb.classify(args[0])", real_texts[:20]))
        assert np.abs(got - Classifier.load(export, "text").probabilities(real_texts[:20])).max() <= 1e-6
    cached = Path(os.environ["TOOLKIT_CACHE"]) / "web"
    assert [p.name for p in cached.iterdir()] == ["onnxruntime-web-1.30.0"]
