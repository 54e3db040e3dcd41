"""GRPO training speed: steps per second on the toy generator and on a tiny SD3 pipeline, and the
share of each step spent waiting for rewards.

    python benchmarks/train.py [--steps 4] [--reward-ms 25] [--workers 4] [--json]

Every model trains with each reward twice, in the same run:
1. **serial** (the baseline): each group's reward is computed as soon as the group is sampled,
   before the next group samples (the loop without overlap);
2. **pool**: rewards run in `--workers` threads while the next groups sample (the trainer's way),
   a whole group per call; what is left of them after the last group is the step's wait;
3. **pool, calls of K** (`--reward-batch`, 4): the same with `reward_batch_size = K`: every K images
   are scored as soon as they are sampled, so only the last call is left to wait for; sampling
   runs in batches of K too, which costs speed on a CPU.
Rewards:
- `server`: sleeps `--reward-ms` per image with the GIL released, as a call to a reward server does;
- `judge` (toy only): scrutiny's offline judge with the example's rubric, on images enlarged 8x;
  it takes the same two cores as sampling, so overlap buys little here (on a GPU machine sampling
  runs on the GPU and the judge on the CPU).
Printed per row: steps/s, the shares of step time spent sampling (in serial mode, rewards
included) and waiting for rewards, and the speed-ups over serial. Aim: a wait share of at most 5%
where sampling takes longer than the rewards; where rewards take longer than sampling (the toy:
milliseconds per image) no overlap can hide them, and the wait is the reward time left over.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from concurrent.futures import Future

import torch


class Inline:
    """An executor that runs each reward at once: the serial baseline."""

    def submit(self, fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future


def server_reward(ms: float):
    def reward(images, prompts):
        time.sleep(ms / 1000 * len(prompts))
        return images.float().mean(dim=(1, 2, 3)).numpy()

    return reward


def judge_reward():
    import tomllib
    from pathlib import Path

    from scrutiny import Judge, JudgeConfig
    from scrutiny.core.schema import Criterion
    from scrutiny.memory import Store
    from scrutiny.trainers.rewards import JudgeReward

    example = Path(__file__).resolve().parents[1] / "examples" / "grpo_red_square.toml"
    rubric = [
        Criterion(id=f"given_{i}", origin="given", **c)
        for i, c in enumerate(tomllib.loads(example.read_text())["reward"]["rubric"])
    ]
    store = Store.memory(tempfile.mkdtemp(prefix="scrutiny-bench-"))
    judge = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, max_steps=1)), rubric=rubric)

    def reward(images, prompts):
        images = torch.nn.functional.interpolate(images, scale_factor=8, mode="nearest")
        return judge.score(images, ["a red square"] * len(prompts))

    return reward


def run(make_policy, reward, config, steps: int, serial: bool, **overrides) -> dict[str, float]:
    import dataclasses

    from scrutiny.trainers.grpo import GRPOTrainer

    trainer = GRPOTrainer(make_policy(), reward, dataclasses.replace(config, **overrides))
    if serial:
        trainer.pool = Inline()
    trainer.train_step()  # warm-up: first calls, allocations
    history = [trainer.train_step() for _ in range(steps)]
    total = sum(h["step_s"] for h in history)
    return {
        "steps_per_s": steps / total,
        "sample_share": sum(h["sample_s"] for h in history) / total,
        "reward_wait_share": sum(h["reward_wait_s"] for h in history) / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--reward-ms", type=float, default=25.0, help="the server reward's latency per image")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--reward-batch", type=int, default=4, help="images per reward call in the third mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from scrutiny.testing.pipelines import tiny_sd3
    from scrutiny.trainers.diffusers_policy import SD3FlowPolicy
    from scrutiny.trainers.grpo import GRPOConfig
    from scrutiny.trainers.toy import pretrain

    torch.set_num_threads(2)
    toy = pretrain(steps=200, seed=0)
    common = dict(clip_range=0.2, lora_rank=8, lora_alpha=16, report_to="none", reward_workers=args.workers)
    models = {
        "toy 16x16": (
            lambda: copy.deepcopy(toy),
            GRPOConfig(prompts=["a square"], group_size=8, groups_per_step=4, sampling_steps=8, **common),
        ),
        "tiny SD3 16x16, CFG 4.5": (
            lambda: SD3FlowPolicy(tiny_sd3(), height=16, width=16, guidance_scale=4.5, max_sequence_length=16),
            GRPOConfig(prompts=["a red square"], group_size=8, groups_per_step=4, sampling_steps=10, **common),
        ),
    }
    rows = []
    for model, (make_policy, config) in models.items():
        rewards = {f"server {args.reward_ms:g} ms/image": server_reward(args.reward_ms)}
        if model.startswith("toy"):
            rewards["judge (offline)"] = judge_reward()
        for reward_name, reward in rewards.items():
            serial = run(make_policy, reward, config, args.steps, serial=True)
            pool = run(make_policy, reward, config, args.steps, serial=False)
            pairs = run(make_policy, reward, config, args.steps, serial=False, reward_batch_size=args.reward_batch)
            rows.append(
                {
                    "model": model,
                    "reward": reward_name,
                    "serial": serial,
                    "pool": pool,
                    f"pool, calls of {args.reward_batch}": pairs,
                    "speedup": pool["steps_per_s"] / serial["steps_per_s"],
                    "speedup_pairs": pairs["steps_per_s"] / serial["steps_per_s"],
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.steps} steps each after one warm-up; pool = {args.workers} reward workers\n")
    print(f"{'model':<26} {'reward':<20} {'mode':<17} {'steps/s':>8} {'sampling':>9} {'reward wait':>12}")
    for row in rows:
        for mode in ("serial", "pool", f"pool, calls of {args.reward_batch}"):
            r = row[mode]
            print(
                f"{row['model']:<26} {row['reward']:<20} {mode:<17} {r['steps_per_s']:>8.3f} "
                f"{r['sample_share']:>9.1%} {r['reward_wait_share']:>12.1%}"
            )
        print(
            f"{'':<47} speed-up over serial: pool {row['speedup']:.2f}x, calls of {args.reward_batch} {row['speedup_pairs']:.2f}x"
        )


if __name__ == "__main__":
    main()
