"""``toolkit web EXPORT``: serve the web page, the export's model files and onnxruntime-web's files.

Three folders under one origin: ``/`` the page (``index.html``, ``app.js``), ``/export/`` the export
(its models, ``vocab.json``, model card and reports; nothing else of the folder), ``/ort/``
onnxruntime-web's WASM build. A name outside those lists is 404; a path with ``..``, ``.``, ``//``,
a backslash or a NUL, or a file that is a link, is refused with 403. GET
and HEAD only. Loopback by default; another host only when asked, with a warning. ``isolate`` adds the
COOP/COEP headers that make the page cross-origin isolated (multi-threaded WASM needs it).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote

from toolkit.config import LOOPBACK, WebConfig
from toolkit.core.errors import WebError, one_line
from toolkit.edge.sessions import check_export
from toolkit.web.assets import EXPORT_WEB_FILES, ORT_FILES, PAGE_FILES, check_page, ort_dir

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".md": "text/markdown; charset=utf-8",
    ".png": "image/png",
}
# 'wasm-unsafe-eval': compiling the WASM module; blob: workers, which onnxruntime-web may start
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LOOPBACKS = (LOOPBACK, "localhost", "::1")


@dataclass(frozen=True)
class Site:
    """What is served: URL prefix -> (folder, the file names served from it)."""

    folders: dict
    isolate: bool = False

    def resolve(self, raw_path: str) -> tuple[HTTPStatus, Optional[Path]]:
        """The file a request path names, or why not: 403 for a path that tries to leave its folder,
        404 for a name that is not served."""
        path = raw_path.split("?", 1)[0].split("#", 1)[0]
        decoded = unquote(path, errors="strict") if "%" in path else path
        parts = decoded.split("/")
        odd = any(p in (".", "..") for p in parts) or "" in parts[1:-1]  # '..', '.', '//'
        if not decoded.startswith("/") or "\\" in decoded or "\x00" in decoded or odd:
            return HTTPStatus.FORBIDDEN, None
        prefix, name = ("/".join(parts[1:-1]), parts[-1]) if len(parts) > 2 else ("", parts[-1] or "index.html")
        if prefix not in self.folders:
            return HTTPStatus.NOT_FOUND, None
        folder, names = self.folders[prefix]
        if name not in names:
            return HTTPStatus.NOT_FOUND, None
        file = folder / name
        try:
            real, root = file.resolve(strict=True), folder.resolve(strict=True)
        except (OSError, RuntimeError):
            return HTTPStatus.NOT_FOUND, None
        if file.is_symlink() or real.parent != root:  # a link: out of the folder, or to a name not served
            return HTTPStatus.FORBIDDEN, None
        if not real.is_file():
            return HTTPStatus.NOT_FOUND, None
        return HTTPStatus.OK, real


def make_site(export_dir: Path, ort: Path, isolate: bool = False) -> Site:
    folders = {"": (check_page(), PAGE_FILES), "export": (export_dir, EXPORT_WEB_FILES), "ort": (ort, ORT_FILES)}
    return Site(folders, isolate)


def handler_for(site: Site, on_refused: Callable[[str], None]):
    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # an idle connection is dropped (each holds a thread)

        def version_string(self) -> str:
            return "toolkit-web"

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self._send(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(body=False)

        def _refuse_method(self) -> None:
            self._status(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815

        def _send(self, body: bool) -> None:
            try:
                status, file = site.resolve(self.path)
            except UnicodeDecodeError:
                status, file = HTTPStatus.FORBIDDEN, None
            if file is None:
                if status == HTTPStatus.FORBIDDEN:
                    on_refused(f"refused {self.command} {one_line(self.path)[:200]}: outside the served folders")
                self._status(status)
                return
            try:  # opened first: a file replaced or removed since resolve() is sent whole, or is a 404
                f = open(file, "rb")
            except OSError:
                self._status(HTTPStatus.NOT_FOUND)
                return
            with f:
                headers = {
                    "Content-Type": MIME_TYPES.get(file.suffix, "application/octet-stream"),
                    "Content-Length": str(os.fstat(f.fileno()).st_size),
                }
                self._status(HTTPStatus.OK, headers)
                if body:
                    try:
                        shutil.copyfileobj(f, self.wfile)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the page was closed mid-download

        def _status(self, status: HTTPStatus, headers: Optional[dict] = None) -> None:
            self.send_response(status)
            for key, value in {**_headers(site.isolate), **(headers or {})}.items():
                self.send_header(key, value)
            if status != HTTPStatus.OK:
                self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
            pass  # quiet: refusals are reported through on_refused

    return Handler


def _headers(isolate: bool) -> dict:
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": CSP,
    }
    return {**headers, **ISOLATION} if isolate else headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """One line for a request that failed (a client gone mid-reply, say), not socketserver's traceback."""
        kind, exc = sys.exc_info()[:2]
        print(f"toolkit web: a request from {client_address[0]} failed ({kind.__name__}: {exc})", file=sys.stderr)


def bind(host: str, port: int, handler) -> ThreadingHTTPServer:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_Server,), {"address_family": family})
    try:
        return server_class((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise WebError(f"port {port} on {host} is in use: pass --port N (0: any free port)") from None
        if exc.errno == errno.EACCES:
            raise WebError(f"port {port} needs privileges: pass --port above 1023") from None
        raise WebError(f"cannot listen on {host}:{port} ({os.strerror(exc.errno or 0) or exc}): check --host") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise WebError(f"--host {host!r} is not an address of this machine ({exc})") from None


def url_of(server: ThreadingHTTPServer, host: str) -> str:
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(export_dir: str | os.PathLike, cfg: WebConfig = WebConfig(), out=sys.stdout, err=sys.stderr) -> int:
    """Check the export (Python's full checks), find onnxruntime-web's files, and serve until Ctrl-C or
    SIGTERM; returns 0."""
    export = Path(export_dir)
    check_export(export)
    site = make_site(export, ort_dir(cfg.ort_dir), cfg.isolate)
    server = bind(cfg.host, cfg.port, handler_for(site, lambda line: print(f"toolkit web: {line}", file=err)))
    try:  # from here on, Ctrl-C and SIGTERM stop the server cleanly (the URL line included)
        if cfg.host not in LOOPBACKS:
            print(
                f"toolkit web: warning: serving on {cfg.host}, not loopback: anyone who can reach this machine "
                "can load the page and the model",
                file=err,
            )
        isolated = ", cross-origin isolated" if cfg.isolate else ""
        url = url_of(server, cfg.host)
        print(f"toolkit web: serving {one_line(export)} at {url}{isolated} (Ctrl-C to stop)", file=out, flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM (the CLI raises a KeyboardInterrupt for it)
        pass
    finally:
        server.server_close()
    print("toolkit web: stopped", file=out)
    return 0
