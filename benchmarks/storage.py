"""Megabytes a reward judge writes per 1,000 rewards, sampled against keeping everything.

    python benchmarks/storage.py [--rewards 1000] [--baseline 100]

The batch is what a text-rendering GRPO run hands its reward: 512x512 storefront scenes of
Flow-GRPO style sign prompts (half with a typo). It is scored by `JudgeReward(guards=True)` with
the default reward judge's storage (`keep="sampled"`: compact verdict rows, whole judgments within
`trace_budget_mb` per 1,000) and keeping everything (`keep="all"`, the baseline, on the first
`--baseline` images: it grows linearly), each into a fresh store; the figure is the size of the
store folder (database and image files) per 1,000. The first whole judgment is always kept, so the
sampled figure falls as the run grows. Aim: <= 2 MB per 1,000 rewards sampled.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import misspell, storefront
from scrutiny.trainers.rewards import JudgeReward


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(keep: str, images, prompts) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        store = Store(home=home)
        judge = Judge(store=store, config=JudgeConfig(unchecked="omit", keep=keep, cache=False, max_steps=1))
        reward = JudgeReward(judge=judge, guards=True)
        start = time.perf_counter()
        for k in range(0, len(images), 16):
            reward.score(images[k : k + 16], prompts[k : k + 16])
        seconds = time.perf_counter() - start
        store.close()
        wal = [p for p in Path(home).glob("*-wal")]
        for p in wal:  # a checkpointed WAL is empty: count what the database holds
            os.truncate(p, 0)
        return folder_bytes(Path(home)) / len(images) * 1000 / 1e6, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    texts = [f"OPEN {k} DAYS" for k in range(args.rewards)]
    images = [storefront(misspell(t, rng) if k % 2 else t, seed=k) for k, t in enumerate(texts)]
    prompts = [f'A storefront sign that says "{t}"' for t in texts]
    sampled, s_time = measure("sampled", images, prompts)
    n = min(args.baseline, args.rewards)
    everything, a_time = measure("all", images[:n], prompts[:n])
    print("JudgeReward(guards=True) on 512x512 storefront scenes")
    print(f"keep='all' (baseline, {n}):  {everything:8.2f} MB per 1,000 rewards ({n / a_time:.1f} rewards/s)")
    print(
        f"keep='sampled' ({args.rewards}): {sampled:8.2f} MB per 1,000 rewards ({args.rewards / s_time:.1f} rewards/s)"
    )
    print(f"ratio sampled / all: {sampled / everything:.3f}; aim: <= 2 MB per 1,000 sampled")


if __name__ == "__main__":
    main()
