"""Rewards per second for the offline OCR reward on a batch of 64, against the bare OCR engine.

    python benchmarks/reward.py [--batch 64]

The batch is what Flow-GRPO hands a reward: a float tensor [B, 3, H, W] in [0, 1] of 512x512
images, here storefront scenes rendering the target texts of Flow-GRPO OCR prompts (half of
them with a typo, as a policy in training produces). Both sides read the same images; the
baseline converts the tensor to arrays and calls RapidOCR on each. Target ratio >= 0.85.
The reward is `flow_grpo_reward(JudgeReward())`, the offline judge without reward-hacking
guards (the guards add a quality criterion, not another engine call), with one look per image
(`max_steps=1`, like Flow-GRPO's OCR reward). The default judge also looks closer at text that
did not read as expected (zoom and read again): its number is printed too.
Some of these prompts also name things the COCO detector knows (a storefront's "cup of coffee"), and
the judge then runs the detector too, by design: a second ratio is printed against the engines the
reward ran, OCR on every image and the detector on those whose traces show a detection.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import misspell, storefront
from scrutiny.tools.base import keep_tool_results
from scrutiny.tools.coco import CocoDetector
from scrutiny.tools.ocr import ocr_engine
from scrutiny.tools.text_match import flow_grpo_target
from scrutiny.trainers.rewards import JudgeReward, flow_grpo_reward

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow_grpo_ocr_prompts" / "prompts.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    keep_tool_results(0)  # the same images are judged more than once here: each judgment measures its own
    lines = (
        DATA.read_text().splitlines() if DATA.exists() else [f'A sign that says "SALE {i}"' for i in range(args.batch)]
    )
    items = [(p, t) for p, t in ((line, flow_grpo_target(line)) for line in lines) if t and 4 <= len(t) <= 20][
        : args.batch
    ]
    rng = np.random.default_rng(0)
    images = [storefront(misspell(t, rng) if k % 2 else t, seed=k) for k, (_, t) in enumerate(items)]
    prompts = [p for p, _ in items]
    batch = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2).float() / 255.0

    engine = ocr_engine()
    engine(np.zeros((64, 64, 3), np.uint8))
    start = time.perf_counter()
    arrays = (batch.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
    for array in arrays:
        engine(np.ascontiguousarray(array[:, :, ::-1]))
    engine_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as home:
        reward = JudgeReward(
            judge=Judge(store=Store(home=home), config=JudgeConfig(cache=False, max_steps=1, unchecked="omit"))
        )
        reward_fn = flow_grpo_reward(reward)
        reward_fn(batch[:1], [f"{prompts[0]}, beside a dog"], [{}])  # OCR and the detector loaded before timing
        CocoDetector().detect(images[0], None)
        start = time.perf_counter()
        scores, info = reward_fn(batch, prompts, [{}] * len(prompts), only_strict=True)
        reward_s = time.perf_counter() - start
        store = reward.judge.store
        detected = {
            row.prompt
            for row in store.iter_traces()
            if any(e.kind == "tool_call" and e.data.get("tool") == "detect" for e in store.trace(row.id).events)
        }
        detector = CocoDetector()
        start = time.perf_counter()
        for image, prompt in zip(images, prompts):
            if prompt in detected:
                detector.detect(image, None)
        engines_s = engine_s + time.perf_counter() - start
        closer = flow_grpo_reward(
            JudgeReward(judge=Judge(store=reward.judge.store, config=JudgeConfig(cache=False, unchecked="omit")))
        )
        start = time.perf_counter()
        closer(batch, prompts, [{}] * len(prompts))
        closer_s = time.perf_counter() - start

    n = len(prompts)
    print(f"batch of {n} images, 512x512")
    print(f"bare OCR engine:  {n / engine_s:6.2f} images/s")
    print(
        f"scrutiny reward:  {n / reward_s:6.2f} rewards/s   ratio to engine {engine_s / reward_s:.3f} (target >= 0.85)"
    )
    print(
        f"  ratio to the engines it ran: {engines_s / reward_s:.3f} (OCR on every image, the detector on the "
        f"{sum(p in detected for p in prompts)} whose prompts name things it knows)"
    )
    print(f"with a closer look: {n / closer_s:6.2f} rewards/s (typos are zoomed and read twice)")
    print(
        f"mean reward {np.mean(scores):.3f} (correct renderings {np.mean(scores[::2]):.3f}, "
        f"typos {np.mean(scores[1::2]):.3f}), abstain rate {info['abstain_rate']:.0%}"
    )


if __name__ == "__main__":
    main()
