"""Sample grids: a trained policy's images per prompt, as one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from scrutiny.trainers.grpo import GRPOTrainer


def grid_image(rows: list[tuple[str, torch.Tensor]], path: str | Path) -> Path:
    """A PNG with a row of tiles per (label, images [N, 3, H, W] in [0, 1])."""
    from PIL import Image, ImageDraw

    width = max(len(images) for _, images in rows) * 100
    grid = Image.new("RGB", (width, 116 * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for r, (label, images) in enumerate(rows):
        pixels = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for k, p in enumerate(pixels):
            grid.paste(Image.fromarray(p).resize((96, 96), Image.Resampling.NEAREST), (k * 100 + 2, r * 116 + 18))
        draw.text((4, r * 116 + 2), label[:100], fill="black")
    path = Path(path)
    grid.save(path)
    return path


def sample_grid(trainer: GRPOTrainer, path: str | Path, per_prompt: int = 8, seed: int = 1234) -> Path:
    """A PNG of `per_prompt` samples of each training prompt (a row each), from fixed seeds, so grids
    saved before and after training show what the policy learned to draw, not only its reward."""
    rows = []
    for prompt in trainer.config.prompts:
        generator = torch.Generator(device=trainer.device).manual_seed(seed)
        rows.append((prompt, trainer.sample([prompt] * per_prompt, generator).images))
    return grid_image(rows, path)
