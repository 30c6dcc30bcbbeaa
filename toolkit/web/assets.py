"""The files ``toolkit web`` serves: the page (``toolkit/clients/web/``), an export's model files and
onnxruntime-web's WASM build.

onnxruntime-web comes from npm at the version ``toolkit/clients/web/package.json`` pins. ``--ort DIR``
names a folder that holds its files (``node_modules/onnxruntime-web/dist`` of an ``npm install``);
otherwise they are taken from the cache (``$TOOLKIT_CACHE/web/onnxruntime-web-<version>``), installed
there with npm on first use into a staging folder that takes its place only when complete.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from toolkit.config import default_cache_dir
from toolkit.core.errors import WebError, first_line
from toolkit.core.files import staged_folder
from toolkit.core.progress import log
from toolkit.edge.contract import CARD_FILE, REPORT_FILES, VARIANT_FILES, VOCAB_FILE

PAGE_DIR = Path(__file__).resolve().parents[1] / "clients" / "web"
PAGE_FILES = ("index.html", "app.js")
# The WASM build's entry module and the files it loads (ort.env.wasm.wasmPaths): no WebGPU build, which
# lacks the string type and the ML ops the text model needs
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
EXPORT_WEB_FILES = (*VARIANT_FILES.values(), VOCAB_FILE, CARD_FILE, *REPORT_FILES)  # nothing else of the folder
NPM_TIMEOUT_S = 600


def ort_web_version() -> str:
    """The onnxruntime-web version the page is written for (its package.json)."""
    try:
        return json.loads((PAGE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]["onnxruntime-web"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        name = PAGE_DIR / "package.json"
        raise WebError(f"{name} is unreadable ({first_line(exc)}): reinstall the toolkit") from None


def check_page() -> Path:
    missing = [name for name in PAGE_FILES if not (PAGE_DIR / name).is_file()]
    if missing:
        raise WebError(f"{PAGE_DIR} has no {', '.join(missing)}: reinstall the toolkit (pip install -e .)")
    return PAGE_DIR


def ort_dir(given: Optional[str] = None, install: bool = True) -> Path:
    """The folder of onnxruntime-web's files: ``given`` (checked), else the cache's (installed with npm
    when missing and ``install``)."""
    version = ort_web_version()
    if given is not None:
        folder = Path(given)
        nested = folder / "node_modules" / "onnxruntime-web" / "dist"
        folder = nested if nested.is_dir() else folder
        _check_ort(folder, version, f"--ort {given}")
        return folder
    instead = f"pass --ort DIR with the files of 'npm install onnxruntime-web@{version}'"
    home = npm_folder(f"onnxruntime-web-{version}", {"onnxruntime-web": version}, install, instead)
    dist = home / "node_modules" / "onnxruntime-web" / "dist"
    _check_ort(dist, version, f"the cached {home}")
    return dist


def npm_folder(name: str, dependencies: dict, install: bool = True, instead: str = "") -> Path:
    """``$TOOLKIT_CACHE/web/NAME``: a folder where npm installed ``dependencies`` ({package: version}),
    installed now when missing (and ``install``), into a staging folder that takes its place complete;
    ``instead``: what else a user may do, for the errors."""
    home = Path(default_cache_dir()) / "web" / name
    if home.exists():
        return home
    what = ", ".join(f"{package}@{version}" for package, version in dependencies.items())
    if not install:
        raise WebError(f"{what} is not in {home}: run once with npm installed")
    _npm_install(home, dependencies, what, f", or {instead}" if instead else "")
    return home


def _check_ort(folder: Path, version: str, what: str) -> None:
    missing = [name for name in ORT_FILES if not (folder / name).is_file()]
    if missing:
        raise WebError(
            f"{what} has no {', '.join(missing)}: give --ort the dist folder of onnxruntime-web {version} "
            f"(npm install onnxruntime-web@{version}; DIR/node_modules/onnxruntime-web/dist)"
        )
    try:
        found = json.loads((folder.parent / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != version:
        found = found or "of no known version"
        raise WebError(f"{what} holds onnxruntime-web {found}, not {version}: install onnxruntime-web@{version}")


def _npm_install(home: Path, dependencies: dict, what: str, instead: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise WebError(
            f"{what} is not installed and npm is not found: install Node.js and npm (apt install npm){instead}"
        )
    log(f"installing {what} with npm into {home} (once) ...")
    allowed = ("package.json", "package-lock.json", "node_modules")
    with staged_folder(home, allowed=allowed) as stage:
        package = {"name": "toolkit-web-cache", "private": True, "dependencies": dependencies}
        (stage / "package.json").write_text(json.dumps(package, indent=1), encoding="utf-8")
        args = [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(args, cwd=stage, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            slow = f"npm install {what} took over {NPM_TIMEOUT_S} s"
            raise WebError(f"{slow}: is the npm registry reachable?{instead}") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise WebError(f"npm install {what} failed ({reason}){instead}")
