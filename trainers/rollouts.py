"""What a GRPO step samples and scores: the policy's protocol, rollouts, scored rollouts, reward values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch

from scrutiny.core.calls import call_shape


class FlowPolicy(Protocol):
    """A generator GRPO can train: prompts to conditions, a denoising step, latents to images.

    `sampler` is "flow" (the policy gives `velocity`; SD3/FLUX-style transformers) or "ddim" (the
    policy gives `prediction` — ε, v or x₀ as its `prediction_type` says — and `ddim_schedule`;
    UNet pipelines, DDPO). Optional: `flow_schedule(steps, shift)`, the [steps + 1] sigmas the
    pipeline's scheduler samples with (without it: `sigmas(steps, shift)`), and `prepare_training()`.
    """

    model: torch.nn.Module
    latent_shape: tuple[int, ...]
    sampler: Literal["flow", "ddim"]

    def condition(self, prompts: list[str]) -> Any: ...

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: Any) -> torch.Tensor: ...

    def decode(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Rollout:
    prompts: list[str]
    latents: torch.Tensor  # [B, K, C, H, W] the trained steps' inputs
    next_latents: torch.Tensor  # [B, K, C, H, W] their outputs
    log_probs: torch.Tensor  # [B, K]
    trained: list[int]  # the sampling steps that are trained (K of them)
    images: torch.Tensor  # [B, 3, H, W] in [0, 1]

    def select(self, index: torch.Tensor) -> Rollout:
        """The samples at `index` (a minibatch)."""
        return Rollout(
            [self.prompts[i] for i in index.tolist()],
            self.latents[index],
            self.next_latents[index],
            self.log_probs[index],
            self.trained,
            self.images[index],
        )

    @staticmethod
    def cat(rollouts: list[Rollout]) -> Rollout:
        return Rollout(
            [p for r in rollouts for p in r.prompts],
            torch.cat([r.latents for r in rollouts]),
            torch.cat([r.next_latents for r in rollouts]),
            torch.cat([r.log_probs for r in rollouts]),
            rollouts[0].trained,
            torch.cat([r.images for r in rollouts]),
        )


RewardFn = Callable[[torch.Tensor, list[str]], Any]


@dataclass
class Scored:
    """A rollout's rewards [B], content signal [B] (NaN: not reported), per-criterion scores and text area."""

    values: np.ndarray
    signal: np.ndarray
    criteria: dict[str, np.ndarray]
    text_area: np.ndarray

    @staticmethod
    def cat(parts: list[Scored]) -> Scored:
        keys = list(dict.fromkeys(k for p in parts for k in p.criteria))
        return Scored(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.signal for p in parts]),
            {k: np.concatenate([p.criteria.get(k, np.full(len(p.values), np.nan)) for p in parts]) for k in keys},
            np.concatenate([p.text_area for p in parts]),
        )


def _takes_metadata(fn) -> bool:
    """Whether a reward function takes a third positional argument (Flow-GRPO's `metadata`)."""
    shape = call_shape(fn)
    return shape is not None and shape.takes_positional(3)


def reward_values(out: Any) -> np.ndarray:
    """[B] rewards from what a reward function returned: an array, a tensor, a list, or Flow-GRPO's
    `(scores, metadata)` where scores may be a dict of named rewards (its "avg" is the reward)."""
    scores = out[0] if isinstance(out, tuple) else out
    if isinstance(scores, dict):
        if "avg" in scores:
            scores = scores["avg"]
        elif len(scores) == 1:
            scores = next(iter(scores.values()))
        else:
            raise ValueError(f"the reward function returned several rewards {sorted(scores)}; add an 'avg' entry")
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().float().cpu().numpy()
    return np.asarray(scores, dtype=np.float64).reshape(-1)
