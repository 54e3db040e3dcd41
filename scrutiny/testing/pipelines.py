"""Diffusion pipelines at toy size, built from config with random weights (nothing downloaded):
what the GRPO tests, `benchmarks/train.py` and `benchmarks/train_gpu.py` train. Needs the `[train]` extra.
"""

from __future__ import annotations

from typing import Any

WORDS = "a an the sign that says open red blue square circle photo of with in style image lamp cat dog sofa happy"
WORDS += " closed add make"


def word_tokenizer(max_length: int):
    """A word-level tokenizer built here (no hub): what tiny text encoders of the tests read."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for word in WORDS.split():
        vocab.setdefault(word, len(vocab))
    words = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=words,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=max_length,
    )


def _clip_config(**extra: Any) -> Any:
    """A two-layer CLIP text encoder, 32 wide, reading `word_tokenizer(16)`."""
    import transformers

    return transformers.CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=64,
        max_position_embeddings=16,
        **extra,
    )


def _t5_config() -> Any:
    """A two-layer T5 encoder, 32 wide."""
    import transformers

    return transformers.T5Config(
        vocab_size=64,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        decoder_start_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
    )


def _in_eval_mode(pipe: Any, *names: str) -> Any:
    """As from_pretrained gives them: built from config, modules start in train mode (dropout on)."""
    for name in names:
        getattr(pipe, name).eval()
    return pipe


def tiny_sd_parts(in_channels: int = 4) -> dict[str, Any]:
    """The parts of a Stable Diffusion 1.x pipeline at toy size (an edit pipeline: `in_channels=8`)."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
        attention_head_dim=4,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=32,
    )
    return dict(
        unet=unet,
        vae=vae,
        text_encoder=transformers.CLIPTextModel(_clip_config()),
        tokenizer=word_tokenizer(16),
        scheduler=diffusers.DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def tiny_sd3() -> Any:
    """A Stable Diffusion 3 pipeline at toy size (random weights, built from config, no hub)."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(0)
    clip, t5 = _clip_config(projection_dim=32), _t5_config()
    transformer = diffusers.SD3Transformer2DModel(
        sample_size=8,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=32,
        shift_factor=0.0609,
        scaling_factor=1.5035,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    pipe = diffusers.StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=transformers.CLIPTextModelWithProjection(clip),
        tokenizer=word_tokenizer(16),
        text_encoder_2=transformers.CLIPTextModelWithProjection(clip),
        tokenizer_2=word_tokenizer(16),
        text_encoder_3=transformers.T5EncoderModel(t5),
        tokenizer_3=word_tokenizer(16),
    )
    return _in_eval_mode(pipe, "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer")


def tiny_flux() -> Any:
    """A FLUX.1 pipeline at toy size (random weights, built from config, no hub), as diffusers' own
    tests build it: one-channel latents packed into 2×2 patches, guidance embedding on (as FLUX.1-dev)."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(0)
    transformer = diffusers.FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=True,
    )
    clip, t5 = _clip_config(), _t5_config()
    vae = diffusers.AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    pipe = diffusers.FluxPipeline(
        transformer=transformer,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
        vae=vae,
        text_encoder=transformers.CLIPTextModel(clip),
        tokenizer=word_tokenizer(16),
        text_encoder_2=transformers.T5EncoderModel(t5),
        tokenizer_2=word_tokenizer(16),
    )
    return _in_eval_mode(pipe, "vae", "text_encoder", "text_encoder_2", "transformer")
