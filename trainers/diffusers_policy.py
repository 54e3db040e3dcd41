"""diffusers pipelines as GRPO policies: SD3-style flow matching, and UNets sampled with DDIM.

    pipe = StableDiffusion3Pipeline.from_pretrained(path, torch_dtype=torch.bfloat16).to("cuda")
    trainer = GRPOTrainer(SD3FlowPolicy(pipe, height=512, width=512, guidance_scale=4.5), reward_fn, config)

The transformer is what GRPO trains (through LoRA); text encoders and the VAE stay frozen.
Classifier-free guidance (Flow-GRPO trains with 4.5) doubles the batch inside `velocity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class SD3Condition:
    prompt_embeds: torch.Tensor  # [B, L, D]
    pooled: torch.Tensor  # [B, P]
    negative_embeds: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None


class SD3FlowPolicy:
    sampler = "flow"

    def __init__(
        self,
        pipe: Any,
        *,
        height: int = 512,
        width: int = 512,
        guidance_scale: float = 1.0,
        max_sequence_length: int = 256,
    ):
        factor = pipe.vae_scale_factor
        if height % (factor * 2) or width % (factor * 2):
            raise ValueError(
                f"height and width must be multiples of {factor * 2} for this pipeline, got {height}x{width}"
            )
        self.pipe = pipe
        self.model = pipe.transformer
        self.guidance_scale = guidance_scale
        self.max_sequence_length = max_sequence_length
        self.latent_shape = (pipe.transformer.config.in_channels, height // factor, width // factor)
        for module in (pipe.vae, pipe.text_encoder, pipe.text_encoder_2, pipe.text_encoder_3):
            if module is not None:
                # frozen, and in eval mode: a text encoder with dropout on (a model built from config
                # starts in train mode) encodes a prompt differently at sampling and at the recompute
                module.requires_grad_(False).eval()

    @torch.no_grad()
    def condition(self, prompts: list[str]) -> SD3Condition:
        guided = self.guidance_scale > 1.0
        embeds, negative, pooled, negative_pooled = self.pipe.encode_prompt(
            prompts, None, None, do_classifier_free_guidance=guided, max_sequence_length=self.max_sequence_length
        )
        return SD3Condition(embeds, pooled, negative if guided else None, negative_pooled if guided else None)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: SD3Condition) -> torch.Tensor:
        timestep = sigma * 1000  # the scheduler's timesteps are sigmas scaled to 0..1000
        if condition.negative_embeds is None:
            return self.model(
                hidden_states=x,
                timestep=timestep,
                encoder_hidden_states=condition.prompt_embeds,
                pooled_projections=condition.pooled,
                return_dict=False,
            )[0]
        both = self.model(
            hidden_states=torch.cat([x, x]),
            timestep=torch.cat([timestep, timestep]),
            encoder_hidden_states=torch.cat([condition.negative_embeds, condition.prompt_embeds]),
            pooled_projections=torch.cat([condition.negative_pooled, condition.pooled]),
            return_dict=False,
        )[0]
        unconditional, conditional = both.chunk(2)
        # as Flow-GRPO: the policy gradient flows through the conditional branch only
        unconditional = unconditional.detach()
        return unconditional + self.guidance_scale * (conditional - unconditional)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        latents = x / vae.config.scaling_factor + vae.config.shift_factor
        images = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
        return (images / 2 + 0.5).clamp(0, 1).float()  # [B, 3, H, W]


class UNetDDIMPolicy:
    """A diffusers UNet pipeline (Stable Diffusion 1.x/2.x) sampled with DDIM, as in DDPO.

    The UNet is trained; `ddim_schedule` follows the pipeline's scheduler config ("leading"
    timestep spacing, as diffusers' DDIMScheduler).
    """

    sampler = "ddim"

    def __init__(self, pipe: Any, *, height: int = 512, width: int = 512, guidance_scale: float = 1.0):
        factor = pipe.vae_scale_factor
        self.pipe = pipe
        self.model = pipe.unet
        self.guidance_scale = guidance_scale
        self.latent_shape = (pipe.unet.config.in_channels, height // factor, width // factor)
        for module in (pipe.vae, pipe.text_encoder):
            module.requires_grad_(False).eval()  # frozen and deterministic (see SD3FlowPolicy)

    def ddim_schedule(self, steps: int) -> list[tuple[int, float, float]]:
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler.from_config(self.pipe.scheduler.config)
        scheduler.set_timesteps(steps)
        alphas = scheduler.alphas_cumprod
        stride = scheduler.config.num_train_timesteps // steps
        out = []
        for t in scheduler.timesteps.tolist():
            prev = t - stride
            out.append(
                (t, float(alphas[t]), float(alphas[prev]) if prev >= 0 else float(scheduler.final_alpha_cumprod))
            )
        return out

    @torch.no_grad()
    def condition(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        guided = self.guidance_scale > 1.0
        embeds, negative = self.pipe.encode_prompt(prompts, self.pipe.unet.device, 1, guided)
        return embeds, negative if guided else None

    def noise_prediction(self, x: torch.Tensor, t: torch.Tensor, condition) -> torch.Tensor:
        embeds, negative = condition
        if negative is None:
            return self.model(x, t, encoder_hidden_states=embeds).sample
        both = self.model(
            torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=torch.cat([negative, embeds])
        ).sample
        unconditional, conditional = both.chunk(2)
        # as Flow-GRPO: the policy gradient flows through the conditional branch only
        unconditional = unconditional.detach()
        return unconditional + self.guidance_scale * (conditional - unconditional)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        images = vae.decode(x / vae.config.scaling_factor, return_dict=False)[0]
        return (images / 2 + 0.5).clamp(0, 1).float()
