"""diffusers pipelines as GRPO policies: SD3 and FLUX flow matching, and UNets sampled with DDIM.

    pipe = StableDiffusion3Pipeline.from_pretrained(path, torch_dtype=torch.bfloat16).to("cuda")
    trainer = GRPOTrainer(SD3FlowPolicy(pipe, height=512, width=512, guidance_scale=4.5), reward_fn, config)

The transformer (or UNet) is what GRPO trains (through LoRA); text encoders and the VAE stay frozen.
Classifier-free guidance (Flow-GRPO trains SD3 with 4.5) doubles the batch inside `velocity`; FLUX.1-dev
is guidance-distilled and takes the scale as an input instead. The sampling schedule is the pipeline
scheduler's own (its shift, or FLUX's dynamic shift). Latents and log-probabilities stay float32;
the model runs in its own dtype (a bfloat16 pipeline gets bfloat16 inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from scrutiny.trainers.flow import scheduler_sigmas


def _freeze(*modules: Any) -> None:
    for module in modules:
        if module is not None:
            # frozen, and in eval mode: a text encoder with dropout on (a model built from config
            # starts in train mode) encodes a prompt differently at sampling and at the recompute
            module.requires_grad_(False).eval()


@dataclass
class SD3Condition:
    prompt_embeds: torch.Tensor  # [B, L, D]
    pooled: torch.Tensor  # [B, P]
    negative_embeds: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None


def _patch_factor(pipe: Any, height: int, width: int) -> int:
    """The VAE's scale factor, once the image size is checked to fit the transformer's 2×2 patches."""
    factor = pipe.vae_scale_factor
    if height % (factor * 2) or width % (factor * 2):
        raise ValueError(f"height and width must be multiples of {factor * 2} for this pipeline, got {height}x{width}")
    return factor


def _guided(both: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance of a [unconditional; conditional] batch. As Flow-GRPO: the policy
    gradient flows through the conditional branch only."""
    unconditional, conditional = both.chunk(2)
    unconditional = unconditional.detach()
    return unconditional + scale * (conditional - unconditional)


class _TransformerPolicy:
    """What the SD3 and FLUX policies share: the pipeline, its transformer (what GRPO trains) in its own
    dtype, frozen encoders and VAE, the image size checked against the transformer's 2×2 patches, and
    decoding latents to images in [0, 1]."""

    sampler = "flow"

    def __init__(
        self, pipe: Any, height: int, width: int, guidance_scale: float, max_sequence_length: int, encoders: tuple
    ):
        self.factor = _patch_factor(pipe, height, width)
        self.pipe = pipe
        self.model = pipe.transformer
        self.height, self.width = height, width
        self.guidance_scale = guidance_scale
        self.max_sequence_length = max_sequence_length
        self.dtype = pipe.transformer.dtype
        _freeze(pipe.vae, *encoders)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        latents = x / vae.config.scaling_factor + vae.config.shift_factor
        images = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
        return (images / 2 + 0.5).clamp(0, 1).float()  # [B, 3, H, W]


class SD3FlowPolicy(_TransformerPolicy):
    """A Stable Diffusion 3 pipeline (diffusers `StableDiffusion3Pipeline`) as a GRPO policy, with
    classifier-free guidance inside `velocity` when `guidance_scale` > 1 (Flow-GRPO: 4.5)."""

    def __init__(
        self,
        pipe: Any,
        *,
        height: int = 512,
        width: int = 512,
        guidance_scale: float = 1.0,
        max_sequence_length: int = 256,
    ):
        encoders = (pipe.text_encoder, pipe.text_encoder_2, pipe.text_encoder_3)
        super().__init__(pipe, height, width, guidance_scale, max_sequence_length, encoders)
        self.latent_shape = (pipe.transformer.config.in_channels, height // self.factor, width // self.factor)

    def flow_schedule(self, steps: int, shift: float | None = None) -> torch.Tensor:
        """The sigmas the pipeline samples with (its scheduler's shift: 3.0 for SD3), or `shift`."""
        scheduler = self.pipe.scheduler
        if shift is not None:
            scheduler = type(scheduler).from_config(scheduler.config, shift=shift)
        return scheduler_sigmas(scheduler, steps)

    @torch.no_grad()
    def condition(self, prompts: list[str]) -> SD3Condition:
        guided = self.guidance_scale > 1.0
        embeds, negative, pooled, negative_pooled = self.pipe.encode_prompt(
            prompts, None, None, do_classifier_free_guidance=guided, max_sequence_length=self.max_sequence_length
        )
        return SD3Condition(embeds, pooled, negative if guided else None, negative_pooled if guided else None)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: SD3Condition) -> torch.Tensor:
        x, dtype = x.to(self.dtype), self.dtype
        timestep = (sigma * 1000).to(dtype)  # the scheduler's timesteps are sigmas scaled to 0..1000
        if condition.negative_embeds is None:
            return self.model(
                hidden_states=x,
                timestep=timestep,
                encoder_hidden_states=condition.prompt_embeds.to(dtype),
                pooled_projections=condition.pooled.to(dtype),
                return_dict=False,
            )[0].float()
        both = self.model(
            hidden_states=torch.cat([x, x]),
            timestep=torch.cat([timestep, timestep]),
            encoder_hidden_states=torch.cat([condition.negative_embeds, condition.prompt_embeds]).to(dtype),
            pooled_projections=torch.cat([condition.negative_pooled, condition.pooled]).to(dtype),
            return_dict=False,
        )[0].float()
        return _guided(both, self.guidance_scale)


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
        self.dtype = pipe.unet.dtype
        # what the UNet predicts: "epsilon", "v_prediction" (SD 2.x at 768²) or "sample"
        self.prediction_type = pipe.scheduler.config.get("prediction_type", "epsilon")
        _freeze(pipe.vae, pipe.text_encoder)

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

    def prediction(self, x: torch.Tensor, t: torch.Tensor, condition) -> torch.Tensor:
        """The UNet's output (ε, v or x₀: `prediction_type`), guided, in float32."""
        embeds, negative = condition
        x, dtype = x.to(self.dtype), self.dtype
        if negative is None:
            return self.model(x, t, encoder_hidden_states=embeds.to(dtype)).sample.float()
        both = self.model(
            torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=torch.cat([negative, embeds]).to(dtype)
        ).sample.float()
        return _guided(both, self.guidance_scale)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        images = vae.decode((x / vae.config.scaling_factor).to(vae.dtype), return_dict=False)[0]
        return (images / 2 + 0.5).clamp(0, 1).float()


