"""Run by `accelerate launch --cpu --num_processes 2` from tests/trainers/test_grpo_scale.py: a few GRPO steps
of the toy generator on every process, each writing what it saw to OUT/rank-R.json.

    python grpo_ranks.py OUT STEPS [RESUME_CHECKPOINT]

With GRPO_RANKS_MODEL=sd3 it trains the tiny SD3 pipeline (LoRA on its attention under DDP) instead.
"""

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from scrutiny.trainers.grpo import GRPOConfig, GRPOTrainer
from scrutiny.trainers.toy import pretrain, redness


def main() -> None:
    out, steps = Path(sys.argv[1]), int(sys.argv[2])
    resume = sys.argv[3] if len(sys.argv) > 3 else None
    out.mkdir(parents=True, exist_ok=True)
    prompts = ["a square", "a red square"]
    if os.environ.get("GRPO_RANKS_MODEL") == "sd3":
        from scrutiny.testing.pipelines import tiny_sd3
        from scrutiny.trainers.diffusers_policy import SD3FlowPolicy

        policy = SD3FlowPolicy(tiny_sd3(), height=16, width=16, guidance_scale=4.5, max_sequence_length=16)
        prompts = ["a red square", "a blue circle"]
    else:
        policy = pretrain(steps=40, seed=0)
    seen: dict = {"advantages": [], "rewards": [], "images": [], "prompts": []}

    def reward(images, prompts):
        seen["images"].append(hashlib.sha1(images.numpy().tobytes()).hexdigest())
        if os.environ.get("RANK") == "1":
            random.random()  # a reward that draws from Python's random on one process only
        return redness(images, prompts).numpy() + images.mean(dim=(1, 2, 3)).numpy()

    config = GRPOConfig(
        prompts=prompts,
        group_size=3,
        groups_per_step=4,
        steps=steps,
        sampling_steps=4,
        clip_range=0.2,
        learning_rate=3e-3,
        lora_rank=4,
        lora_alpha=8,
        report_to="none",
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=2,
    )
    trainer = GRPOTrainer(policy, reward, config, run_id=f"ranks-{os.getpid()}")  # differs per process
    original = trainer.advantages

    def advantages(rewards, prompts, signal=None):
        seen["prompts"].append(prompts)
        values, stats = original(rewards, prompts, signal)
        seen["advantages"].append(values.tolist())
        seen["rewards"].append(np.nan_to_num(rewards, nan=-1.0).tolist())
        return values, stats

    trainer.advantages = advantages
    if resume:
        trainer.load(resume)
    history = trainer.train(steps - trainer.step_index)
    lora = {n: p.detach().sum().item() for n, p in trainer.policy.model.named_parameters() if p.requires_grad}
    (out / f"rank-{trainer.rank}.json").write_text(
        json.dumps(
            {
                "rank": trainer.rank,
                "run_id": trainer.run_id,
                "processes": trainer.processes,
                "history": history,
                "lora": lora,
                "backend": str(torch.distributed.get_backend()) if torch.distributed.is_initialized() else None,
                **seen,
            }
        )
    )


if __name__ == "__main__":
    main()
