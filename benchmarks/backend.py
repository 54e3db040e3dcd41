"""Judgments per second through the model policy, against raw AsyncOpenAI making the same calls.

    python benchmarks/backend.py [--judgments 256] [--concurrency 64] [--delays 0.05,0.5] [--rounds 3]
    python benchmarks/backend.py --rewardharness VENV_PYTHON    # also run RewardHarness's SubAgent

A stub OpenAI-compatible server (scrutiny.fake_server, in its own process) answers every request
after a fixed delay, as a GPU server at steady load would: 50 ms (the issue's setting, where both
sides are bound by client CPU on this machine) and 500 ms (closer to a real VLM call). One
scrutiny judgment of a 256x256 image is two model calls (inspect, then the JSON answer) plus
everything around them: image intake (hash, PNG encoding), routing, the graph, the trace and the
verdict in a store. The baseline sends the same two requests per judgment straight through
`AsyncOpenAI`, with the same concurrency, its images encoded before the clock starts. Both sides
are warmed up first (connections open); then timed rounds of each alternate, on fresh images, and
the medians are compared. Target ratio >= 0.9.

RewardHarness (PyPI `rewardharness`, which pins openai<2 and so needs its own environment)
is run from that environment's python: its `SubAgent.evaluate` in a thread pool of the same size,
pointed at the same stub answering in its `<answer>` format (one model call per evaluation).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

import openai

from scrutiny import Criterion, Judge, JudgeConfig, Store
from scrutiny.agents.model import ModelPolicy
from scrutiny.backends import OpenAIBackend
from scrutiny.fake_server import FakeServer, Reply
from scrutiny.synth import fitted_sign

PROMPT = "A sign that says SALE"
ANSWER = json.dumps({"criteria": [{"id": "text_1", "score": 4, "rationale": "reads well"}]})
RH_ANSWER = '<answer>{"preference": "A", "score_A_instruction": 3, "score_A_quality": 3, "score_B_instruction": 2, "score_B_quality": 3, "reasoning": "stub"}</answer>'


async def raw_openai(client: openai.AsyncOpenAI, messages: list[list[dict]], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def judgment(first: list[dict]) -> None:
        async with limit:
            await client.chat.completions.create(model="fake-vl", messages=first, max_tokens=1024, temperature=0.0)
            await client.chat.completions.create(model="fake-vl", messages=first + [{"role": "user", "content": "Final answer."}],
                                                 max_tokens=1024, temperature=0.0,
                                                 response_format={"type": "json_object"})

    start = time.perf_counter()
    await asyncio.gather(*(judgment(m) for m in messages))
    return time.perf_counter() - start


@contextlib.contextmanager
def stub_process(delay: float, content: str):
    """The stub in its own process, as a real server would be (it must not share our GIL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "scrutiny.fake_server", "--port", str(port), "--delay", str(delay),
                                "--content", content])
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait()


