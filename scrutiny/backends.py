"""`OpenAIBackend`: the `Backend` protocol (`scrutiny.core.protocol`) over a pool of vLLM servers.

`OpenAIBackend` speaks the OpenAI chat-completions protocol through `AsyncOpenAI` to one or more
endpoints (vLLM's OpenAI-compatible servers, one per GPU): least-outstanding-requests balancing,
an explicit timeout, retries with exponential backoff on transport errors and 5xx answers only
(a 4xx is the caller's mistake and is raised at once), a circuit breaker per endpoint, and a
global limit on requests in flight. The breaker opens when at least `breaker_failures` of an
endpoint's last 20 requests (and at least `breaker_min_samples` requests) failed and they are at
least `breaker_failure_rate` of them, 90% for the last server still taking traffic (a server
answering most requests is never taken out; failures of requests already in flight when it opened
are one burst, counted once); after `breaker_cooldown_s` one probe request decides whether it
closes. When every breaker is open, the soonest-to-reopen endpoint is probed at once.

Configure it in code, from the environment (`SCRUTINY_ENDPOINTS=url1,url2`, `SCRUTINY_MODEL`,
`SCRUTINY_API_KEY`), or from the endpoints file `scrutiny serve` writes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import inspect
import json
import os
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from pydantic_core import to_json

from scrutiny.core.protocol import BackendError, Completion, ModelToolCall, TokenLogprob


@dataclass
class Endpoint:
    url: str
    outstanding: int = 0
    outcomes: deque = field(default_factory=lambda: deque(maxlen=20))
    """The latest request outcomes (True: answered), newest last."""
    open_until: float = 0.0
    opened_at: float = -1.0
    probing: bool = False

    @property
    def failures(self) -> int:
        return sum(not ok for ok in self.outcomes)

    def available(self, now: float) -> bool:
        return self.open_until <= now and not self.probing


@dataclass(eq=False)
class OpenAIBackend:
    """A pool of OpenAI-compatible endpoints serving one model."""

    endpoints: list[str]
    model: str
    api_key: str = "EMPTY"
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 0.25
    max_concurrency: int = 64
    breaker_failures: int = 3
    """A breaker opens only once this many of an endpoint's recent requests failed..."""
    breaker_failure_rate: float = 0.5
    """...and they are at least this share of its recent requests (a server answering most requests stays in)..."""
    breaker_min_samples: int = 10
    """...of at least this many (a few unlucky failures in a row are not a dead server)."""
    breaker_cooldown_s: float = 5.0
    _pool: list[Endpoint] = field(init=False, repr=False)
    transport: str = "auto"
    """The clients' HTTP transport: "aiohttp" (openai's `DefaultAioHttpClient`), "httpx" (the client's
    default), or "auto": aiohttp when it is installed. aiohttp costs about half the CPU per request
    of httpx's pool, which is what bounds a judge's throughput when the servers are fast."""
    connections_per_client: int | None = None
    """Requests in flight per client (and so connections in its pool); an endpoint gets as many
    clients as the concurrency needs. None: the whole concurrency in one client on aiohttp, 16 on
    httpx, whose pool checks every connection it holds on each request and each answer."""
    _aiohttp: bool = field(init=False, repr=False)
    _loops: dict[asyncio.AbstractEventLoop, _LoopClients] = field(init=False, default_factory=dict, repr=False)
    _closers: dict[asyncio.AbstractEventLoop, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("give at least one endpoint URL, e.g. http://127.0.0.1:8000/v1")
        if not self.model:
            raise ValueError("give the served model name (vllm serve --served-model-name)")
        self._pool = [Endpoint(_v1(url)) for url in self.endpoints]
        if self.transport not in ("auto", "aiohttp", "httpx"):
            raise ValueError(f"transport must be auto, aiohttp or httpx, not {self.transport!r}")
        if self.transport == "aiohttp" and not _aiohttp_available():
            raise ValueError("transport='aiohttp' needs aiohttp: pip install 'openai[aiohttp]'")
        self._aiohttp = self.transport == "aiohttp" or (self.transport == "auto" and _aiohttp_available())
        _OPEN.add(self)

    @classmethod
    def from_env(cls, **kwargs: Any) -> OpenAIBackend:
        urls = [u for u in os.environ.get("SCRUTINY_ENDPOINTS", "").split(",") if u.strip()]
        if not urls:
            raise ValueError("SCRUTINY_ENDPOINTS is not set (comma-separated URLs of OpenAI-compatible servers)")
        return cls(urls, os.environ.get("SCRUTINY_MODEL", ""), os.environ.get("SCRUTINY_API_KEY", "EMPTY"), **kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> OpenAIBackend:
        """Read the endpoints file `scrutiny serve` writes: {"model": ..., "endpoints": [...]}."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no endpoints file at {path}; start servers with `scrutiny serve` or pass --backend URL")
        data = json.loads(path.read_text())
        return cls(data["endpoints"], data["model"], **kwargs)

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict] | None = None,
        response_format: dict | None = None,
        top_logprobs: int | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> Completion:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if tools:
            request.update(tools=tools, tool_choice="auto")
        if response_format:
            request["response_format"] = response_format
        if top_logprobs:
            request.update(logprobs=True, top_logprobs=top_logprobs)
        # The body is serialised here, once, and posted as bytes; the answer comes back as bytes and is
        # read straight into a `Completion`. The client's typed path walks every part of every message
        # (base64 images included) on the way out and builds a model of every field on the way back,
        # which costs more CPU than the rest of a judgment. Headers, auth, timeouts and the connection
        # pool are still the client's.
        body = to_json(request)
        async with self._limit():
            return await self._post(body)

    async def _post(self, body: bytes) -> Completion:
        """Post a request body to the least busy endpoint that is not cooling down, retrying another
        (with backoff) on a connection failure, a timeout, a 5xx or an unreadable answer."""
        last_error: Exception | None = None
        for attempt in range(self.max_retries + 1):
            endpoint = self._pick()
            if endpoint is None:
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            endpoint.outstanding += 1
            started = time.monotonic()
            try:
                with self._client(endpoint) as client:
                    raw = await client.post("/chat/completions", cast_to=bytes, **{_RAW_BODY: body})
                completion = _completion(json.loads(raw), endpoint.url)
            except (
                openai.APIConnectionError,
                openai.APITimeoutError,
                openai.InternalServerError,
                json.JSONDecodeError,
                _BadAnswer,
            ) as e:
                self._failed(endpoint, started)
                last_error = _explained(e, endpoint.url, self.timeout_s)
                # a refused connection is known at once: the next try need not wait long for it
                refused = isinstance(last_error, _Refused)
                await asyncio.sleep(min(self.backoff_s, 0.1) if refused else self.backoff_s * 2**attempt)
                continue
            except openai.APIStatusError as e:
                if e.status_code < 500:
                    raise BackendError(f"{endpoint.url} refused the request ({e.status_code}): {e.message}") from None
                self._failed(endpoint, started)
                last_error = _explained(e, endpoint.url, self.timeout_s)
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            finally:
                endpoint.outstanding -= 1
                endpoint.probing = False
            self._succeeded(endpoint)
            return completion
        raise BackendError(
            f"no endpoint answered after {self.max_retries + 1} attempts: {last_error or 'all endpoints are cooling down'}"
        )

    def status(self) -> list[dict[str, Any]]:
        """Per endpoint: its URL, requests in flight, recent failures, and how long its breaker stays open."""
        now = time.monotonic()
        return [
            {
                "url": e.url,
                "outstanding": e.outstanding,
                "failures": e.failures,
                "open_for_s": max(0.0, round(e.open_until - now, 3)),
            }
            for e in self._pool
        ]

    # internals

    def _pick(self) -> Endpoint | None:
        """Least outstanding requests among endpoints whose breaker is closed. An endpoint whose
        cool-down is over gets one probe request before it takes traffic again; when every breaker
        is open, the one that opened first is probed at once rather than failing the request."""
        now = time.monotonic()
        ready = [e for e in self._pool if e.available(now)]
        cooled = [e for e in ready if e.opened_at >= 0]
        if cooled:  # half-open: one request probes a server whose cool-down is over
            cooled[0].probing = True
            return cooled[0]
        if not ready:
            waiting = [e for e in self._pool if not e.probing]
            if not waiting:
                return None
            first = min(waiting, key=lambda e: e.open_until)
            first.probing = True
            return first
        return min(ready, key=lambda e: (e.outstanding, e.failures))

    def _failed(self, endpoint: Endpoint, started: float) -> None:
        if endpoint.probing or (endpoint.opened_at >= 0 and started < endpoint.opened_at):
            if endpoint.probing:  # the probe failed: closed again for a cool-down
                self._open(endpoint)
            return  # a request in flight when the breaker opened: the same burst, counted once
        endpoint.outcomes.append(False)
        failures, samples = endpoint.failures, len(endpoint.outcomes)
        rate = self.breaker_failure_rate
        now = time.monotonic()
        if all(not e.available(now) for e in self._pool if e is not endpoint):
            rate = max(rate, 0.9)  # the last server taking traffic: out only if it hardly ever answers
        if failures >= self.breaker_failures and samples >= self.breaker_min_samples and failures / samples >= rate:
            self._open(endpoint)

    def _open(self, endpoint: Endpoint) -> None:
        now = time.monotonic()
        endpoint.open_until, endpoint.opened_at = now + self.breaker_cooldown_s, now
        endpoint.outcomes.clear()

    def _succeeded(self, endpoint: Endpoint) -> None:
        endpoint.outcomes.append(True)
        if endpoint.probing:  # the probe answered: the breaker closes
            endpoint.open_until, endpoint.opened_at = 0.0, -1.0

    @contextlib.contextmanager
    def _client(self, endpoint: Endpoint) -> Iterator[openai.AsyncOpenAI]:
        """The endpoint's client with the fewest requests in flight, on the running loop."""
        clients = self._on_loop().clients.setdefault(endpoint.url, [])
        chosen = min(clients, key=lambda c: c.outstanding, default=None)
        per_client = self.connections_per_client or (self.max_concurrency if self._aiohttp else 16)
        if chosen is None or (chosen.outstanding >= per_client and len(clients) * per_client < self.max_concurrency):
            http = {"http_client": openai.DefaultAioHttpClient(timeout=self.timeout_s)} if self._aiohttp else {}
            chosen = _Client(
                openai.AsyncOpenAI(
                    base_url=endpoint.url, api_key=self.api_key, timeout=self.timeout_s, max_retries=0, **http
                )
            )
            clients.append(chosen)
        chosen.outstanding += 1
        try:
            yield chosen.client
        finally:
            chosen.outstanding -= 1

    def _on_loop(self) -> _LoopClients:
        """This backend's clients and limit on the running loop. A client's connection pool belongs
        to one event loop, so each loop gets its own, closed when the loop shuts down (`asyncio.run`
        ending), when the backend is dropped, on `aclose()`, or at exit."""
        loop = asyncio.get_running_loop()
        mine = self._loops.get(loop)
        if mine is None:
            for stale in [other for other in self._loops if other.is_closed()]:
                del self._loops[stale]
                self._closers.pop(stale, None)
            mine = self._loops[loop] = _LoopClients(asyncio.Semaphore(self.max_concurrency))
            self._closers[loop] = _closer(mine, loop)
        return mine

    def _limit(self) -> asyncio.Semaphore:
        return self._on_loop().limit

    async def aclose(self) -> None:
        """Close the clients (and their connections) on the running loop; later calls open new ones."""
        loop = asyncio.get_running_loop()
        mine, closer = self._loops.pop(loop, None), self._closers.pop(loop, None)
        if mine is not None:
            await mine.close()
        if closer is not None:
            await closer.aclose()

    def close(self) -> None:
        """Close the clients on every loop but the caller's own (which cannot wait: await `aclose()` there)."""
        for loop in list(self._loops):
            if loop is not asyncio._get_running_loop() and loop.is_running():
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=5)


def _v1(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


@dataclass
class _Client:
    client: openai.AsyncOpenAI
    outstanding: int = 0


@dataclass(eq=False)
class _LoopClients:
    """A backend's clients (by endpoint URL) and concurrency limit on one event loop."""

    limit: asyncio.Semaphore
    clients: dict[str, list[_Client]] = field(default_factory=dict)

    async def close(self) -> None:
        clients = [c for group in self.clients.values() for c in group]
        self.clients.clear()
        await asyncio.gather(*(c.client.close() for c in clients), return_exceptions=True)


def _closer(mine: _LoopClients, loop: asyncio.AbstractEventLoop) -> Any:
    """An async generator parked on `loop` that closes `mine` when it is finalised: by the loop's
    shutdown (`asyncio.run` ending runs `loop.shutdown_asyncgens()`), or, when the backend is
    dropped first, by the loop's finaliser hook, on the loop. Either way the clients are closed
    while their loop still runs; an aiohttp session that outlives its loop complains at exit.
    It holds the clients and not the backend, so dropping the backend is what finalises it."""

    async def closer():
        try:
            yield
        finally:
            await mine.close()

    async def park():
        with contextlib.suppress(StopAsyncIteration):  # closed before it ran
            await agen.__anext__()  # runs to the yield; the first step registers it with the loop

    agen = closer()
    loop.create_task(park())
    return agen


@functools.cache
def _aiohttp_available() -> bool:
    return hasattr(openai, "DefaultAioHttpClient") and importlib.util.find_spec("aiohttp") is not None


_OPEN: weakref.WeakSet[OpenAIBackend] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Clients on loops that outlive the program (the background loop of the sync API)."""
    for backend in list(_OPEN):
        backend.close()


_RAW_BODY = "content" if "content" in inspect.signature(openai.AsyncOpenAI.post).parameters else "body"
"""Where the client takes a body already serialised: newer clients as `content=`, older ones as `body=`."""


class _BadAnswer(ValueError):
    """A 200 answer that is not a chat completion (a proxy's error page, a cut-off body)."""


def _completion(data: Any, endpoint: str) -> Completion:
    """A chat.completion body, as vLLM and OpenAI send it, read into a `Completion`."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        logprobs = None
        content = (choice.get("logprobs") or {}).get("content")
        if content is not None:
            logprobs = [
                TokenLogprob(
                    token=t["token"],
                    logprob=t["logprob"],
                    top={a["token"]: a["logprob"] for a in t.get("top_logprobs") or []},
                )
                for t in content
            ]
        usage = data.get("usage") or {}
        return Completion(
            content=message.get("content"),
            tool_calls=[
                ModelToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"] or "")
                for c in message.get("tool_calls") or []
            ],
            logprobs=logprobs,
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            model=data.get("model", ""),
            endpoint=endpoint,
        )
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise _BadAnswer(
            f"{endpoint} answered with something that is not a chat completion ({type(e).__name__}: {e})"
        ) from None


class _Refused(Exception):
    """The server's port refused the connection (nothing is listening there)."""


def _explained(error: Exception, url: str, timeout_s: float) -> Exception:
    """The failure as a user should read it. The aiohttp transport reports a refused connection as a
    connect *timeout* ("Request timed out."), which sends a user looking for a slow server."""
    cause = error.__cause__ or error.__context__
    text = f"{type(cause).__name__}: {cause}" if cause is not None else ""
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)) and (
        "Connect call failed" in text or "Connection refused" in text or "All connection attempts failed" in text
    ):
        return _Refused(f"{url}: connection refused (is the server running, on that port?)")
    if isinstance(error, openai.APITimeoutError):
        return Exception(f"{url}: no answer within {timeout_s:g} s")
    if isinstance(error, openai.APIConnectionError):
        return Exception(f"{url}: cannot connect ({cause or error})")
    if isinstance(error, openai.APIStatusError):
        return Exception(f"{url}: server error {error.status_code} ({error.message})")
    return Exception(f"{url}: {error}")
