import asyncio

import numpy as np
import pytest
from PIL import Image

from scrutiny.core.images import image_hash
from scrutiny.generators import CallableGenerator, DiffusersEditGenerator, DiffusersGenerator, as_generator


@pytest.mark.slow
def test_tiny_diffusers_text_to_image_pipeline(tiny_sd):
    generator = as_generator(tiny_sd)
    assert isinstance(generator, DiffusersGenerator)
    generator.call_kwargs.update(num_inference_steps=2, height=32, width=32)
    images = asyncio.run(generator.agenerate(["a red circle", "a blue square"], [1, 2]))
    assert [im.size for im in images] == [(32, 32), (32, 32)] and all(im.mode == "RGB" for im in images)
    again = asyncio.run(generator.agenerate(["a red circle"], [1]))
    assert image_hash(again[0]) == image_hash(images[0])  # the seed fixes the image
    other_seed = asyncio.run(generator.agenerate(["a red circle"], [3]))
    assert image_hash(other_seed[0]) != image_hash(images[0])


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_tiny_diffusers_edit_pipeline(tiny_pix2pix):
    source = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    generator = as_generator(tiny_pix2pix, source=source)
    assert isinstance(generator, DiffusersEditGenerator)
    generator.call_kwargs.update(num_inference_steps=2)
    (edited,) = asyncio.run(generator.agenerate(["make the cat red"], [0]))
    assert edited.size == (32, 32)


def test_callables_sync_and_async():
    def draw(prompt, seed):
        return np.full((8, 8, 3), seed, np.uint8)

    async def adraw(prompt, seed):
        return Image.new("RGB", (8, 8), (seed, 0, 0))

    sync = asyncio.run(as_generator(draw).agenerate(["a", "b"], [3, 4]))
    assert [np.asarray(im)[0, 0, 0] for im in sync] == [3, 4]
    both = asyncio.run(CallableGenerator(adraw).agenerate(["a"], [7]))
    assert np.asarray(both[0])[0, 0].tolist() == [7, 0, 0]
    with pytest.raises(ValueError, match="must be callable"):
        CallableGenerator("not a function")
