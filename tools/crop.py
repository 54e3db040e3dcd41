"""`crop` and `zoom`: look closely at one region of an image."""

from __future__ import annotations

import math
from typing import Annotated

from PIL import Image
from pydantic import Field

from scrutiny.tools.base import ImageArg, ImageResult, tool
from scrutiny.tools.boxes import Box, PixelBox, Units, to_pixels

READABLE_SIDE_PX = 224
"""Crops whose shorter side is below this are upscaled (integer factor, at most 4x) for reading."""
MAX_SIDE_PX = 4096


class CropResult(ImageResult):
    box_px: PixelBox
    """The region cut out, in pixels of the input image."""
    width: int
    height: int
    scale: float = Field(description="Upscaling applied to the cut-out region (1 = none).")


@tool
def crop(image: ImageArg, box: Box, units: Units = "norm1000") -> CropResult:
    """Cut out one region to look at it closely (a hand, a face, a line of text).

    Small regions are enlarged so that their shorter side is at least 224 pixels.

    Args:
        image: Name of the image to crop (candidate_0, source, crop_1, ...).
        box: Region as [x1, y1, x2, y2].
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
    """
    px = to_pixels(box, units, image.size)
    region = image.crop(px)
    short = min(region.size)
    scale = min(4, math.ceil(READABLE_SIDE_PX / short)) if short < READABLE_SIDE_PX else 1
    return _result(region, px, scale)


@tool
def zoom(
    image: ImageArg, box: Box, factor: Annotated[float, Field(ge=1.0, le=8.0)] = 2.0, units: Units = "norm1000"
) -> CropResult:
    """Enlarge one region by a factor to inspect fine detail (small text, fingers, texture).

    Args:
        image: Name of the image to zoom into.
        box: Region as [x1, y1, x2, y2].
        factor: Magnification between 1 and 8; the result's longer side is capped at 4096 pixels.
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
    """
    px = to_pixels(box, units, image.size)
    region = image.crop(px)
    return _result(region, px, min(float(factor), MAX_SIDE_PX / max(region.size)))


def _result(region: Image.Image, px: PixelBox, scale: float) -> CropResult:
    if scale > 1:
        size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
        region = region.resize(size, Image.Resampling.LANCZOS)
    return CropResult(image=region, box_px=px, width=region.width, height=region.height, scale=scale)
