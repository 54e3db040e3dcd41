"""A GRPO run from a TOML file: the `[grpo]` config, the `[model]` to train, the `[reward]`.

[model]
toy_pretrain_steps = 800        # the built-in toy generator, pretrained from scratch first
# factory = "module:function"   # or any function returning a FlowPolicy

[reward]
judge_prompt = "a red square"   # scrutiny's offline judge scores every image against this prompt
upscale = 8                     # judge small images enlarged (nearest neighbour)
# rubric = [{statement = "...", dimension = "color", check = {kind = "attribute", value = "red"}}]
# function = "module:function"  # or any fn(images [B, 3, H, W] in [0, 1], prompts) -> scores
"""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

import torch

from scrutiny.core.loading import load_object
from scrutiny.trainers.grpo import GRPOConfig, GRPOTrainer


def build_run(path: str | Path) -> tuple[GRPOTrainer, Path]:
    """The trainer described by a TOML file, and where its reward curve goes."""
    from scrutiny.api import Judge, JudgeConfig
    from scrutiny.core.schema import Criterion
    from scrutiny.memory import Store
    from scrutiny.trainers.rewards import JudgeReward, flow_grpo_reward

    path = Path(path)
    config = GRPOConfig.from_toml(path)
    data = tomllib.loads(path.read_text())
    model, reward = data.get("model", {}), data.get("reward", {})
    unknown = (set(model) - {"toy_pretrain_steps", "factory"}) | (
        set(reward) - {"judge_prompt", "upscale", "rubric", "function"}
    )
    if unknown:
        raise ValueError(f"{path}: unknown [model]/[reward] settings {sorted(unknown)}")
    # 1. the generator
    if "factory" in model:
        policy = load_object(model["factory"], "[model] factory")()
    else:
        from scrutiny.trainers.toy import pretrain

        policy = pretrain(steps=int(model.get("toy_pretrain_steps", 800)), seed=config.seed)
    # 2. the reward
    store = Store()
    if "function" in reward:
        reward_fn = load_object(reward["function"], "[reward] function")
    else:
        rubric = [
            Criterion(id=f"given_{i + 1}", origin="given", **c) for i, c in enumerate(reward.get("rubric", []))
        ] or None
        config_ = JudgeConfig(cache=False, max_steps=1, keep="sampled")
        judge = flow_grpo_reward(JudgeReward(judge=Judge(store=store, config=config_), rubric=rubric))
        judge_prompt, upscale = reward.get("judge_prompt"), int(reward.get("upscale", 1))

        def reward_fn(images: torch.Tensor, prompts: list[str], metadata: list[dict]):
            """Flow-GRPO's `(scores, info)`: the info's content signal and criterion scores reach the trainer."""
            if upscale > 1:
                images = torch.nn.functional.interpolate(images, scale_factor=upscale, mode="nearest")
            return judge(images, [judge_prompt or p for p in prompts], metadata)

    trainer = GRPOTrainer(policy, reward_fn, config, store=store, run_id=f"train-{uuid.uuid4().hex[:12]}")
    out = Path(config.checkpoint_dir) if config.checkpoint_dir else path.parent
    out.mkdir(parents=True, exist_ok=True)
    return trainer, out / "reward_curve.png"
