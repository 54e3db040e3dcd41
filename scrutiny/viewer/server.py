"""The HTTP server: Host and Origin checks, routing, and an answer to every request."""

from __future__ import annotations

import re
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from scrutiny.memory import Store, StoreError
from scrutiny.viewer.labels import LABEL_KEYS_JS, label_page, record_label
from scrutiny.viewer.markup import BadRequest, esc, page
from scrutiny.viewer.runs import run_page, runs_compare_page, runs_page
from scrutiny.viewer.traces import compare_page, list_page, trace_page

LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
"""Host names the viewer answers to; `make_server(allowed_hosts=...)` adds more (a LAN name)."""


MAX_FORM = 10_000
"""The largest label form a post may carry, in bytes."""


class Handler(BaseHTTPRequestHandler):
    """Every request gets an answer: a page, a 400 with a one-line reason, a 403, a 404, or a 500
    naming the failure; never an empty reply. A client that stops sending is cut off (`timeout`)."""

    store: Store
    allowed_hosts: frozenset[str] = frozenset()
    secret: bytes = b""
    """Signs the labelling forms this server hands out (`viewer.labels.form_token`)."""
    timeout = 15

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if not self._host_allowed():  # DNS rebinding: a page elsewhere naming this port
            host = self.headers.get("Host") or ""
            self._send(
                HTTPStatus.FORBIDDEN, page("forbidden", f"<p class=err>host {esc(host[:100])} is not allowed</p>")
            )
            return
        self._answer(self._get)

    def do_POST(self) -> None:  # noqa: N802
        """Labels are the one thing the viewer writes: only from its own page (Host, Origin or a
        same-origin Referer, and the page's token are checked)."""
        if not self._host_allowed() or not self._same_origin():
            self._send(
                HTTPStatus.FORBIDDEN, page("forbidden", "<p class=err>labels come only from this viewer's pages</p>")
            )
            return
        self._answer(self._post)

    def _get(self) -> None:
        url = urlparse(self.path)
        try:
            query = parse_qs(url.query, max_num_fields=100)
        except ValueError:
            raise BadRequest("too many query fields (at most 100)") from None
        if url.path == "/":
            self._send(HTTPStatus.OK, list_page(self.store, query))
        elif url.path.startswith("/trace/"):
            self._send(HTTPStatus.OK, trace_page(self.store, unquote(url.path.removeprefix("/trace/"))))
        elif url.path == "/runs":
            self._send(HTTPStatus.OK, runs_page(self.store))
        elif url.path == "/runs/compare":
            self._send(HTTPStatus.OK, runs_compare_page(self.store, query))
        elif url.path.startswith("/run/"):
            self._send(HTTPStatus.OK, run_page(self.store, unquote(url.path.removeprefix("/run/"))))
        elif url.path == "/compare":
            self._send(HTTPStatus.OK, compare_page(self.store, query))
        elif url.path == "/label":
            self._send(HTTPStatus.OK, label_page(self.store, query, self.secret))
        elif url.path == "/label.js":
            self._send(HTTPStatus.OK, LABEL_KEYS_JS, "text/javascript; charset=utf-8")
        elif match := re.fullmatch(r"/artifact/([0-9a-f]{64})\.png", url.path):
            path = self.store.artifact_path(match.group(1))
            if not path.exists():
                raise StoreError("no such image")
            self._send(HTTPStatus.OK, path.read_bytes(), "image/png")
        else:
            self._send(HTTPStatus.NOT_FOUND, page("not found", f"<p class=err>no page at {esc(url.path[:200])}</p>"))

    def _post(self) -> None:
        if urlparse(self.path).path != "/label":
            self._send(HTTPStatus.NOT_FOUND, page("not found", "<p class=err>nothing to post here</p>"))
            return
        raw = (self.headers.get("Content-Length") or "").strip()
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise BadRequest(f"Content-Length must be a whole number of bytes, got {raw[:20]!r}")
        if int(raw) > MAX_FORM:
            raise BadRequest(f"form too large: {int(raw):,} bytes, at most {MAX_FORM:,}")
        body = self.rfile.read(int(raw))  # the socket's timeout bounds a client that sends less
        try:
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
        except ValueError:
            raise BadRequest("too many form fields (at most 20)") from None
        try:
            where = record_label(self.store, form, self.secret)
        except StoreError as e:  # an item or image the form names is not there: the post is wrong
            raise BadRequest(str(e)) from None
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, handle) -> None:
        try:
            handle()
        except BadRequest as e:
            self._send(
                HTTPStatus.BAD_REQUEST,
                page("bad request", f'<p class=err>{esc(e)}</p><p><a href="/">all traces</a></p>'),
            )
        except (StoreError, ValueError) as e:
            self._send(
                HTTPStatus.NOT_FOUND, page("not found", f'<p class=err>{esc(e)}</p><p><a href="/">all traces</a></p>')
            )
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client went quiet or away: nobody to answer
        except Exception as e:  # noqa: BLE001 - a bug: still an answer, and one line saying what failed
            line = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR, page("error", f"<p class=err>the viewer failed: {esc(line)}</p>")
            )

    def _host(self) -> str:
        return (self.headers.get("Host") or "").lower()

    def _host_allowed(self) -> bool:
        host = self._host()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in LOOPBACK | self.allowed_hosts

    def _same_origin(self) -> bool:
        """The post comes from a page of this server: its Origin, or with none its Referer, names this host."""
        origin = self.headers.get("Origin")
        if origin is not None:
            return origin.lower() != "null" and urlparse(origin.lower()).netloc == self._host()
        referer = self.headers.get("Referer")
        return referer is not None and urlparse(referer.lower()).netloc == self._host()

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
    secret = secrets.token_bytes(32)
    handler = type("BoundHandler", (Handler,), {"store": store, "allowed_hosts": names, "secret": secret})
    return ThreadingHTTPServer((host, port), handler)


def serve_in_thread(store: Store, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(store, host, port)
    threading.Thread(target=server.serve_forever, name="scrutiny-viewer", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
