"""The HTTP server: Host and Origin checks, routing, and an answer to every request."""

from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from scrutiny.memory import Store, StoreError
from scrutiny.viewer.labels import LABEL_KEYS_JS, label_page, record_label
from scrutiny.viewer.markup import BadRequest, esc, page
from scrutiny.viewer.traces import compare_page, list_page, trace_page

LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
"""Host names the viewer answers to; `make_server(allowed_hosts=...)` adds more (a LAN name)."""


class Handler(BaseHTTPRequestHandler):
    store: Store

    allowed_hosts: frozenset[str] = frozenset()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name not in LOOPBACK | self.allowed_hosts:  # DNS rebinding: a page elsewhere naming this port
            self._send(HTTPStatus.FORBIDDEN, page("forbidden", f"<p class=err>host {esc(host)} is not allowed</p>"))
            return
        url = urlparse(self.path)
        query = parse_qs(url.query)
        try:
            if url.path == "/":
                self._send(HTTPStatus.OK, list_page(self.store, query))
            elif url.path.startswith("/trace/"):
                self._send(HTTPStatus.OK, trace_page(self.store, unquote(url.path.removeprefix("/trace/"))))
            elif url.path == "/compare":
                self._send(HTTPStatus.OK, compare_page(self.store, query))
            elif url.path == "/label":
                self._send(HTTPStatus.OK, label_page(self.store, query))
            elif url.path == "/label.js":
                self._send(HTTPStatus.OK, LABEL_KEYS_JS, "text/javascript; charset=utf-8")
            elif match := re.fullmatch(r"/artifact/([0-9a-f]{64})\.png", url.path):
                path = self.store.artifact_path(match.group(1))
                if not path.exists():
                    raise StoreError("no such image")
                self._send(HTTPStatus.OK, path.read_bytes(), "image/png")
            else:
                self._send(HTTPStatus.NOT_FOUND, page("not found", f"<p class=err>no page at {esc(url.path)}</p>"))
        except BadRequest as e:
            self._send(
                HTTPStatus.BAD_REQUEST,
                page("bad request", f'<p class=err>{esc(e)}</p><p><a href="/">all traces</a></p>'),
            )
        except (StoreError, ValueError) as e:
            self._send(
                HTTPStatus.NOT_FOUND, page("not found", f'<p class=err>{esc(e)}</p><p><a href="/">all traces</a></p>')
            )

    def do_POST(self) -> None:  # noqa: N802
        """Labels are the one thing the viewer writes: only from its own page (Host and Origin are checked)."""
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        origin = (self.headers.get("Origin") or "").lower()
        if name not in LOOPBACK | self.allowed_hosts or (origin and urlparse(origin).netloc != host):
            self._send(
                HTTPStatus.FORBIDDEN, page("forbidden", "<p class=err>labels come only from this viewer's pages</p>")
            )
            return
        if urlparse(self.path).path != "/label":
            self._send(HTTPStatus.NOT_FOUND, page("not found", "<p class=err>nothing to post here</p>"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 10_000:
            self._send(HTTPStatus.BAD_REQUEST, page("bad request", "<p class=err>form too large</p>"))
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        try:
            where = record_label(self.store, form)
        except (BadRequest, StoreError) as e:
            self._send(HTTPStatus.BAD_REQUEST, page("bad request", f"<p class=err>{esc(e)}</p>"))
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: HTTPStatus, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store" if content_type.startswith("text") else "max-age=86400")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints the address once
        pass


def make_server(
    store: Store, host: str = "127.0.0.1", port: int = 8765, allowed_hosts: tuple[str, ...] = ()
) -> ThreadingHTTPServer:
    """A viewer server for `store` (port 0 picks a free port); call `serve_forever` to run it.

    It answers only requests whose Host header names a loopback address, `host` itself, or one of
    `allowed_hosts`, so a web page elsewhere cannot reach it through DNS rebinding."""
    names = frozenset(h.lower() for h in (host, *allowed_hosts))
    handler = type("BoundHandler", (Handler,), {"store": store, "allowed_hosts": names})
    return ThreadingHTTPServer((host, port), handler)


def serve_in_thread(store: Store, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(store, host, port)
    threading.Thread(target=server.serve_forever, name="scrutiny-viewer", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
