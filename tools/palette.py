"""`palette`: which named colours cover an image or a region, and how much of it."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from scrutiny.core.images import pixels
from scrutiny.tools.base import ImageArg, ToolResult, tool
from scrutiny.tools.boxes import Box, Units, to_pixels
from scrutiny.tools.detect import COLOR_NAMES, color_map


class PaletteResult(ToolResult):
    shares: dict[str, float] = Field(description="Share of pixels per colour name, largest first, shares >= 0.5%.")
    box_px: tuple[int, int, int, int]


@tool(memo=True)
def palette(image: ImageArg, box: Box | None = None, units: Units = "norm1000") -> PaletteResult:
    """Name the colours in an image, or in one region of it, with the share of pixels each covers.

    Colour names: black, white, gray, red, orange, yellow, green, cyan, blue, purple, pink, brown.

    Args:
        image: Name of the image to look at.
        box: Optional region [x1, y1, x2, y2]; the whole image by default.
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
    """
    px = to_pixels(box, units, image.size) if box is not None else (0, 0, image.width, image.height)
    rgb = pixels(image)[px[1] : px[3], px[0] : px[2]]
    counts = np.bincount(color_map(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)).ravel(), minlength=len(COLOR_NAMES))
    shares = {COLOR_NAMES[i]: round(float(c) / counts.sum(), 4) for i, c in enumerate(counts)}
    shares = {name: share for name, share in sorted(shares.items(), key=lambda kv: -kv[1]) if share >= 0.005}
    return PaletteResult(shares=shares, box_px=px)
