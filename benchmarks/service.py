"""What the judge service costs: the same rewards in the trainer's process and from a service on this machine.

    python benchmarks/service.py [--batch 32] [--rounds 3]

Both sides judge the same batch of 512-px storefront scenes (half with a typo) against their
prompts with the offline judge (cache off): in process, `JudgeReward.score`; over HTTP,
`remote_reward(URL).score` against one `JudgeService` replica in this process's threads (so the
ratio counts encoding the images as PNG, base64, JSON and the loopback socket, not a second CPU).
Prints seconds per image for each and the ratio in-process / service (aim >= 0.9, issue 30).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import misspell, storefront
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
