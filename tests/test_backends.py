"""OpenAIBackend against fake OpenAI-compatible servers on 127.0.0.1 (real HTTP, real wire format)."""

import asyncio
import gc
import json
import time

import openai
import pytest

from scrutiny.backends import BackendError, OpenAIBackend
from scrutiny.core.aio import block_on
from scrutiny.testing.fake_server import FakeServer, Reply

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def servers():
    pair = [FakeServer().start(), FakeServer().start()]
    yield pair
    for s in pair:
        s.stop()


def chat(backend, n=1, **kw):
    async def main():
        return await asyncio.gather(*(backend.chat(HELLO, **kw) for _ in range(n)))

    return asyncio.run(main())


def test_answers_tool_calls_and_logprobs_come_back_typed(servers):
    a, _ = servers
    a.push(
        Reply(content=None, tool_calls=[{"name": "crop", "arguments": {"image": "candidate_0", "box": [0, 0, 5, 5]}}]),
        Reply(content="4", logprobs=[{"token": "4", "logprob": -0.1, "top": {"4": -0.1, "3": -2.3}}]),
    )
    backend = OpenAIBackend([a.url], "fake-vl")
    (calls,) = chat(backend, tools=[{"type": "function", "function": {"name": "crop", "parameters": {}}}])
    assert calls.tool_calls[0].name == "crop" and json.loads(calls.tool_calls[0].arguments)["box"] == [0, 0, 5, 5]
    assert a.requests[0]["tools"][0]["function"]["name"] == "crop" and a.requests[0]["tool_choice"] == "auto"
    (scored,) = chat(backend, top_logprobs=5)
    assert scored.logprobs[0].top == {"4": -0.1, "3": -2.3} and a.requests[1]["logprobs"] is True


def test_least_outstanding_balancing_spreads_concurrent_requests(servers):
    for s in servers:
        s.default = Reply(content="ok", delay=0.2)
    backend = OpenAIBackend([s.url for s in servers], "fake-vl")
    chat(backend, n=8)
    assert [len(s.requests) for s in servers] == [4, 4]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("failure", [Reply(status=503), Reply(drop=True)])
def test_retries_5xx_and_dropped_connections_on_another_endpoint(servers, failure, transport):
    a, b = servers
    a.push(failure)
    backend = OpenAIBackend([a.url, b.url], "fake-vl", backoff_s=0.01, transport=transport)
    (answer,) = chat(backend)
    assert answer.content == "ok" and answer.endpoint == b.url
    assert len(a.requests) == 1 and len(b.requests) == 1


@pytest.mark.parametrize("body", ["<html>bad gateway</html>", '{"object": "error"}', '{"choices": []}'])
def test_a_200_that_is_not_a_chat_completion_fails_over(servers, body):
    a, b = servers
    a.push(Reply(raw=body))
    backend = OpenAIBackend([a.url, b.url], "fake-vl", backoff_s=0.01)
    (answer,) = chat(backend)
    assert answer.content == "ok" and answer.endpoint == b.url and backend.status()[0]["failures"] == 1


def test_the_request_body_is_the_openai_wire_format(servers):
    a, _ = servers
    backend = OpenAIBackend([a.url], "fake-vl")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "system", "content": "judge"},
        {"role": "user", "content": [{"type": "text", "text": "«x»"}, image]},
    ]
    chat_format = {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}}
    asyncio.run(backend.chat(messages, response_format=chat_format, top_logprobs=3, max_tokens=7))
    (sent,) = a.requests
    assert sent == {
        "model": "fake-vl",
        "messages": messages,
        "max_tokens": 7,
        "temperature": 0.0,
        "response_format": chat_format,
        "logprobs": True,
        "top_logprobs": 3,
    }


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_hang_times_out_and_fails_over(servers, transport):
    a, b = servers
    a.push(Reply(delay=3.0))
    backend = OpenAIBackend([a.url, b.url], "fake-vl", timeout_s=0.5, backoff_s=0.01, transport=transport)
    start = time.perf_counter()
    (answer,) = chat(backend)
    assert answer.endpoint == b.url and time.perf_counter() - start < 2.5


def test_4xx_is_not_retried(servers):
    a, _ = servers
    a.push(Reply(status=400))
    backend = OpenAIBackend([a.url], "fake-vl", backoff_s=0.01)
    with pytest.raises(BackendError, match="refused the request \\(400\\)"):
        chat(backend)
    assert len(a.requests) == 1


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_circuit_breaker_skips_a_dead_server_then_probes_it(servers):
    a, b = servers
    a.default = Reply(status=500)
    b.default = Reply(content="ok", delay=0.05)
    backend = OpenAIBackend(
        [a.url, b.url], "fake-vl", backoff_s=0.0, breaker_failures=2, breaker_min_samples=2, breaker_cooldown_s=0.5
    )
    assert all(r.content == "ok" for r in chat(backend, n=6))  # a is tried while b is busy, and trips
    assert backend.status()[0]["open_for_s"] > 0
    seen = len(a.requests)
    chat(backend, n=6)
    assert len(a.requests) == seen  # skipped while open
    a.default = Reply(content="back")
    time.sleep(0.55)
    answers = [r.content for r in chat(backend, n=6)]
    assert len(a.requests) > seen and "back" in answers  # probed after the cool-down, and serving again


