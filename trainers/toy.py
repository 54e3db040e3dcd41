"""A generator small enough to train from scratch on a laptop CPU in a minute: a prompt-conditioned
flow-matching model in pixel space (16x16 RGB), trained on synthetic scenes of coloured squares.

It exists to show and test the GRPO loop end to end where no real diffusion model can run.
"""

from __future__ import annotations

import torch
from torch import nn

from scrutiny.testing.scenes import RGB

COLORS = ("red", "green", "blue", "yellow")


class TinyVelocityNet(nn.Module):
    """v(x, σ, prompt): a small conv net with the noise level and a prompt embedding added per channel."""

    def __init__(self, prompts: list[str], channels: int = 32):
        super().__init__()
        self.vocabulary = {p: i for i, p in enumerate(prompts)}
        self.embed = nn.Embedding(len(prompts), channels)
        self.time = nn.Linear(1, channels)
        self.conv_in = nn.Conv2d(3, channels, 3, padding=1)
        self.conv_mid = nn.Conv2d(channels, channels, 3, padding=1)
        # a coarse path (16 → 8 → 4 pixels and back): each pixel sees the whole image, so a square comes
        # out as one shape rather than scattered blobs
        self.down = nn.ModuleList(nn.Conv2d(channels, channels, 4, stride=2, padding=1) for _ in range(2))
        self.coarse = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_out = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, prompt_ids: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # [B, C, H, W]
        h = h + (self.embed(prompt_ids) + self.time(sigma[:, None]))[:, :, None, None]
        h = torch.nn.functional.silu(h)
        h = torch.nn.functional.silu(self.conv_mid(h))
        g = h
        for conv in self.down:
            g = torch.nn.functional.silu(conv(g))  # [B, C, 8, 8], then [B, C, 4, 4]
        g = torch.nn.functional.silu(self.coarse(g))
        h = h + torch.nn.functional.interpolate(g, size=h.shape[-2:], mode="nearest")
        return self.conv_out(h)


class PixelFlowPolicy:
    """The `FlowPolicy` of the toy: latents are pixels in [-1, 1]."""

    latent_shape = (3, 16, 16)
    sampler = "flow"

    def __init__(self, model: TinyVelocityNet):
        self.model = model

    def condition(self, prompts: list[str]) -> torch.Tensor:
        unknown = [p for p in prompts if p not in self.vocabulary]
        if unknown:
            raise ValueError(f"the toy model knows only the prompts {sorted(self.vocabulary)}; got {unknown[0]!r}")
        device = next(self.model.parameters()).device
        return torch.tensor([self.vocabulary[p] for p in prompts], device=device)

    @property
    def vocabulary(self) -> dict[str, int]:
        model = self.model
        while not isinstance(model, TinyVelocityNet):  # through peft's and accelerate's wrappers
            model = model.get_base_model() if hasattr(model, "get_base_model") else model.module
        return model.vocabulary

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.model(x, sigma, condition)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.clamp(-1, 1) + 1) / 2).float()  # [B, 3, H, W] in [0, 1]


def squares(color: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 3, 16, 16] in [-1, 1]: a square of `color` (random size and place) on white."""
    images = torch.ones(n, 3, 16, 16)
    value = torch.tensor(RGB[color], dtype=torch.float32)[:, None, None] / 127.5 - 1
    for i in range(n):
        size = int(torch.randint(5, 9, (1,), generator=generator))
        x, y = (int(v) for v in torch.randint(1, 16 - size, (2,), generator=generator))
        images[i, :, y : y + size, x : x + size] = value
    return images


def pretrain(
    steps: int = 600, batch: int = 64, seed: int = 0, colors_for: dict[str, list[str]] | None = None, lr: float = 2e-3
) -> PixelFlowPolicy:
    """Flow matching from scratch (x_σ = (1−σ)·x₀ + σ·ε, target v = ε − x₀).

    `colors_for` maps each prompt to the colours its training images may have; by default the
    prompt "a square" sees every colour, so the pretrained model draws squares of any colour and
    a reward for one colour has something to improve.
    """
    colors_for = colors_for or {"a square": list(COLORS), **{f"a {c} square": [c] for c in COLORS}}
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    prompts = sorted(colors_for)
    model = TinyVelocityNet(prompts)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        ids = torch.randint(0, len(prompts), (batch,), generator=generator)
        x0 = torch.cat(
            [
                squares(
                    colors_for[prompts[i]][int(torch.randint(len(colors_for[prompts[i]]), (1,), generator=generator))],
                    1,
                    generator,
                )
                for i in ids
            ]
        )
        sigma = torch.rand(batch, generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        x = (1 - sigma[:, None, None, None]) * x0 + sigma[:, None, None, None] * noise
        loss = ((model(x, sigma, ids) - (noise - x0)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return PixelFlowPolicy(model)


def redness(images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """A toy reward: how red the image is where it is not white (mean over non-white pixels)."""
    r, g, b = images[:, 0], images[:, 1], images[:, 2]  # [B, H, W]
    ink = (images.min(dim=1).values < 0.8).float()
    red = (r - (g + b) / 2).clamp(min=0) * ink
    return (red.flatten(1).sum(1) / ink.flatten(1).sum(1).clamp(min=1)).detach()
