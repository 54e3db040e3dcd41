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
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from scrutiny.core.images import pixels
from scrutiny.tools.base import ImageArg, ToolResult, tool
from scrutiny.tools.degenerate import colour_codes

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


def _filtered(gray: np.ndarray, apply: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
    """`apply` (a 3x3 filter) over the image a strip of rows at a time, each strip given one row of
    its neighbours above and below, so that every row comes out as over the whole image (the image's
    own edges keep OpenCV's border): the float result is a strip's size, not the image's."""
    height = gray.shape[0]
    step = strip_rows(gray.shape[1])
    for y in range(0, height, step):
        top, bottom = max(0, y - 1), min(height, y + step + 1)
        yield apply(gray[top:bottom])[y - top : y - top + min(step, height - y)]


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær (1996): sigma of additive Gaussian noise from one image."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    height, width = gray.shape
    total, y = 0.0, 0
    for rows in _filtered(gray, lambda g: cv2.filter2D(g, cv2.CV_32F, kernel)):
        strip = rows[max(0, 1 - y) : max(0, height - 1 - y), 1:-1]  # the image's edge rows and columns left out
        total += float(cv2.norm(strip, cv2.NORM_L1)) if strip.size else 0.0
        y += len(rows)
    return float(total * math.sqrt(math.pi / 2) / (6 * (width - 2) * (height - 2)))


BINS_PER_LEVEL = 16
"""Histogram bins per luminance level for `percentiles` (a power of two: the binning is exact)."""


def percentiles(gray: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """`np.percentile(gray, qs)` (linear interpolation) without its copy of the image: a histogram a
    strip at a time finds the bins that hold the wanted ranks, and only their values are sorted."""
    flat = gray.reshape(-1)
    n = flat.size
    chunk = strip_rows(gray.shape[1]) * max(gray.shape[1], 1)
    top = 256 * BINS_PER_LEVEL - 1  # luminance is in 0..255

    def bins(part: np.ndarray) -> np.ndarray:  # the floor of a non-negative value, clipped
        return np.clip(part * np.float32(BINS_PER_LEVEL), 0, top).astype(np.intp)

    counts = sum(np.bincount(bins(flat[k : k + chunk]), minlength=top + 1) for k in range(0, n, chunk))
    ends = np.cumsum(counts)
    bin_of = {r: int(np.searchsorted(ends, r, side="right")) for q in qs for r in _ranks(q, n)}
    held: dict[int, list[np.ndarray]] = {b: [] for b in set(bin_of.values())}
    for k in range(0, n, chunk):
        part = flat[k : k + chunk]
        codes = bins(part)
        for b, values in held.items():
            values.append(part[codes == b])
    ordered = {b: np.sort(np.concatenate(values)) for b, values in held.items()}

    def at(rank: int) -> float:
        b = bin_of[rank]
        return float(ordered[b][rank - (ends[b] - counts[b])])

    out = []
    for q in qs:
        low, high = _ranks(q, n)
        out.append(at(low) + (at(high) - at(low)) * (q / 100 * (n - 1) - low))
    return out


def _ranks(q: float, n: int) -> tuple[int, int]:
    index = q / 100 * (n - 1)
    low = int(math.floor(index))
    return low, min(low + 1, n - 1)


def laplacian_variance(gray: np.ndarray) -> float:
    """The variance of the Laplacian of the image (sharpness), from per-strip sums."""
    n, total, squares = 0, 0.0, 0.0
    for rows in _filtered(gray, lambda g: cv2.Laplacian(g, cv2.CV_32F)):
        mean, std = cv2.meanStdDev(rows)
        k = rows.size
        total += float(mean[0, 0]) * k
        squares += (float(std[0, 0]) ** 2 + float(mean[0, 0]) ** 2) * k
        n += k
    return max(squares / n - (total / n) ** 2, 0.0) if n else 0.0


def block_ratio(gray: np.ndarray) -> float:
    """Mean horizontal+vertical jump on 8-pixel grid lines over the mean jump elsewhere, a strip of
    rows at a time (a vertical jump's strip holds one row more)."""
    on_sum = [0.0, 0.0]
    on_n = [0, 0]
    all_sum = [0.0, 0.0]
    all_n = [0, 0]
    height = gray.shape[0]
    step = strip_rows(gray.shape[1])
    for y in range(0, height, step):
        for k, axis in enumerate((1, 0)):
            part = gray[y : y + step] if axis == 1 else gray[y : min(height, y + step + 1)]
            if part.shape[axis] < 2:
                continue
            jumps = np.abs(np.diff(part, axis=axis))
            # grid lines: columns 7, 15, ... of the jumps; rows 7, 15, ... counted from the image's top
            grid = jumps[:, 7::8] if axis == 1 else jumps[(7 - y) % 8 :: 8, :]
            on_sum[k] += float(grid.sum())
            on_n[k] += grid.size
            all_sum[k] += float(jumps.sum())
            all_n[k] += jumps.size
    on = off = 0.0
    for k in range(2):
        if all_n[k]:
            on += on_sum[k] / on_n[k] if on_n[k] else 0.0
            off += (all_sum[k] - on_sum[k]) / max(all_n[k] - on_n[k], 1)
    return float(on / max(off, 1e-6))


STRIP = 2**18
"""Pixels measured at a time where a measure makes float copies (`strip_rows`): a float copy of the
whole image is 4 bytes a pixel per plane, a strip's at most a megabyte; an image up to 512 a side is
one strip."""


def strip_rows(width: int, pixels: int = STRIP) -> int:
    """Rows of a strip of about `pixels` pixels (at least one)."""
    return max(1, pixels // max(width, 1))


def _per_pixel(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """From 8-bit RGB, a strip of rows at a time: the luminance as float32 (as `cvtColor` of the float
    image gives it), the 8-level colour histogram, and the mean and std of the opponent channels
    red-green and yellow-blue (Hasler & Süsstrunk)."""
    gray = np.empty(pixels.shape[:2], np.float32)
    bins = np.zeros(512, np.int64)
    sums = np.zeros(4)  # rg, rg², yb, yb²
    rows = strip_rows(pixels.shape[1], STRIP // 2)  # a strip's float copies are some 7 planes
    for y in range(0, pixels.shape[0], rows):
        part = pixels[y : y + rows]
        rgb = part.astype(np.float32)
        gray[y : y + rows] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rg = rgb[..., 0] - rgb[..., 1]
        yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        for k, v in enumerate((rg, yb)):  # (no BLAS: its idle threads spin on the cores a detector needs)
            v64 = v.astype(np.float64)
            sums[2 * k] += v64.sum()
            sums[2 * k + 1] += np.square(v64).sum()
        bins += np.bincount(colour_codes(part).ravel(), minlength=512)
    n = max(gray.size, 1)
    rg_mean, yb_mean = sums[0] / n, sums[2] / n
    rg_std = math.sqrt(max(sums[1] / n - rg_mean**2, 0.0))
    yb_std = math.sqrt(max(sums[3] / n - yb_mean**2, 0.0))
    return gray, bins, (rg_mean, rg_std, yb_mean, yb_std)


@tool(memo=True)
def quality(image: ImageArg) -> QualityResult:
    """Measure sharpness, exposure, noise, JPEG blockiness and colourfulness, each in [0, 1].

    Args:
        image: Name of the image to measure.
    """
    gray, bins, (rg_mean, rg_std, yb_mean, yb_std) = _per_pixel(pixels(image))
    laplacian_var = laplacian_variance(gray)
    p1, p99 = percentiles(gray, (1, 99))
    sigma = noise_sigma(gray)
    ratio = block_ratio(gray)
    flat = float(bins.max() / bins.sum())
    colorfulness_m = float(math.hypot(rg_std, yb_std) + 0.3 * math.hypot(rg_mean, yb_mean))
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