def rewardharness(python: str, url: str, n: int, concurrency: int, image_b64: str) -> float:
    script = textwrap.dedent(f"""
        import time
        from concurrent.futures import ThreadPoolExecutor
        from rewardharness.evaluation.engine import SubAgent
        from rewardharness.clients.endpoints import EndpointPool
        agent = SubAgent(library=None, endpoint_pool=EndpointPool([{url!r}]))
        image = {image_b64!r}
        start = time.perf_counter()
        with ThreadPoolExecutor({concurrency}) as pool:
            results = list(pool.map(lambda i: agent.evaluate(image, image, image, "Add a red square", ""), range({n})))
        assert all(r["preference"] == "A" for r in results), results[0]
        print(time.perf_counter() - start)
    """)
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each, interleaved; medians are reported")
    parser.add_argument("--delays", default="0.05,0.5", help="stub delays in seconds, comma-separated")
    parser.add_argument("--rewardharness", metavar="PYTHON", help="python of an environment with rewardharness installed")
    args = parser.parse_args()
    n, rounds = args.judgments, args.rounds
    rubric = [Criterion(id="text_1", statement="The sign reads SALE", dimension="text", params={"text": "SALE"})]
    # fresh images for every round (nothing of one round is cached for the next), and the warm-up
    batches = [[fitted_sign(f"SALE {r}-{i}", size=(256, 256)) for i in range(n)] for r in range(rounds + 1)]
    # the first request of a judgment, as the policy builds it, captured once in process
    probe = FakeServer(default=Reply(content=ANSWER)).start()
    with tempfile.TemporaryDirectory() as home:
        Judge(policy=ModelPolicy(OpenAIBackend([probe.url], "fake-vl"), synthesize_rubric=False, pairwise=False,
                                 top_logprobs=None), store=Store(home=home)).judge(batches[0][0], PROMPT, rubric=rubric)
    template = probe.requests[0]["messages"]
    probe.stop()

    def requests_for(images):
        """The baseline's requests, its images encoded before the clock starts (scrutiny's judgments encode
        theirs inside the timed run: this encoding goes around scrutiny's cache)."""
        parts = []
        for im in images:
            buffer = io.BytesIO()
            im.save(buffer, format="PNG", compress_level=1)
            parts.append({"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}})
        return [[template[0], {**template[1], "content": template[1]["content"][:2] + [part]}] for part in parts]

    ours_rate: dict[float, float] = {}
    for delay in (float(d) for d in args.delays.split(",")):
        with stub_process(delay, ANSWER) as url, tempfile.TemporaryDirectory() as home, asyncio.Runner() as runner:
            backend = OpenAIBackend([url], "fake-vl", max_concurrency=args.concurrency)
            policy = ModelPolicy(backend, synthesize_rubric=False, pairwise=False, top_logprobs=None)
            judge = Judge(policy=policy, store=Store(home=home), config=JudgeConfig(concurrency=args.concurrency, cache=False))
            client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
            # warm up both: connections open, the route cached, code paths taken once
            judge.judge_many(batches[0][:args.concurrency], "warm up", rubric=rubric)
            runner.run(raw_openai(client, requests_for(batches[0][:args.concurrency]), args.concurrency))
            raw_times, our_times = [], []
            for images in batches[1:]:  # interleaved rounds, so a slow moment of the machine hits both
                raw_times.append(runner.run(raw_openai(client, requests_for(images), args.concurrency)))
                start = time.perf_counter()
                verdicts = judge.judge_many(images, PROMPT, rubric=rubric)
                our_times.append(time.perf_counter() - start)
                assert all(v.score == 0.75 and v.usage.model_calls == 2 for v in verdicts)
            runner.run(client.close())
        raw, ours = statistics.median(raw_times), statistics.median(our_times)
        ratios = sorted(r / o for r, o in zip(raw_times, our_times))
        print(f"{n} judgments x {rounds} rounds, 2 model calls each, stub delay {delay * 1000:.0f} ms, concurrency {args.concurrency}")
        print(f"  raw AsyncOpenAI, same calls:  {n / raw:7.1f} judgments/s (median round)")
        print(f"  scrutiny ModelPolicy:          {n / ours:7.1f} judgments/s   ratio to raw {raw / ours:.3f} "
              f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.9)")
        ours_rate[delay] = n / ours
    if args.rewardharness:
        buffer = io.BytesIO()
        batches[0][0].save(buffer, format="PNG")
        delay = float(args.delays.split(",")[0])
        with stub_process(delay, RH_ANSWER) as url:
            rh = rewardharness(args.rewardharness, url, n, args.concurrency, base64.b64encode(buffer.getvalue()).decode())
        print(f"RewardHarness SubAgent, stub delay {delay * 1000:.0f} ms, {args.concurrency} threads, 1 call (3 images) per "
              f"evaluation: {n / rh:7.1f} evaluations/s")
        print(f"  scrutiny judgments/s over RewardHarness evaluations/s: {ours_rate[delay] / (n / rh):.2f} "
              f"(scrutiny makes 2 calls per judgment, RewardHarness 1)")


if __name__ == "__main__":
    main()
