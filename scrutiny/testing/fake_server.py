"""A fake OpenAI-compatible server on 127.0.0.1 that speaks the real wire protocol.

It replays scripted replies to `POST /v1/chat/completions` and records every request, so tests
can assert on what an agent sent as well as on what it did; `GET /health` and `GET /v1/models`
answer like vLLM's. A reply can be an answer, tool calls, logprobs, a malformed body, an HTTP
error, a hang, or a dropped connection. With no script left it repeats its default reply.

    python -m scrutiny.testing.fake_server --port 8000 --delay 0.05     # a stub for benchmarks and `serve` tests
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply."""

    content: str | None = ""
    tool_calls: list[dict[str, Any]] | None = None
    """[{"name": ..., "arguments": {...}}]; ids are filled in."""
    logprobs: list[dict[str, Any]] | None = None
    """[{"token": "4", "logprob": -0.1, "top": {"4": -0.1, "3": -2.4}}] per content token."""
    status: int = 200
    delay: float = 0.0
    drop: bool = False
    """Close the connection without answering."""
    raw: str | None = None
    """A body to send as is (malformed JSON, say)."""


@dataclass
class FakeServer:
    model: str = "fake-vl"
    default: Reply = field(default_factory=lambda: Reply(content="ok"))
    script: deque = field(default_factory=deque)
    responder: Callable[[dict[str, Any]], Reply | None] | None = None
    """Answers a request from its content (for requests sent concurrently, whose order is not fixed);
    None falls through to the script."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    family: str | None = None
    """Answer as this model family writes when vLLM runs no tool or reasoning parser for it
    (`emulate`): its reasoning block, answer wrappers and tool-call text. None: replies as scripted."""

    def push(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def next_reply(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            self.requests.append(request)
            reply = self.responder(request) if self.responder else None
            if reply is None:
                reply = self.script.popleft() if self.script else self.default
            return emulate(reply, self.family) if self.family else reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self, port: int = 0) -> FakeServer:
        handler = type("BoundFakeHandler", (_Handler,), {"fake": self})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        # a short poll: `stop` returns within it (the default 0.5 s costs every test that stops a server)
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once in load tests
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (it timed out on a scripted hang) is expected here, not an error to print."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def emulate(reply: Reply, family: str) -> Reply:
    """A scripted reply as `family` writes it with no parser on the server (see `agents.families`):
    tool calls as text in the family's form, a reasoning block before the answer (only its end where the
    chat template opens it), and a JSON answer inside the family's answer wrapper."""
    from dataclasses import replace

    from scrutiny.agents.families import family_named

    profile = family_named(family)
    content = reply.content or ""
    if reply.tool_calls:
        content = (content + "\n" if content else "") + _tool_text(reply.tool_calls, profile.tool_parser)
    elif profile.wrappers and content.lstrip().startswith("{"):
        opening, closing = profile.wrappers[0]
        content = f"{opening}{content}{closing}"
    if profile.thinks:
        thought = "The image shows a sign; I check each criterion in turn {as asked}.\n"
        content = (
            thought + "</think>\n\n" if profile.name == "qwen3-vl-thinking" else f"<think>{thought}</think>\n"
        ) + content
    logprobs = reply.logprobs
    if logprobs and content != reply.content:  # the scripted tokens, after the text put before them
        logprobs = [{"token": content[: content.index(reply.content or "")], "logprob": 0.0}, *logprobs]
    return replace(reply, content=content, tool_calls=None, logprobs=logprobs)


def _tool_text(calls: list[dict[str, Any]], parser: str | None) -> str:
    """Tool calls as a model writes them: GLM's XML-style keys and values, a pythonic list (Llama 4,
    Gemma 3), or hermes-style JSON in tags (Qwen, and any family without a parser)."""
    if parser == "glm45":
        return "\n".join(
            f"<tool_call>{c['name']}"
            + "".join(
                f"<arg_key>{k}</arg_key><arg_value>{json.dumps(v) if not isinstance(v, str) else v}</arg_value>"
                for k, v in c["arguments"].items()
            )
            + "</tool_call>"
            for c in calls
        )
    if parser in ("pythonic", "llama4_pythonic"):
        return (
            "["
            + ", ".join(f"{c['name']}({', '.join(f'{k}={v!r}' for k, v in c['arguments'].items())})" for c in calls)
            + "]"
        )
    return "\n".join(
        f"<tool_call>{json.dumps({'name': c['name'], 'arguments': c['arguments']})}</tool_call>" for c in calls
    )


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """The chat.completion body for a reply, as vLLM sends it."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
                },
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": "tool_calls" if reply.tool_calls else "stop",
    }
    if reply.logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {
                    "token": t["token"],
                    "logprob": t["logprob"],
                    "bytes": None,
                    "top_logprobs": [{"token": k, "logprob": v, "bytes": None} for k, v in t.get("top", {}).items()],
                }
                for t in reply.logprobs
            ]
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found"}})
            return
        reply = self.fake.next_reply(body)
        with self.fake.lock:
            self.fake.in_flight += 1
            self.fake.max_in_flight = max(self.fake.max_in_flight, self.fake.in_flight)
        try:
            self._answer(reply, body)
        finally:
            with self.fake.lock:
                self.fake.in_flight -= 1

    def _answer(self, reply: Reply, body: dict[str, Any]) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            self.connection.close()
            return
        if reply.status != 200:
            self._json(reply.status, {"error": {"message": f"scripted {reply.status}", "type": "server_error"}})
            return
        if reply.raw is not None:
            self._send(200, reply.raw.encode())
            return
        self._json(200, completion(reply, body.get("model", self.fake.model)))

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode())

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def stub_process(delay: float, content: str):
    """A stub server in its own process, as a real server would be (it must not share the caller's
    GIL): every request answered with `content` after `delay` seconds; yields its `/v1` URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "scrutiny.testing.fake_server", "--port", str(port), "--delay", str(delay)]
    process = subprocess.Popen([*command, "--content", content])
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server (a stand-in for vLLM).")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--content", default='{"criteria": []}', help="the answer's content")
    parser.add_argument("--served-model-name", default="fake-vl")
    parser.add_argument("--family", help="answer as this model family writes (scrutiny.agents.families)")
    args, _ = parser.parse_known_args()  # accepts vLLM's other flags and ignores them
    default = Reply(content=args.content, delay=args.delay)
    server = FakeServer(model=args.served_model_name, default=default, family=args.family).start(args.port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
