"""Generators: prompts and seeds in, images out — adapters for diffusers pipelines and callables.

diffusers and torch are imported only when a diffusers adapter runs, so `import scrutiny` stays
light. Every adapter is async; blocking work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from PIL import Image

from scrutiny.core.images import ImageInput, load_image


class CallableGenerator:
    """A plain function `fn(prompt, seed) -> image` (sync or async) as a generator."""

    def __init__(self, fn: Callable[[str, int], Any]):
        if not callable(fn):
            raise ValueError(f"a generator must be callable as fn(prompt, seed); got {type(fn).__name__}")
        self.fn = fn

    async def agenerate(self, prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        if inspect.iscoroutinefunction(self.fn):
            outputs = await asyncio.gather(*(self.fn(p, s) for p, s in zip(prompts, seeds)))
        else:
            outputs = await asyncio.to_thread(lambda: [self.fn(p, s) for p, s in zip(prompts, seeds)])
        return [load_image(o) for o in outputs]


class DiffusersGenerator:
    """Any diffusers text-to-image pipeline (`pipe(prompt=[...], generator=[...]).images`).

    Args:
        pipe: a loaded pipeline, e.g. `StableDiffusion3Pipeline.from_pretrained(...)`.
        **call_kwargs: passed to every call (num_inference_steps, guidance_scale, height, ...).
    """

    def __init__(self, pipe: Any, **call_kwargs: Any):
        self.pipe = pipe
        self.call_kwargs = call_kwargs

    def _generators(self, seeds: list[int]) -> list[Any]:
        import torch

        device = getattr(self.pipe, "device", "cpu")
        return [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def _call(self, prompts: list[str], seeds: list[int], **extra: Any) -> list[Image.Image]:
        output = self.pipe(
            prompt=prompts, generator=self._generators(seeds), output_type="pil", **self.call_kwargs, **extra
        )
        return [load_image(image) for image in output.images]

    async def agenerate(self, prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        return await asyncio.to_thread(self._call, prompts, seeds)


class DiffusersEditGenerator(DiffusersGenerator):
    """A diffusers image-edit pipeline (InstructPix2Pix, FLUX Kontext, Qwen-Image-Edit, ...): the
    source image and the instruction (the prompt) in, the edited image out."""

    def __init__(self, pipe: Any, source: ImageInput, **call_kwargs: Any):
        super().__init__(pipe, **call_kwargs)
        self.source = load_image(source)

    async def agenerate(self, prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        return await asyncio.to_thread(self._call, prompts, seeds, image=[self.source] * len(prompts))


def as_generator(obj: Any, source: ImageInput | None = None) -> Any:
    """Wrap a diffusers pipeline or a callable; objects with `agenerate` pass through."""
    if callable(getattr(obj, "agenerate", None)):
        return obj
    if type(obj).__module__.startswith("diffusers"):
        return DiffusersEditGenerator(obj, source) if source is not None else DiffusersGenerator(obj)
    return CallableGenerator(obj)
