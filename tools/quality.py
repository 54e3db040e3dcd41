"""`quality`: no-reference image quality measures, each mapped to [0, 1] (1 = good).

Mappings (documented here because trainers read them as rewards):
- sharpness: variance of the Laplacian of the grayscale image, `1 - exp(-var / 150)`;
  a crisp photo or drawing scores above 0.9, a Gaussian blur of sigma 3 below 0.3.
- exposure: the luminance range in use, `clip((p99 - p1) / 200, 0, 1)` with p1 and p99 the 1st and
  99th luminance percentiles: crushed, washed-out and blank images score low, while a drawing
  with a white background and dark ink uses the whole range and scores 1.
- noise: sigma from Immerkær's fast estimator (a Laplacian-difference mask over the image,
  1996), `exp(-sigma / 10)`.
- blockiness: mean luminance jump across 8x8 block borders over the jump inside blocks
  (JPEG artefacts raise it above 1); `clip(2 - ratio, 0, 1)`.
- colourfulness: Hasler & Süsstrunk's M (2003), `M / (M + 40)`; grayscale scores 0.
- detail: how little of the image is one flat colour: with `flat` the share of pixels in the most
  common colour (RGB quantised to 8 levels per channel), `clip((1 - flat) / 0.5, 0, 1)`. Text or
  shapes on an empty canvas score low, photographs and scenes high. It is not part of `overall`
  (flat graphic design is legitimate); reward-hacking guards use it.
- overall: the weighted mean (sharpness 0.35, exposure 0.2, noise 0.2, blockiness 0.15,
  colourfulness 0.1).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from scrutiny.tools.base import ImageArg, ToolResult, tool

WEIGHTS = {"sharpness": 0.35, "exposure": 0.2, "noise": 0.2, "blockiness": 0.15, "colorfulness": 0.1}


class QualityResult(ToolResult):
    sharpness: float
    exposure: float
    noise: float
    blockiness: float
    colorfulness: float
    detail: float
    overall: float
    raw: dict[str, float]
    """The measurements before mapping (Laplacian variance, luminance percentiles, sigma, ratio, M)."""


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær (1996): sigma of additive Gaussian noise from one image."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    height, width = gray.shape
    response = np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel))[1:-1, 1:-1]
    return float(response.sum() * math.sqrt(math.pi / 2) / (6 * (width - 2) * (height - 2)))


def block_ratio(gray: np.ndarray) -> float:
    """Mean horizontal+vertical jump on 8-pixel grid lines over the mean jump elsewhere."""
    dx = np.abs(np.diff(gray, axis=1))
    dy = np.abs(np.diff(gray, axis=0))
    on_x, on_y = dx[:, 7::8], dy[7::8, :]
    off_x = (dx.sum() - on_x.sum()) / max(dx.size - on_x.size, 1)
    off_y = (dy.sum() - on_y.sum()) / max(dy.size - on_y.size, 1)
    on = (on_x.mean() if on_x.size else 0.0) + (on_y.mean() if on_y.size else 0.0)
    return float(on / max(off_x + off_y, 1e-6))


@tool
def quality(image: ImageArg) -> QualityResult:
    """Measure sharpness, exposure, noise, JPEG blockiness and colourfulness, each in [0, 1].

    Args:
        image: Name of the image to measure.
    """
    rgb = np.asarray(image).astype(np.float32)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    laplacian_var = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    p1, p99 = (float(v) for v in np.percentile(gray, [1, 99]))
    sigma = noise_sigma(gray)
    ratio = block_ratio(gray)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    levels = np.asarray(image, dtype=np.uint16) // 32  # [H, W, 3] in 0..7
    bins = np.bincount((levels[..., 0] * 64 + levels[..., 1] * 8 + levels[..., 2]).ravel(), minlength=512)
    flat = float(bins.max() / bins.sum())
    colorfulness_m = float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))
    scores = {
        "sharpness": 1 - math.exp(-laplacian_var / 150),
        "exposure": (p99 - p1) / 200,
        "noise": math.exp(-sigma / 10),
        "blockiness": float(np.clip(2 - ratio, 0, 1)),
        "colorfulness": colorfulness_m / (colorfulness_m + 40),
    }
    scores = {k: round(float(np.clip(v, 0, 1)), 6) for k, v in scores.items()}
    overall = round(sum(WEIGHTS[k] * v for k, v in scores.items()), 6)
    detail = round(float(np.clip((1 - flat) / 0.5, 0, 1)), 6)
    raw = {
        "laplacian_var": laplacian_var,
        "luminance_p1": p1,
        "luminance_p99": p99,
        "noise_sigma": sigma,
        "block_ratio": ratio,
        "colorfulness_m": colorfulness_m,
        "flat_share": flat,
    }
    return QualityResult(**scores, detail=detail, overall=overall, raw={k: round(v, 6) for k, v in raw.items()})
