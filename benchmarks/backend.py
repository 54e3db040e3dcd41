"""Judgments per second through the model policy, against raw AsyncOpenAI making the same calls.

    python benchmarks/backend.py [--judgments 256] [--concurrency 64] [--delays 0.05,0.5] [--rounds 3] [--no-freeze-gc]
    python benchmarks/backend.py --rewardharness VENV_PYTHON    # also run RewardHarness's SubAgent

A stub OpenAI-compatible server (scrutiny.testing.fake_server, in its own process) answers every request
after a fixed delay, as a GPU server at steady load would: 50 ms (the issue's setting, where both
sides are bound by client CPU on this machine) and 500 ms (closer to a real VLM call). One
scrutiny judgment of a 256x256 image is two model calls (inspect, then the JSON answer) plus
everything around them: image intake (hash, PNG encoding), routing, the graph, the trace and the
verdict in a store. The baseline sends the same two requests per judgment straight through
`AsyncOpenAI`, with the same concurrency, starting from the same images: it encodes each as
scrutiny does (`fast_png`, base64) and makes the calls. Target ratio >= 0.9 against it.
Two more baselines are printed beside it: the same with its images encoded before its clock
starts (strict: it then does less than scrutiny, which must encode what it is given), and the
same on aiohttp, the transport scrutiny's backend uses when it is installed (the ratio to it
is what scrutiny costs over its own HTTP client). All are warmed up first (connections open);
then timed rounds of each alternate, on fresh images, and the medians are compared. After the
warm-up, `scrutiny.core.aio.freeze_gc()` takes the process's start-up objects out of the garbage
collector's sight, for all sides alike (and for RewardHarness in its process), as scrutiny's
batch commands do; `--no-freeze-gc` measures without it.

RewardHarness (PyPI `rewardharness`, which pins openai<2 and so needs its own environment)
is run from that environment's python: its `SubAgent.evaluate` in a thread pool of the same size,
pointed at the same stub answering in its `<answer>` format (one model call per evaluation).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import subprocess
import tempfile
import textwrap
import time

import openai

from scrutiny import Criterion, Judge, JudgeConfig, Store
from scrutiny.agents.model import ModelPolicy
from scrutiny.backends import OpenAIBackend
from scrutiny.core.aio import freeze_gc
from scrutiny.core.images import fast_png
from scrutiny.testing.fake_server import FakeServer, Reply, stub_process
from scrutiny.testing.scenes import fitted_sign

PROMPT = "A sign that says SALE"
ANSWER = json.dumps({"criteria": [{"id": "text_1", "score": 4, "rationale": "reads well"}]})
RH_ANSWER = '<answer>{"preference": "A", "score_A_instruction": 3, "score_A_quality": 3, "score_B_instruction": 2, "score_B_quality": 3, "reasoning": "stub"}</answer>'


def first_request(template: list[dict], image) -> list[dict]:
    """The first request of a judgment of `image`, as scrutiny sends it: the same system text and
    criteria, the image as a PNG data URL (encoded as scrutiny encodes it, `fast_png`)."""
    part = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(fast_png(image)).decode()},
    }
    return [template[0], {**template[1], "content": template[1]["content"][:2] + [part]}]


async def raw_openai(client: openai.AsyncOpenAI, jobs: list, concurrency: int, template: list[dict] | None) -> float:
    """The same two calls per judgment straight through the client. With a template, each job is an
    image, encoded in the run (as scrutiny gets it); without, a request encoded before the clock."""
    limit = asyncio.Semaphore(concurrency)

    async def judgment(job) -> None:
        async with limit:
            first = first_request(template, job) if template else job
            await client.chat.completions.create(model="fake-vl", messages=first, max_tokens=1024, temperature=0.0)
            await client.chat.completions.create(
                model="fake-vl",
                messages=first + [{"role": "user", "content": "Final answer."}],
                max_tokens=1024,
                temperature=0.0,
                response_format={"type": "json_object"},
            )

    start = time.perf_counter()
    await asyncio.gather(*(judgment(job) for job in jobs))
    return time.perf_counter() - start


def rewardharness(python: str, url: str, n: int, concurrency: int, image_b64: str, freeze: bool) -> float:
    script = textwrap.dedent(f"""
        import gc
        import time
        from concurrent.futures import ThreadPoolExecutor
        from rewardharness.evaluation.engine import SubAgent
        from rewardharness.clients.endpoints import EndpointPool
        agent = SubAgent(library=None, endpoint_pool=EndpointPool([{url!r}]))
        image = {image_b64!r}
        if {freeze!r}:  # the same treatment as scrutiny's side
            gc.collect()
            gc.freeze()
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
    parser.add_argument(
        "--rewardharness", metavar="PYTHON", help="python of an environment with rewardharness installed"
    )
    parser.add_argument(
        "--no-freeze-gc",
        action="store_true",
        help="leave the start-up objects to the garbage collector (by default, after the warm-up, "
        "scrutiny.core.aio.freeze_gc() exempts them for all sides alike, as scrutiny's batch commands do)",
    )
    parser.add_argument(
        "--no-gate",
        action="store_true",
        help="judge without the degenerate-image gate, which the judge measures on pixels for every policy "
        "(what the model path costs beyond that local measure)",
    )
    args = parser.parse_args()
    n, rounds = args.judgments, args.rounds
    rubric = [Criterion(id="text_1", statement="The sign reads SALE", dimension="text", params={"text": "SALE"})]
    # fresh images for every round (nothing of one round is cached for the next), and the warm-up
    batches = [[fitted_sign(f"SALE {r}-{i}", size=(256, 256)) for i in range(n)] for r in range(rounds + 1)]
    # the first request of a judgment, as the policy builds it, captured once in process
    probe = FakeServer(default=Reply(content=ANSWER)).start()
    with tempfile.TemporaryDirectory() as home:
        Judge(
            policy=ModelPolicy(
                OpenAIBackend([probe.url], "fake-vl"), synthesize_rubric=False, pairwise=False, top_logprobs=None
            ),
            store=Store(home=home),
        ).judge(batches[0][0], PROMPT, rubric=rubric)
    template = probe.requests[0]["messages"]
    probe.stop()

    # The baselines: the (the client as it comes, starting from the same images as scrutiny), a
    # stricter one (its images encoded before its clock starts), and one on scrutiny's own transport.
    baselines = {
        "raw AsyncOpenAI, same images and calls": ("httpx", True),
        "  the same, images encoded before the clock": ("httpx", False),
        "  the same, on aiohttp like scrutiny": ("aiohttp", True),
    }
    ours_rate: dict[float, float] = {}
    for delay in (float(d) for d in args.delays.split(",")):
        with stub_process(delay, ANSWER) as url, tempfile.TemporaryDirectory() as home, asyncio.Runner() as runner:
            backend = OpenAIBackend([url], "fake-vl", max_concurrency=args.concurrency)
            policy = ModelPolicy(backend, synthesize_rubric=False, pairwise=False, top_logprobs=None)
            judge = Judge(
                policy=policy,
                store=Store(home=home),
                config=JudgeConfig(concurrency=args.concurrency, cache=False, degenerate=not args.no_gate),
            )
            clients = {
                "httpx": openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0),
                "aiohttp": openai.AsyncOpenAI(
                    base_url=url, api_key="EMPTY", max_retries=0, http_client=openai.DefaultAioHttpClient()
                ),
            }

            def raw(name: str, images: list) -> float:
                transport, in_run = baselines[name]
                jobs = images if in_run else [first_request(template, im) for im in images]
                return runner.run(raw_openai(clients[transport], jobs, args.concurrency, template if in_run else None))

            # warm up all: connections open, the route cached, code paths taken once
            judge.judge_many(batches[0][: args.concurrency], "warm up", rubric=rubric)
            for name in baselines:
                raw(name, batches[0][: args.concurrency])
            if not args.no_freeze_gc:  # the process's start-up objects, for every side alike
                freeze_gc()
            raw_times: dict[str, list[float]] = {name: [] for name in baselines}
            our_times = []
            for images in batches[1:]:  # interleaved rounds, so a slow moment of the machine hits all
                for name in baselines:
                    raw_times[name].append(raw(name, images))
                start = time.perf_counter()
                verdicts = judge.judge_many(images, PROMPT, rubric=rubric)
                our_times.append(time.perf_counter() - start)
                assert all(v.score == 0.75 and v.usage.model_calls == 2 for v in verdicts)
            for client in clients.values():
                runner.run(client.close())
            runner.run(backend.aclose())
        ours = statistics.median(our_times)
        print(
            f"{n} judgments x {rounds} rounds, 2 model calls each, stub delay {delay * 1000:.0f} ms, concurrency {args.concurrency}"
        )
        print(f"  scrutiny ModelPolicy:                         {n / ours:7.1f} judgments/s (median round)")
        for name, times in raw_times.items():
            ratios = sorted(r / o for r, o in zip(times, our_times))
            target = "; target >= 0.9" if not name.startswith(" ") else ""
            print(
                f"  {name:45s} {n / statistics.median(times):7.1f} judgments/s   scrutiny's ratio to it "
                f"{statistics.median(times) / ours:.3f} (rounds {', '.join(f'{r:.3f}' for r in ratios)}{target})"
            )
        ours_rate[delay] = n / ours
    if args.rewardharness:
        buffer = io.BytesIO()
        batches[0][0].save(buffer, format="PNG")
        delay = float(args.delays.split(",")[0])
        with stub_process(delay, RH_ANSWER) as url:
            rh = rewardharness(
                args.rewardharness,
                url,
                n,
                args.concurrency,
                base64.b64encode(buffer.getvalue()).decode(),
                not args.no_freeze_gc,
            )
        print(
            f"RewardHarness SubAgent, stub delay {delay * 1000:.0f} ms, {args.concurrency} threads, 1 call (3 images) per "
            f"evaluation: {n / rh:7.1f} evaluations/s"
        )
        print(
            f"  scrutiny judgments/s over RewardHarness evaluations/s: {ours_rate[delay] / (n / rh):.2f} "
            f"(scrutiny makes 2 calls per judgment, RewardHarness 1)"
        )


if __name__ == "__main__":
    main()
