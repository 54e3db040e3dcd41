"""`diff`: what an edit changed, and how well everything else was preserved.

The changed-region mask marks pixels whose CIE Lab colour moved by more than `threshold`
(after a light blur, so resampling noise does not count), cleaned by a morphological opening and
closing. Preservation is the structural similarity (SSIM, Wang et al. 2004, on luminance with a
Gaussian window) averaged over the pixels outside the changed region — or outside the region
the instruction named, when `region` is given.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image
from pydantic import Field

from scrutiny.core.images import pixels
from scrutiny.tools.base import ImageArg, ToolResult, tool
from scrutiny.tools.boxes import Box, Units, to_pixels

MIN_REGION_FRACTION = 0.0005


class DiffResult(ToolResult):
    changed_fraction: float = Field(description="Share of pixels that changed.")
    regions: list[tuple[int, int, int, int]] = Field(
        description="Boxes [x1, y1, x2, y2] of changed regions, largest first."
    )
    preserved_ssim: float = Field(description="SSIM outside the changed (or named) region, in [0, 1].")
    outside_changed_fraction: float | None = Field(
        None, description="With `region`: share of pixels outside it that changed (0 = nothing else touched)."
    )
    inside_changed_fraction: float | None = Field(
        None, description="With `region`: share of pixels inside it that changed."
    )
    resized: bool = Field(description="True when the edit had another size and was resized to the source's.")
    mask: Image.Image = Field(exclude=True)

    def produced_images(self) -> dict[str, Image.Image]:
        return {"mask": self.mask}


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two grayscale float images in [0, 255]."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def change_mask(source: np.ndarray, edited: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 mask (1 = changed) from two RGB uint8 arrays of the same size."""
    lab_s = cv2.cvtColor(cv2.GaussianBlur(source, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_e = cv2.cvtColor(cv2.GaussianBlur(edited, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    distance = np.linalg.norm(lab_s - lab_e, axis=2)
    mask = (distance > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)


@tool(memo=True)
def diff(
    image: ImageArg, source: ImageArg, region: Box | None = None, units: Units = "norm1000", threshold: float = 12.0
) -> DiffResult:
    """Compare an edited image with its source: where it changed and how much else stayed the same.

    Args:
        image: Name of the edited image.
        source: Name of the source image the edit started from.
        region: Optional box [x1, y1, x2, y2] the edit was meant to change; everything outside it
            should be preserved.
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
        threshold: Colour distance (CIE Lab) above which a pixel counts as changed.
    """
    resized = image.size != source.size
    if resized:
        image = image.resize(source.size, Image.Resampling.LANCZOS)
    src, edt = pixels(source), pixels(image)
    mask = change_mask(src, edt, threshold)
    outside = mask == 0
    inside_fraction = outside_fraction = None
    if region is not None:
        x1, y1, x2, y2 = to_pixels(region, units, source.size)
        named = np.zeros_like(mask, dtype=bool)
        named[y1:y2, x1:x2] = True
        outside = ~named
        inside_fraction = float(mask[named].mean())
        outside_fraction = float(mask[outside].mean()) if outside.any() else 0.0
    gray_s = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray_e = cv2.cvtColor(edt, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ssim = ssim_map(gray_s, gray_e)
    preserved = float(np.clip(ssim[outside].mean(), 0.0, 1.0)) if outside.any() else 1.0
    return DiffResult(
        changed_fraction=round(float(mask.mean()), 6),
        regions=_regions(mask),
        preserved_ssim=round(preserved, 6),
        outside_changed_fraction=None if outside_fraction is None else round(outside_fraction, 6),
        inside_changed_fraction=None if inside_fraction is None else round(inside_fraction, 6),
        resized=resized,
        mask=Image.fromarray(mask * 255),
    )


def _regions(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = MIN_REGION_FRACTION * mask.size
    boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= min_area]
    boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
    return [(x, y, x + w, y + h) for x, y, w, h in boxes]
