"""Stochastic sampling steps with log-probabilities, for GRPO on diffusion models.

Flow matching (Flow-GRPO, https://arxiv.org/abs/2505.05470): the probability-flow ODE step
x' = x + Δ·v is turned into an SDE step with the same marginals, so every step has a Gaussian
likelihood. DDIM with η > 0 (DDPO, https://arxiv.org/abs/2305.13301) does the same for
ε-prediction UNets. Shapes: x [B, C, H, W]; sigma, t per sample [B].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class Step:
    mean: torch.Tensor  # [B, C, H, W]
    std: torch.Tensor  # [B, 1, 1, 1]


def sigmas(steps: int, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """[steps + 1] noise levels from 1 to 0, SD3's time shift applied (shift 3.0 for SD3 at 1024²)."""
    s = torch.linspace(1.0, 0.0, steps + 1, device=device, dtype=torch.float64)
    return (shift * s / (1 + (shift - 1) * s)).float()


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
    std = torch.full((x.shape[0], 1, 1, 1), s * math.sqrt(-delta), dtype=x.dtype, device=x.device)
    return Step(mean, std)


def ddim_step(
    x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float, eta: float = 1.0
) -> Step:
    """DDIM step from t to the previous timestep t' with predicted noise eps (DDPO: https://arxiv.org/abs/2305.13301, DDIM: https://arxiv.org/abs/2010.02502)."""
    x0 = (x_t - math.sqrt(1 - alpha_bar_t) * eps) / math.sqrt(alpha_bar_t)
    s = eta * math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev))
    mean = math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1 - alpha_bar_prev - s**2, 0.0)) * eps
    std = torch.full((x_t.shape[0], 1, 1, 1), s, dtype=x_t.dtype, device=x_t.device)
    return Step(mean, std)


def log_prob(x_next: torch.Tensor, step: Step) -> torch.Tensor:
    """[B] Gaussian log-density of x_next, averaged over the C·H·W elements (Flow-GRPO's convention)."""
    z = (x_next - step.mean) / step.std
    per_element = -0.5 * z**2 - torch.log(step.std) - LOG_SQRT_2PI
    return per_element.flatten(1).mean(dim=1)


def kl_to_reference(step: Step, reference_mean: torch.Tensor) -> torch.Tensor:
    """[B] KL between two Gaussians of equal std, per element: ‖μ_θ − μ_ref‖² / (2·std²), averaged."""
    return ((step.mean - reference_mean) ** 2 / (2 * step.std**2)).flatten(1).mean(dim=1)
