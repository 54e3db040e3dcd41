"""What GRPO trains: LoRA on a diffusers model's attention projections, and an EMA of the adapter."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
"""Flow-GRPO's LoRA targets: the attention projections of a diffusers transformer or UNet."""


def lora_targets(model: torch.nn.Module) -> list[str]:
    """The modules LoRA adapts: a diffusers model's attention projections (not its time and text
    embedders, `pos_embed` or norms); any other model's Linear and Conv2d layers."""
    linear = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    attention = [n for n in linear if n.endswith(ATTENTION_PROJECTIONS)]
    return attention or linear


class EMA:
    """An exponential moving average of parameters (float32 copies), warmed up as Flow-GRPO's
    `EMAModuleWrapper`: decay min(decay, (1 + n)/(10 + n)) at the n-th EMA update."""

    def __init__(self, parameters: list[torch.nn.Parameter], decay: float):
        self.parameters = parameters
        self.decay = decay
        self.shadow = [p.detach().float().clone() for p in parameters]
        self.count = 0

    @torch.no_grad()
    def update(self) -> None:
        decay = min(self.decay, (1 + self.count) / (10 + self.count))
        for shadow, p in zip(self.shadow, self.parameters, strict=True):
            shadow.lerp_(p.detach().float(), 1 - decay)
        self.count += 1

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the duration; the trained ones back after."""
        saved = [p.detach().clone() for p in self.parameters]
        with torch.no_grad():
            for shadow, p in zip(self.shadow, self.parameters, strict=True):
                p.copy_(shadow.to(p.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for value, p in zip(saved, self.parameters, strict=True):
                    p.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"shadow": self.shadow, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow = [t.to(p.device) for t, p in zip(state["shadow"], self.parameters, strict=True)]
        self.count = state["count"]
