"""The GPU check of the GRPO trainer: a tiny SD3 and a tiny FLUX pipeline, built from config (nothing
downloaded), in bfloat16 on one CUDA device, two GRPO steps each.

    python benchmarks/train_gpu.py [--steps 2] [--group-size 8] [--allow-cpu]

Printed per model: the time of each step, the peak GPU memory, the mean reward and the loss, then
one JSON line with everything. It takes well under 3 minutes on one GPU (most of it is CUDA's start).
Without a CUDA device it stops with a message, unless `--allow-cpu` (a dry run of the same code
path: bfloat16 on the CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch


def brightness(images: torch.Tensor, prompts: list[str]):
    """A reward that varies within a group: the mean brightness of each image."""
    return images.float().mean(dim=(1, 2, 3)).cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        sys.exit("error: no CUDA device here (run with --allow-cpu for a dry run on the CPU)")
    device = torch.device("cuda" if cuda else "cpu")

    from scrutiny.testing.pipelines import tiny_flux, tiny_sd3
    from scrutiny.trainers.diffusers_policy import FluxFlowPolicy, SD3FlowPolicy
    from scrutiny.trainers.grpo import GRPOConfig, GRPOTrainer

    started = time.perf_counter()
    models = {
        "tiny SD3 (CFG 4.5)": lambda pipe: SD3FlowPolicy(
            pipe, height=16, width=16, guidance_scale=4.5, max_sequence_length=16
        ),
        "tiny FLUX (guidance 3.5)": lambda pipe: FluxFlowPolicy(
            pipe, height=16, width=16, guidance_scale=3.5, max_sequence_length=16
        ),
    }
    builders = {"tiny SD3 (CFG 4.5)": tiny_sd3, "tiny FLUX (guidance 3.5)": tiny_flux}
    report = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__, "models": {}}
    for name, make in models.items():
        pipe = builders[name]().to(device, torch.bfloat16)
        config = GRPOConfig(
            prompts=["a red square", "a blue circle"],
            group_size=args.group_size,
            groups_per_step=2,
            steps=args.steps,
            sampling_steps=10,
            mixed_precision="bf16",
            lora_rank=8,
            lora_alpha=16,
            report_to="none",
        )
        trainer = GRPOTrainer(make(pipe), brightness, config)
        assert trainer.device.type == device.type, trainer.device
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        steps = []
        for _ in range(args.steps):
            metrics = trainer.train_step()
            if cuda:
                torch.cuda.synchronize()
            steps.append(metrics)
        lora = [p for n, p in trainer.policy.model.named_parameters() if p.requires_grad]
        result = {
            "step_s": [round(m["step_s"], 3) for m in steps],
            "peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
            "reward_mean": [round(m["reward_mean"], 4) for m in steps],
            "loss": [m["loss"] for m in steps],
            "adapter_dtype": str(lora[0].dtype),
            "finite": all(torch.isfinite(p).all().item() for p in lora),
        }
        report["models"][name] = result
        print(
            f"{name:<26} steps {result['step_s']} s, peak memory {result['peak_memory_mib']} MiB, "
            f"reward {result['reward_mean']}, adapter {result['adapter_dtype']}, finite {result['finite']}"
        )
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))
    if not all(m["finite"] for m in report["models"].values()):
        sys.exit("error: non-finite adapter weights")


if __name__ == "__main__":
    main()