def test_all_endpoints_down_is_a_clear_error(servers):
    a, _ = servers
    a.default = Reply(status=500)
    backend = OpenAIBackend([a.url], "fake-vl", backoff_s=0.0, max_retries=2)
    with pytest.raises(BackendError, match="no endpoint answered after 3 attempts"):
        chat(backend)


def test_global_concurrency_limit(servers):
    a, _ = servers
    a.default = Reply(content="ok", delay=0.1)
    backend = OpenAIBackend([a.url], "fake-vl", max_concurrency=3)
    chat(backend, n=10)
    assert a.max_in_flight == 3


def test_configuration_from_env_and_file(servers, tmp_path, monkeypatch):
    a, b = servers
    monkeypatch.setenv("SCRUTINY_ENDPOINTS", f"{a.url},{b.url.removesuffix('/v1')}")
    monkeypatch.setenv("SCRUTINY_MODEL", "fake-vl")
    from_env = OpenAIBackend.from_env()
    assert [e["url"] for e in from_env.status()] == [a.url, b.url]
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"model": "m", "endpoints": [a.url]}))
    assert OpenAIBackend.from_file(path).model == "m"
    with pytest.raises(ValueError, match="no endpoints file"):
        OpenAIBackend.from_file(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="at least one endpoint"):
        OpenAIBackend([], "m")


def opened_clients(backend):
    return [c.client for on_loop in backend._loops.values() for group in on_loop.clients.values() for c in group]


def test_auto_transport_is_aiohttp_and_clients_close_with_their_loop(servers):
    a, _ = servers
    backend = OpenAIBackend([a.url], "fake-vl")
    opened = []

    async def main():
        await backend.chat(HELLO)
        opened.extend(opened_clients(backend))

    asyncio.run(main())
    assert len(opened) == 1 and isinstance(opened[0]._client, openai.DefaultAioHttpClient)
    assert opened[0].is_closed()  # closed as asyncio.run shut its loop down
    asyncio.run(main())  # a new loop gets a new client, which works
    assert len(opened) == 2 and opened[1] is not opened[0] and opened[1].is_closed()


def test_a_dropped_backend_closes_its_clients_on_a_loop_that_goes_on(servers, capfd):
    a, _ = servers
    backend = OpenAIBackend([a.url], "fake-vl")
    assert block_on(backend.chat(HELLO)).content == "ok"  # on the long-lived background loop
    (client,) = opened_clients(backend)
    del backend
    gc.collect()
    deadline = time.monotonic() + 5
    while not client.is_closed() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.is_closed()
    gc.collect()
    assert "Unclosed" not in capfd.readouterr().err


def test_aclose_closes_the_running_loops_clients_and_they_reopen(servers):
    a, _ = servers
    backend = OpenAIBackend([a.url], "fake-vl", transport="httpx")

    async def main():
        await backend.chat(HELLO)
        (client,) = opened_clients(backend)
        await backend.aclose()
        assert client.is_closed() and not opened_clients(backend)
        answer = (await backend.chat(HELLO)).content
        (reopened,) = opened_clients(backend)
        return answer, reopened

    answer, reopened = asyncio.run(main())
    assert answer == "ok" and reopened.is_closed()


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport must be auto, aiohttp or httpx"):
        OpenAIBackend(["http://127.0.0.1:1/v1"], "m", transport="curl")


def test_servers_answering_most_requests_are_never_taken_out(servers):
    """Two servers each failing one request in five (500s, cut connections, malformed bodies), 200
    requests 32 at a time: every request is answered, and neither breaker ever opens.

    Which request meets which scripted fault depends on scheduling, so a request can meet several
    in a row: with 4 attempts that happens to one of 200 requests about one run in four (0.2**4 *
    200). Nine attempts make it one run in ten thousand; the breaker is what this test is about."""
    import random

    rng = random.Random(0)
    faults = [Reply(status=500), Reply(status=503), Reply(drop=True), Reply(raw="<html>oops</html>")]
    for server in servers:
        server.push(*[rng.choice(faults) if rng.random() < 0.2 else Reply(content="ok") for _ in range(400)])
    backend = OpenAIBackend([s.url for s in servers], "fake-vl", backoff_s=0.0, max_concurrency=32, max_retries=8)
    answers = chat(backend, n=200)
    assert [a.content for a in answers] == ["ok"] * 200
    assert all(s["open_for_s"] == 0 for s in backend.status())


def test_a_burst_of_in_flight_failures_opens_the_breaker_once(servers):
    a, b = servers
    a.default = Reply(status=500, delay=0.2)  # 16 requests fail together, after the breaker opened on the first 3
    b.default = Reply(content="ok")
    backend = OpenAIBackend([a.url, b.url], "fake-vl", backoff_s=0.0, breaker_min_samples=3, breaker_cooldown_s=60)
    assert all(r.content == "ok" for r in chat(backend, n=16))
    status = backend.status()[0]
    assert 0 < status["open_for_s"] <= 60 and status["failures"] == 0  # opened once; the rest of the burst not counted
