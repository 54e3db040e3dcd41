"""What the judge service costs: the same rewards in the trainer's process and from a service on this machine.

    python benchmarks/service.py [--batch 32] [--rounds 3] [--replicas] [--delay 0.5]

Both sides judge the same batch of 512-px storefront scenes (half with a typo) against their
prompts with the offline judge (cache off): in process, `JudgeReward.score`; over HTTP,
`remote_reward(URL).score` against one `JudgeService` replica in this process's threads (so the
ratio counts encoding the images as PNG, base64, JSON and the loopback socket, not a second CPU).
Prints seconds per image for each and the ratio in-process / service (aim >= 0.9, issue 30).

With `--replicas`, it also runs the service on Ray Serve (local Ray) with the model policy against a
stub model server in its own process that answers after `--delay` seconds, as a loaded GPU server
would, and compares two replicas with one (aim >= 1.8x): each replica judges one request (8 images,
all in flight) at a time, so it is the model server's latency, not our CPUs, that bounds a replica.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import misspell, storefront
from scrutiny.tools.base import keep_tool_results
from scrutiny.trainers.rewards import JudgeReward
from scrutiny.trainers.service import JudgeService, remote_reward

WORDS = ["OPEN", "FRESH BREAD", "HOTEL", "PHARMACY", "GRAND OPENING", "BOOKS", "CAFE", "EXIT"]


def batch(n: int) -> tuple[list, list[str]]:
    rng = np.random.default_rng(0)
    texts = [WORDS[k % len(WORDS)] for k in range(n)]
    images = [storefront(misspell(t, rng) if k % 2 else t, seed=k) for k, t in enumerate(texts)]
    return images, [f'A storefront sign that says "{t}"' for t in texts]


def timed(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", action="store_true", help="also: two Ray Serve replicas against one")
    parser.add_argument("--delay", type=float, default=0.5, help="the stub model server's seconds per answer")
    args = parser.parse_args()
    keep_tool_results(0)  # the same images are judged more than once here: each judgment measures its own
    if args.replicas:
        replicas(args.batch, args.delay, args.rounds)
    images, prompts = batch(args.batch)
    folder = Path(tempfile.mkdtemp())
    reward = JudgeReward(judge=Judge(store=Store(home=folder / "a"), config=JudgeConfig(cache=False)))
    served = JudgeReward(judge=Judge(store=Store(home=folder / "b"), config=JudgeConfig(cache=False)))
    service = JudgeService(served, port=0).start()
    try:
        remote = remote_reward(service.url)
        same = np.allclose(reward.score(images, prompts), remote.score(images, prompts), equal_nan=True)
        local = timed(lambda: reward.score(images, prompts), args.rounds)
        over_http = timed(lambda: remote.score(images, prompts), args.rounds)
    finally:
        service.stop()
    n = len(images)
    print(f"{n} images of 512 px, best of {args.rounds} rounds; the same scores both ways: {same}")
    print(f"  in process     {local / n * 1000:7.1f} ms per image")
    print(f"  judge service  {over_http / n * 1000:7.1f} ms per image")
    print(f"  ratio in-process / service: {local / over_http:.3f} (aim >= 0.9)")


def replicas(batch_size: int, delay: float, rounds: int) -> None:
    """Images per second from one Ray Serve replica and from two, each judgment waiting on a stub model."""
    import socket

    from ray import serve

    from scrutiny import Criterion
    from scrutiny.distributed import JudgeSpec
    from scrutiny.testing.fake_server import stub_process
    from scrutiny.trainers import ray_service

    answer = '{"criteria": [{"id": "text_1", "score": 4, "rationale": "reads well"}]}'
    rubric = [Criterion(id="text_1", statement="The sign reads OPEN", dimension="text", params={"text": "OPEN"})]
    images, prompts = [storefront("OPEN", size=128, seed=k) for k in range(batch_size)], ["A sign: OPEN"] * batch_size
    prompts = [f"{p} ({k // 8})" for k, p in enumerate(prompts)]  # groups of 8: one request each
    rates = {}
    with stub_process(delay, answer) as url:
        config = {"cache": False, "unchecked": "omit", "concurrency": 8}
        spec = ray_service.ServiceSpec(judge=JudgeSpec(backend=url, model="fake-vl", config=config))
        spec.reward = {"rubric": rubric, "concurrency": 8, "duplicates": False}
        for n in (1, 2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            base = ray_service.start(spec, port=port, replicas=n, max_ongoing=1)
            remote = remote_reward(base, batch=8)
            assert not np.isnan(remote.score(images, prompts)).any()  # warm: every replica up and answering
            rates[n] = batch_size / timed(lambda: remote.score(images, prompts), rounds)
            serve.shutdown()
    print(
        f"{batch_size} images of 128 px on Ray Serve, model policy, stub delay {delay * 1000:.0f} ms, best of {rounds}"
    )
    print(f"  one replica   {rates[1]:6.1f} images/s")
    print(f"  two replicas  {rates[2]:6.1f} images/s   speed-up {rates[2] / rates[1]:.2f}x (aim >= 1.8x)")


if __name__ == "__main__":
    main()
