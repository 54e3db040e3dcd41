"""Judging through failing servers: nothing is lost, and what cannot be judged abstains with a reason.

    python benchmarks/faults.py [--judgments 1000] [--concurrency 32] [--fault-rate 0.2] [--seed 0]

Two stub OpenAI-compatible servers (scrutiny.testing.fake_server) each answer a share of requests
(`--fault-rate`, 20% by default) with one of six faults, drawn at random: a 500, a 503, a hang past
the client's timeout, a body cut off mid-JSON, a body that is not JSON, and an answer that breaks
the verdict's schema (prose where JSON is due). Halfway through, the second server is killed
outright. The model policy judges `--judgments` images at `--concurrency` with `judge_many`.
Printed: verdicts, abstentions by reason, errors raised, and items lost (no result at all).
Aims: 0 lost, at least 98% verdicts, every abstention with its reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from scrutiny import Criterion, Judge, JudgeConfig, Store
from scrutiny.agents.model import ModelPolicy
from scrutiny.backends import OpenAIBackend
from scrutiny.testing.fake_server import FakeServer, Reply
from scrutiny.testing.scenes import fitted_sign

ANSWER = json.dumps({"criteria": [{"id": "text_1", "score": 4, "rationale": "reads well"}]})
TIMEOUT_S = 1.0


def faults(rng: random.Random) -> list[Reply]:
    return [
        Reply(status=500),
        Reply(status=503),
        Reply(delay=TIMEOUT_S + 0.5, content=ANSWER),  # a hang past the client's timeout
        Reply(raw='{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"message": {"content": "'),
        Reply(raw="<html>502 bad gateway</html>"),
        Reply(content="I think the image is quite good, maybe a 4."),  # not the JSON the verdict needs
    ]


def responder(rate: float, seed: int):
    rng = random.Random(seed)
    lock = threading.Lock()
    kinds = ["500", "503", "hang", "cut-off body", "not JSON", "schema-breaking answer"]
    drawn: Counter = Counter()

    def answer(request: dict) -> Reply:
        with lock:
            if rng.random() < rate:
                k = rng.randrange(6)
                drawn[kinds[k]] += 1
                return faults(rng)[k]
        return Reply(content=ANSWER)

    return answer, drawn


async def run(args: argparse.Namespace) -> dict:
    servers = [FakeServer().start(), FakeServer().start()]
    drawn_all = []
    for i, server in enumerate(servers):
        server.responder, drawn = responder(args.fault_rate, args.seed + i)
        drawn_all.append(drawn)
    backend = OpenAIBackend(
        [s.url for s in servers], "fake-vl", timeout_s=TIMEOUT_S, backoff_s=0.05, max_concurrency=args.concurrency
    )
    store = Store(home=Path(tempfile.mkdtemp()))
    judge = Judge(
        policy=ModelPolicy(backend, synthesize_rubric=False, pairwise=False),
        store=store,
        config=JudgeConfig(cache=False, concurrency=args.concurrency),
    )
    rubric = [
        Criterion(
            id="text_1", statement='The sign reads "SALE"', dimension="text", check={"kind": "text", "text": "SALE"}
        )
    ]
    images = [fitted_sign(f"SALE {i}") for i in range(args.judgments)]
    half = args.judgments // 2
    start = time.perf_counter()
    results: list = [None] * args.judgments
    errors: Counter = Counter()

    async def judge_range(lo: int, hi: int) -> None:
        try:
            verdicts = await judge.ajudge_many(images[lo:hi], "A sign that says SALE", rubric=rubric)
            results[lo:hi] = verdicts
        except Exception as e:  # noqa: BLE001 - counted: a batch must not raise
            errors[f"{type(e).__name__}: {e}"[:120]] += hi - lo

    await judge_range(0, half)
    servers[1].stop()  # killed outright mid-run
    await judge_range(half, args.judgments)
    seconds = time.perf_counter() - start
    servers[0].stop()
    verdicts = [v for v in results if v is not None]
    abstained = Counter((v.error or v.critique.splitlines()[0])[:120] for v in verdicts if v.score is None)
    without_reason = sum(1 for v in verdicts if v.score is None and not (v.error or v.critique))
    drawn = sum(drawn_all, Counter())
    return {
        "judgments": args.judgments,
        "seconds": round(seconds, 1),
        "faults_drawn": dict(drawn),
        "verdicts": sum(v.score is not None for v in verdicts),
        "abstentions": dict(abstained),
        "abstentions_without_reason": without_reason,
        "errors": dict(errors),
        "lost": sum(r is None for r in results) - sum(errors.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report))
        return
    n = report["judgments"]
    print(
        f"{n} judgments in {report['seconds']} s through two servers, {args.fault_rate:.0%} faults, one killed halfway"
    )
    print(f"  faults drawn: {report['faults_drawn']}")
    print(f"  verdicts:     {report['verdicts']} ({report['verdicts'] / n:.1%})")
    print(
        f"  abstentions:  {sum(report['abstentions'].values())} (without a reason: {report['abstentions_without_reason']})"
    )
    for reason, count in report["abstentions"].items():
        print(f"    {count:5d}  {reason}")
    print(f"  errors:       {sum(report['errors'].values())}")
    for reason, count in report["errors"].items():
        print(f"    {count:5d}  {reason}")
    print(f"  lost:         {report['lost']}")


if __name__ == "__main__":
    main()
