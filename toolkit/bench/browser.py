"""Headless Chromium driven from Python: Debian's ``chromium`` and ``chromium-driver`` through Selenium
(no browser download), and ``toolkit web`` started on a free loopback port. Used by ``toolkit bench
web`` and the browser tests.

Chromium starts with a fresh profile and without its background networking (on a machine with no
internet it would try, and fail, to reach Google's hosts at every start). Time in the page is real:
``--virtual-time-budget`` would freeze ``performance.now()``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from toolkit.core.errors import BenchError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
INSTALL_HINT = "apt install chromium chromium-driver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root in a container, Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=900,700",
    "--js-flags=--expose-gc",  # bench web: a garbage collection before each keystroke, on request
)
URL_LINE = re.compile(r"at (http://\S+/)")


def find_browser() -> Optional[tuple[str, str]]:
    """``(chromium, chromedriver)`` paths, or None when either is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = next((p for p in map(shutil.which, DRIVER_NAMES) if p), None)
    return (browser, driver) if browser and driver else None


@contextmanager
def chromium() -> Iterator:
    """A Selenium WebDriver on headless Chromium, quit afterwards."""
    found = find_browser()
    if found is None:
        raise BenchError(f"no Chromium and ChromeDriver found: install them ({INSTALL_HINT})")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BenchError("the browser needs the selenium package: pip install -e '.[browser]'") from None
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="toolkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as exc:  # selenium's SessionNotCreatedException and friends
        shutil.rmtree(profile, ignore_errors=True)
        raise BenchError(f"headless Chromium did not start ({str(exc).strip().splitlines()[0]})") from None
    try:
        driver.set_script_timeout(600)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def web_server(export: Path, *extra: str, env: Optional[dict] = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``toolkit web EXPORT --port 0 [extra]`` in a child process: ``(its URL, the process)``, stopped
    (SIGINT, as Ctrl-C) afterwards."""
    args = [sys.executable, "-m", "toolkit", "web", str(export), "--port", "0", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()  # the URL line, after the export's checks (and an npm install)
        found = URL_LINE.search(line)
        if not found:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            raise BenchError(f"toolkit web did not start: {(err.strip().splitlines() or [line.strip()])[-1]}")
        yield found[1], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def open_page(driver, url: str, timeout_s: float = 120) -> dict:
    """Load the page at ``url`` and wait until its model is ready: the page's info (``toolkitWeb.ready``)."""
    try:
        driver.get(url)
    except Exception as exc:  # as in page_call
        raise BenchError(f"Chromium could not load {url} ({type(exc).__name__})") from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "return window.toolkitWeb ? 'loaded' : (document.getElementById('status') || {}).textContent || ''"
        )
        if state == "loaded":
            break
        time.sleep(0.05)
    else:
        raise BenchError(f"the page at {url} did not load in {timeout_s:.0f} s")
    return page_call(driver, "window.toolkitWeb.ready")


def page_call(driver, expression: str, *args):
    """Await ``expression`` (JavaScript using ``args[0]``, ...) in the page; its value, or a BenchError
    (also when Chromium itself fails: a crash, the script timeout)."""
    try:
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; const args = Array.from(arguments).slice(0, -1);"
            f"Promise.resolve().then(() => {expression}).then((value) => done({{value}}),"
            " (err) => done({error: String(err && err.message || err)}));",
            *args,
        )
    except Exception as exc:  # selenium's WebDriverException and its kin: one line, not its stack
        raise BenchError(
            f"Chromium failed ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
        ) from None
    if "error" in result:
        raise BenchError(f"the page failed: {result['error']}")
    return result["value"]
