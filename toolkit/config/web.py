"""Configs of the web page: ``toolkit web`` (the server) and ``toolkit bench web`` (the page's speed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from toolkit.config._checks import require as _require

LOOPBACK = "127.0.0.1"
WEB_PRECISIONS = ("fp32", "int8")  # the page's choice: the text model of that precision, else the ids model


@dataclass(frozen=True)
class WebConfig:
    """``toolkit web``: where the page is served and with which onnxruntime-web files."""

    host: str = LOOPBACK  # loopback unless asked: the page and the model are for this machine
    port: int = 8000  # 0: any free port (the URL line says which)
    isolate: bool = False  # COOP/COEP headers: a cross-origin isolated page, for multi-threaded WASM
    ort_dir: Optional[str] = None  # onnxruntime-web's dist/ files; None: the cache (npm install on first use)

    def __post_init__(self) -> None:
        _require(0 <= self.port <= 65535, f"--port must be 0 to 65535, got {self.port}")
        _require(bool(self.host.strip()), "--host must not be empty")


@dataclass(frozen=True)
class WebBenchConfig:
    """``toolkit bench web``: per-keystroke latency and reviews/s in headless Chromium, against native
    onnxruntime on the same reviews in the same run."""

    precisions: tuple[str, ...] = WEB_PRECISIONS
    keystrokes: int = 200  # timed keystrokes (classifications of the median-length review), after warm-up
    reviews: int = 256  # real test reviews for reviews/s
    batch_sizes: tuple[int, ...] = (1, 64)
    threads: tuple[int, ...] = (1,)  # WASM threads; more than 1: the page is served cross-origin isolated
    repeats: int = 3  # passes per setting; the median is reported
    screenshot: Optional[str] = None  # also save a PNG of the page with a review classified
    ort_dir: Optional[str] = None  # as WebConfig.ort_dir
    tfjs: bool = False  # also TensorFlow.js on the run's weights (its Layers format, the WASM backend)
    out: Optional[str] = None  # a JSON file for the figures; None: none
    overwrite: bool = False  # replace an earlier figures file of the toolkit's at ``out``
    DEFAULT_OUT: ClassVar[str] = "bench-web.json"  # the CLI's --out

    def __post_init__(self) -> None:
        unknown = sorted(set(self.precisions) - set(WEB_PRECISIONS))
        _require(bool(self.precisions) and not unknown, f"unknown precision(s) {unknown}: use fp32, int8")
        _require(min(self.keystrokes, self.reviews, self.repeats) >= 1, "keystrokes, reviews, repeats must be >= 1")
        _require(bool(self.batch_sizes) and min(self.batch_sizes) >= 1, "batch sizes must be >= 1")
        _require(bool(self.threads) and all(1 <= t <= 64 for t in self.threads), "threads must be 1 to 64")
        _require(self.threads[0] == 1, "--threads must start with 1: the goals are judged on one WASM thread")
        _require(self.reviews >= max(self.batch_sizes), f"--reviews {self.reviews} is smaller than the largest batch")