@dataclass
class FluxCondition:
    prompt_embeds: torch.Tensor  # [B, L, D] T5
    pooled: torch.Tensor  # [B, P] CLIP
    text_ids: torch.Tensor  # [L, 3]


class FluxFlowPolicy(_TransformerPolicy):
    """A FLUX.1 pipeline (diffusers `FluxPipeline`) as a GRPO policy.

    Latents are kept unpacked, [C, 2·⌊H/2f⌋, 2·⌊W/2f⌋] (f: the VAE's scale factor), and packed
    into 2×2 patches inside `velocity`, so the SDE step and its log-probability see an image-shaped
    tensor. FLUX.1-dev is guidance-distilled: `guidance_scale` is the transformer's guidance input
    (3.5 by default), not classifier-free guidance. The schedule is FLUX's: sigmas
    linspace(1, 1/N, N) with the dynamic shift μ of the image's sequence length.
    """

    def __init__(
        self,
        pipe: Any,
        *,
        height: int = 512,
        width: int = 512,
        guidance_scale: float = 3.5,
        max_sequence_length: int = 512,
    ):
        super().__init__(
            pipe, height, width, guidance_scale, max_sequence_length, (pipe.text_encoder, pipe.text_encoder_2)
        )
        channels = pipe.transformer.config.in_channels // 4  # packed 2×2 patches
        f = self.factor
        self.latent_shape = (channels, 2 * (height // (f * 2)), 2 * (width // (f * 2)))

    def flow_schedule(self, steps: int, shift: float | None = None) -> torch.Tensor:
        """FLUX's sigmas: the dynamic shift μ for this image size, or a fixed `shift` if given."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        scheduler = self.pipe.scheduler
        if shift is not None:
            config = {**scheduler.config, "use_dynamic_shifting": False, "shift": shift}
            return scheduler_sigmas(type(scheduler).from_config(config), steps, flux=True)
        _, h, w = self.latent_shape
        mu = calculate_shift(
            (h // 2) * (w // 2),
            scheduler.config.get("base_image_seq_len", 256),
            scheduler.config.get("max_image_seq_len", 4096),
            scheduler.config.get("base_shift", 0.5),
            scheduler.config.get("max_shift", 1.15),
        )
        return scheduler_sigmas(scheduler, steps, mu=mu, flux=True)

    @torch.no_grad()
    def condition(self, prompts: list[str]) -> FluxCondition:
        embeds, pooled, text_ids = self.pipe.encode_prompt(
            prompts,
            None,
            device=self.pipe.transformer.device,
            max_sequence_length=self.max_sequence_length,
        )
        return FluxCondition(embeds, pooled, text_ids)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: FluxCondition) -> torch.Tensor:
        pipe, dtype = self.pipe, self.dtype
        b, c, h, w = x.shape
        packed = pipe._pack_latents(x.to(dtype), b, c, h, w)  # [B, h/2·w/2, 4C]
        image_ids = pipe._prepare_latent_image_ids(b, h // 2, w // 2, x.device, dtype)
        guidance = None
        if pipe.transformer.config.guidance_embeds:
            guidance = torch.full((b,), self.guidance_scale, device=x.device, dtype=torch.float32)
        out = self.model(
            hidden_states=packed,
            timestep=sigma.to(dtype),  # FLUX takes the timestep over 1000: the sigma itself
            guidance=guidance,
            pooled_projections=condition.pooled.to(dtype),
            encoder_hidden_states=condition.prompt_embeds.to(dtype),
            txt_ids=condition.text_ids,
            img_ids=image_ids,
            return_dict=False,
        )[0]
        return pipe._unpack_latents(out, self.height, self.width, pipe.vae_scale_factor).float()
