"""Stochastic sampling steps with log-probabilities, for GRPO on diffusion models.

Flow matching (Flow-GRPO, https://arxiv.org/abs/2505.05470): the probability-flow ODE step
x' = x + Δ·v is turned into an SDE step with the same marginals, so every step has a Gaussian
likelihood. DDIM with η > 0 (DDPO, https://arxiv.org/abs/2305.13301) does the same for
ε-prediction UNets. Shapes: x [B, C, H, W]; sigma, t per sample [B].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class Step:
    mean: torch.Tensor  # [B, C, H, W]
    std: torch.Tensor  # [B, 1, 1, 1] of x' given x
    scale: torch.Tensor | None = None
    """[B, 1, 1, 1] the SDE's noise scale s per unit time (std = s·√(−Δ)); Flow-GRPO's KL divides by
    s², not std². None where the two are the same (DDIM)."""


KLForm = Literal["flow_grpo", "exact"]
PredictionType = Literal["epsilon", "v_prediction", "sample"]


def sigmas(steps: int, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """[steps + 1] noise levels from 1 to 0, SD3's time shift applied (shift 3.0 for SD3 at 1024²)."""
    s = torch.linspace(1.0, 0.0, steps + 1, device=device, dtype=torch.float64)
    return (shift * s / (1 + (shift - 1) * s)).float()


def scheduler_sigmas(scheduler: Any, steps: int, *, mu: float | None = None, flux: bool = False) -> torch.Tensor:
    """[steps + 1] noise levels from a diffusers flow-matching scheduler, ending at 0: what the
    pipeline itself samples with (its shift, or its dynamic shift `mu` for FLUX). FLUX pipelines
    pass `linspace(1, 1/steps, steps)` as sigmas; SD3 lets the scheduler space its timesteps."""
    import numpy as np

    scheduler = type(scheduler).from_config(scheduler.config)  # the pipeline's own stays untouched
    if flux:
        scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    elif mu is not None:
        scheduler.set_timesteps(steps, mu=mu)
    else:
        scheduler.set_timesteps(steps)
    out = scheduler.sigmas.to(torch.float32).cpu()
    if out.shape != (steps + 1,) or float(out[-1]) != 0.0:
        raise ValueError(
            f"the scheduler gave {tuple(out.shape)} sigmas ending at {float(out[-1])}; expected {steps + 1} ending at 0"
        )
    return out


def flow_sde_step(
    x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float, sigma_1: float, noise_level: float
) -> Step:
    """Mean and std of x' given x and the velocity v (Flow-GRPO: https://arxiv.org/abs/2505.05470).

    `sigma_1` is the schedule's second noise level, used in place of sigma when sigma is 1 (the
    ratio sigma / (1 - sigma) is infinite there). With noise_level 0 this is the Euler ODE step.
    """
    delta = sigma_next - sigma  # < 0
    s = noise_level * math.sqrt(sigma / (1 - (sigma_1 if sigma >= 1.0 else sigma)))
    mean = x + delta * (v + (s**2 / (2 * sigma)) * (x + (1 - sigma) * v))
    shape = (x.shape[0], *[1] * (x.dim() - 1))
    std = torch.full(shape, s * math.sqrt(-delta), dtype=x.dtype, device=x.device)
    return Step(mean, std, torch.full(shape, s, dtype=x.dtype, device=x.device))


def ddim_step(
    x_t: torch.Tensor,
    output: torch.Tensor,
    alpha_bar_t: float,
    alpha_bar_prev: float,
    eta: float = 1.0,
    prediction_type: PredictionType = "epsilon",
) -> Step:
    """DDIM step from t to the previous timestep t' (DDPO: https://arxiv.org/abs/2305.13301, DDIM:
    https://arxiv.org/abs/2010.02502). `output` is what the model predicts, as its scheduler's
    `prediction_type` says: the noise ε, the velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ (SD 2.x at 768²), or x₀."""
    a, b = math.sqrt(alpha_bar_t), math.sqrt(1 - alpha_bar_t)
    if prediction_type == "epsilon":
        eps = output
        x0 = (x_t - b * eps) / a
    elif prediction_type == "v_prediction":
        x0 = a * x_t - b * output
        eps = a * output + b * x_t
    elif prediction_type == "sample":
        x0 = output
        eps = (x_t - a * x0) / b
    else:
        raise ValueError(f"prediction_type must be epsilon, v_prediction or sample, got {prediction_type!r}")
    s = eta * math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev))
    mean = math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1 - alpha_bar_prev - s**2, 0.0)) * eps
    std = torch.full((x_t.shape[0], 1, 1, 1), s, dtype=x_t.dtype, device=x_t.device)
    return Step(mean, std)


def log_prob(x_next: torch.Tensor, step: Step) -> torch.Tensor:
    """[B] Gaussian log-density of x_next, averaged over the C·H·W elements (Flow-GRPO's convention)."""
    z = (x_next - step.mean) / step.std
    per_element = -0.5 * z**2 - torch.log(step.std) - LOG_SQRT_2PI
    return per_element.flatten(1).mean(dim=1)


def kl_to_reference(step: Step, reference_mean: torch.Tensor, form: KLForm = "flow_grpo") -> torch.Tensor:
    """[B] KL to the reference step, per element, averaged over the elements.

    "exact": the KL between the two step Gaussians (equal std), ‖μ_θ − μ_ref‖² / (2·std²).
    "flow_grpo": Flow-GRPO's ‖μ_θ − μ_ref‖² / (2·s²) with s the noise scale per unit time, which is
    |Δ| times the exact one (7–1000× smaller at 10 steps), so the paper's β (0.04, 0.01) transfers.
    The two are the same for DDIM steps.
    """
    if form not in ("flow_grpo", "exact"):
        raise ValueError(f"KL form must be 'flow_grpo' or 'exact', got {form!r}")
    scale = step.scale if form == "flow_grpo" and step.scale is not None else step.std
    return ((step.mean - reference_mean) ** 2 / (2 * scale**2)).flatten(1).mean(dim=1)
