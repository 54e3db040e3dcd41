"""`degenerate`: is this a picture at all? Noise, flat fields, periodic patterns, tiled copies,
and text alone on a blank canvas, each measured from the pixels.

A reward that checks what a prompt asks for can be earned by images that show nothing: noise
has every colour and every edge, a flat field has the prompt's colour everywhere, a tiled image
repeats one find, and the prompt's text written on a blank page reads perfectly. The judge gates
such images (a gate can only lower a score, see `agents/judge.py`); this tool supplies the
evidence. Each measure is a number with a threshold, reported whatever the verdict:

- noise: the correlation of neighbouring pixels, at the image's resolution and at 1/2, 1/4 and
  1/8 of it (so noise drawn at a coarser grain and upscaled is caught at its own scale); the
  smallest is `structure`. Photographs and drawings stay above 0.5 at every scale, white noise
  is near 0, and a one-pixel checkerboard is -1.
- flat: the spread left after fitting a plane (a linear gradient) to each channel of a 64-pixel
  thumbnail, in 8-bit levels (`spread`), where almost no pixel (under 0.005%, at 1024 a side)
  stands out of that plane by 24 levels (`marks`). A flat colour or a plain gradient is under 3
  with no marks; one line of small text on a large blank page has a low spread, but 0.03% marks.
- periodic: the highest peak of the circular autocorrelation of the detail (the image less its
  blur) away from the origin (`period_peak`). An image tiled from copies of itself peaks at 1;
  photographs of repeating things (brick, windows, a fence) stay well under 0.75. Not measured on
  a canvas (one colour covering over 60%: shapes on a page repeat on purpose), nor where the
  detail is too faint to repeat (a smooth gradient).
- copies: the best correlation between the panels of a 2x1, 1x2, 2x2, 3x1, 1x3 or 3x3 grid
  (`copy_similarity`), for copies laid out with gaps or borders. On a canvas only near-exact
  copies count (0.97 and up): shapes laid out on a page may repeat, a tiled image repeats exactly.
- text canvas: on a canvas (`canvas_share` >= 0.5), the share of its non-background pixels that
  lie in the boxes of OCR's lines of two or more letters or digits (`text_share`): text alone on
  a blank page is 1, a drawn circle that reads as "O" is not text.
"""

from __future__ import annotations

import functools
from typing import Literal

import cv2
import numpy as np

from scrutiny.core.images import pixels
from scrutiny.tools.base import ImageArg, ToolResult, tool

Finding = Literal["noise", "flat", "periodic", "copies", "text_canvas"]
FINDINGS: tuple[Finding, ...] = ("noise", "flat", "periodic", "copies", "text_canvas")

STRUCTURE = (0.32, 0.45)
"""Neighbour correlation at which an image is noise (at or under the first) or clearly not (the second)."""
SPREAD = (3.0, 6.0)
"""Spread in 8-bit levels after a plane fit at which an image is flat (under the first) or not (the second)."""
MARKS = (0.00005, 0.00015)
"""Share of marked pixels at which a low-spread image is flat (under the first) or a page with something
small on it (the second)."""
PERIOD = (0.75, 0.9)
"""Autocorrelation peak at which an image begins to count as tiled, and fully is."""
COPIES = (0.85, 0.95)
"""Panel correlation at which panels begin to count as copies, and fully are."""
CANVAS_COPIES = (0.97, 0.99)
"""On a canvas, panels must be near-exact copies: shapes laid out on a page may repeat, tiles repeat exactly."""
TEXT = (0.6, 0.8)
"""Share of a canvas's marks inside text boxes at which it begins to be text alone, and fully is."""
CANVAS = 0.5
"""One colour covering this share of the image makes it a canvas (something drawn on a page)."""
PATTERN_CANVAS = 0.6
"""On a canvas this full, repetition is a layout (a grid of shapes), not tiling."""


class DegenerateResult(ToolResult):
    width: int
    height: int
    structure: float
    """The smallest neighbour correlation over four scales (noise is near 0)."""
    spread: float
    """Levels of spread left after a plane fit on a 64-pixel thumbnail (flat is under 3)."""
    marks: float
    """The share of pixels standing out of a plane fit (small text on a large page is some)."""
    period_peak: float
    """Highest circular autocorrelation peak of the detail away from the origin (0 on a canvas)."""
    copy_similarity: float
    """Best correlation between grid panels."""
    canvas_share: float
    """The share of the most common colour (8 levels per channel)."""
    text_share: float | None
    """On a canvas: the share of its marks inside OCR's text boxes; None when OCR did not run."""
    findings: dict[str, float]
    """How degenerate the image is in each way, 0 (not at all) to 1 (fully), from the measures above."""


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below `low`, 1 at or above `high`, linear between."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _gray(rgb: np.ndarray, *sides: int) -> list[np.ndarray]:
    """Luminance as float32, area-shrunk so that the longer side is at most each of `sides` (one
    conversion for all of them)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = gray.shape
    out = []
    for side in sides:
        scale = side / max(h, w)
        size = (max(2, round(w * scale)), max(2, round(h * scale)))
        out.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray)
    return out


def _neighbour_correlation(gray: np.ndarray) -> float:
    """Mean correlation of each pixel with its right and lower neighbours; 1 for a constant image. From
    sums over the centred image (the sums of squares of a side's pixels are the whole image's less one
    edge): five passes over the pixels instead of a dozen."""
    c = gray - np.float32(gray.mean())
    squares = float(np.einsum("ij,ij->", c, c))
    out = []
    for a, b, first, last in ((c[:, :-1], c[:, 1:], c[:, 0], c[:, -1]), (c[:-1, :], c[1:, :], c[0], c[-1])):
        if a.size == 0:  # an image one pixel wide or high has no neighbours that way
            continue
        sa, sb, n = float(a.sum()), float(b.sum()), a.size
        va = squares - float(np.dot(last, last)) - sa * sa / n
        vb = squares - float(np.dot(first, first)) - sb * sb / n
        denom = np.sqrt(max(va, 0.0) * max(vb, 0.0))
        out.append(1.0 if denom < 1e-6 else (float(np.einsum("ij,ij->", a, b)) - sa * sb / n) / denom)
    return float(np.mean(out)) if out else 1.0


def structure(gray: np.ndarray) -> float:
    """The smallest neighbour correlation at full, 1/2, 1/4 and 1/8 resolution (coarser ones while at
    least 16 pixels a side)."""
    values = []
    for factor in (1, 2, 4, 8):
        h, w = gray.shape[0] // factor, gray.shape[1] // factor
        if min(h, w) < 16 and values:
            break
        small = gray if factor == 1 else cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
        values.append(_neighbour_correlation(small))
    return min(values)


def _shrunk(rgb: np.ndarray, side: int) -> np.ndarray:
    """The image area-shrunk so that its longer side is at most `side` (itself if it is already)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    return rgb


def _thumbnail(rgb: np.ndarray, side: int) -> np.ndarray:
    """`_shrunk`, as float32."""
    return _shrunk(rgb, side).astype(np.float32)


def _plane(rgb: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
    """Per channel, the plane (a + b·x + c·y, x and y in 0..1) that best fits a 64-pixel thumbnail
    (`small`, `_thumbnail(rgb, 64)`, made here if not given): [3, 3]."""
    small = _thumbnail(rgb, 64) if small is None else small
    return (_plane_solver(*small.shape[:2]) @ small.reshape(-1, 3).astype(np.float64)).astype(np.float32)


@functools.cache
def _plane_solver(h: int, w: int) -> np.ndarray:
    """The least-squares solver of a plane fit on an h x w thumbnail (its design's pseudo-inverse): [3, h*w]."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.linalg.pinv(np.stack([np.ones(xx.size), xx.ravel() / w, yy.ravel() / h], axis=1))


def _residual(rgb: np.ndarray, side: int, coef: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """What is left of the image, at most `side` pixels a side (`image`, that thumbnail, is taken
    and changed where given), less the plane: [H, W, 3]."""
    image = _thumbnail(rgb, side) if image is None else image
    h, w = image.shape[:2]
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :, None]
    y = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None, None]
    image -= coef[0]
    image -= x * coef[1]
    image -= y * coef[2]
    return image


def spread(rgb: np.ndarray, coef: np.ndarray | None = None, small: np.ndarray | None = None) -> float:
    """The largest per-channel std left after fitting a plane (`coef`, `_plane`), on a 64-pixel thumbnail
    (`small`, `_thumbnail(rgb, 64)`; left unchanged)."""
    coef = _plane(rgb, small) if coef is None else coef
    return float(_residual(rgb, 64, coef, None if small is None else small.copy()).std(axis=(0, 1)).max())


def mark_share(rgb: np.ndarray, coef: np.ndarray | None = None) -> float:
    """The share of pixels (at up to 1024 a side) that stand out of the plane (`coef`, `_plane`) by more
    than `MARK` levels: small text on a large blank page is marks, a plain gradient or faint noise is none.
    Measured a strip of rows at a time: the float copy and its temporaries stay a strip's size (the
    whole image's came to 26 bytes a pixel at 1024 a side)."""
    coef = _plane(rgb) if coef is None else coef
    rgb = _shrunk(rgb, 1024)
    h, w = rgb.shape[:2]
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    y = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    planes = [coef[0, c] + coef[1, c] * x for c in range(3)]  # each channel's plane along a row
    marked = 0
    for top in range(0, h, STRIP):
        strip, rows = rgb[top : top + STRIP].astype(np.float32), y[top : top + STRIP]
        marks = np.zeros(strip.shape[:2], dtype=bool)
        for c in range(3):  # per channel: a reduction over 3 values per pixel is slow
            marks |= np.abs(strip[..., c] - (planes[c] + coef[2, c] * rows)) > MARK
        marked += int(np.count_nonzero(marks))
    return marked / (h * w)


STRIP = 128
"""Rows measured at a time where a measure needs a float copy of the image."""
MARK = 24.0
"""Levels by which a pixel must stand out of the plane fit to be a mark."""


def _detail(gray: np.ndarray) -> np.ndarray:
    """The image less its blur: what repeats when an image is tiled, without the slow shading."""
    return gray - cv2.GaussianBlur(gray, (0, 0), 4)


def period_peak(d: np.ndarray) -> float:
    """The highest circular autocorrelation of the detail `d` (`_detail`) at a shift of 4 pixels or more
    (256-pixel scale). The autocorrelation is the inverse transform of the power spectrum (OpenCV's
    float32 DFT: a seventh of numpy's float64 FFT's time, the same peak to 1e-4)."""
    d = d - d.mean()
    if d.std() < FAINT:
        return 0.0
    spectrum = cv2.dft(d, flags=cv2.DFT_COMPLEX_OUTPUT)
    auto = cv2.idft(cv2.mulSpectrums(spectrum, spectrum, 0, conjB=True), flags=cv2.DFT_REAL_OUTPUT)
    if auto[0, 0] <= 1e-6:
        return 0.0
    auto /= auto[0, 0]
    for y in range(-3, 4):  # shifts under 4 pixels either way (the corners, circularly) are no repeat
        auto[y, np.r_[0:4, -3:0]] = -1.0
    return float(max(auto.max(), 0.0))


FAINT = 1.0
"""Detail (the image less its blur) under this std, in levels, is too faint to call repeated."""
GRIDS = ((2, 1), (1, 2), (2, 2), (3, 1), (1, 3), (3, 3))


def copy_similarity(d: np.ndarray) -> float:
    """The best correlation between two panels of the same grid, on 32-pixel thumbnails of the detail `d`
    (`_detail`). A panel holding only a straight line or a stripe (one singular value carries `LINE_SHARE`
    of its energy: the edge of a sign crossing two panels) is no picture to copy and is left out."""
    if d.std() < FAINT:
        return 0.0
    grids, panels = [], []
    for cols, rows in GRIDS:
        h, w = d.shape[0] // rows, d.shape[1] // cols
        if min(h, w) < 16:
            continue
        grids.append(sum(len(p) for p in panels))
        # one shrink of the grid's whole area to 32 pixels a panel: the same pixel areas as shrinking
        # each panel alone, in one call instead of one per panel
        shrunk = cv2.resize(d[: rows * h, : cols * w], (32 * cols, 32 * rows), interpolation=cv2.INTER_AREA)
        grid = shrunk.reshape(rows, 32, cols, 32).transpose(0, 2, 1, 3).reshape(rows * cols, 32, 32)
        panels.append(grid - grid.mean(axis=(1, 2), keepdims=True))
    if not panels:
        return 0.0
    stack = np.concatenate(panels)
    total = np.einsum("kij,kij->k", stack, stack)
    unit = stack.reshape(len(stack), -1) / np.sqrt(np.maximum(total, 1e-12))[:, None]
    similarity = unit @ unit.T
    energetic = total > (1e-3 * 32 * 32) ** 2
    pairs = _pairs(tuple(grids), len(stack)) & energetic[:, None] & energetic[None, :]
    lines: dict[int, bool] = {}  # a panel's line test, made only for the pairs that could be the best

    def line(k: int) -> bool:
        if k not in lines:
            lines[k] = float(np.linalg.svd(stack[k], compute_uv=False)[0] ** 2) >= LINE_SHARE * float(total[k])
        return lines[k]

    for i, j in sorted(zip(*np.nonzero(pairs)), key=lambda ij: -similarity[ij]):
        if not line(i) and not line(j):
            return max(0.0, float(similarity[i, j]))
    return 0.0


@functools.cache
def _pairs(starts: tuple[int, ...], n: int) -> np.ndarray:
    """[n, n]: True for each pair of panels (i < j) of the same grid, the grids starting at `starts`."""
    grid = np.searchsorted(starts, np.arange(n), side="right")
    return np.triu(grid[:, None] == grid[None, :], 1)


LINE_SHARE = 0.9
"""A panel whose largest singular value carries this share of its energy is a line, not a picture."""


def colour_codes(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's colour at 8 levels per channel, as one number in 0..511 (red * 64 + green * 8 + blue).
    Shifts on the 8-bit values: the same codes as `rgb // 32` in wider integers, at a quarter of the cost."""
    top = rgb >> 5
    return (top[..., 0].astype(np.uint16) << 6) | (top[..., 1].astype(np.uint16) << 3) | top[..., 2]


def canvas(rgb: np.ndarray) -> tuple[float, np.ndarray]:
    """The share of the most common colour (8 levels per channel) and a mask of the other pixels."""
    codes = np.empty(rgb.shape[:2], np.uint16)
    bins = np.zeros(512, np.int64)
    # a strip at a time: the temporaries (bincount's are 8 bytes a pixel) stay small
    for y in range(0, rgb.shape[0], 256):
        codes[y : y + 256] = colour_codes(rgb[y : y + 256])
        bins += np.bincount(codes[y : y + 256].ravel(), minlength=512)
    top = int(bins.argmax())
    return float(bins[top] / codes.size), codes != top


def text_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The boxes of the text OCR reads in an image: lines of two or more letters or digits."""
    from scrutiny.tools.ocr import run_engine

    boxes = []
    for text, confidence, quad in run_engine(np.ascontiguousarray(rgb[:, :, ::-1])):
        if confidence >= 0.5 and is_text(text):
            x1, y1 = np.floor(quad.min(axis=0)).astype(int)
            x2, y2 = np.ceil(quad.max(axis=0)).astype(int)
            boxes.append((int(x1), int(y1), int(x2), int(y2)))
    return boxes


def is_text(line: str) -> bool:
    """Two or more letters or digits: a drawn circle read as "O" is not text."""
    return sum(ch.isalnum() for ch in line) >= 2


def text_share(marks: np.ndarray, boxes: list) -> float:
    """The share of a canvas's marks that lie inside text boxes (each widened by 4 pixels)."""
    inside = np.zeros(marks.shape, dtype=bool)
    for x1, y1, x2, y2 in boxes:
        inside[max(0, y1 - 4) : max(0, y2 + 4), max(0, x1 - 4) : max(0, x2 + 4)] = True
    total = int(marks.sum())
    return float((marks & inside).sum() / total) if total else 0.0


@tool(inline=True, memo=True)  # a few milliseconds of small numpy calls at the working size
def degenerate(
    image: ImageArg, read_text: bool = True, text: list[tuple[int, int, int, int]] | None = None
) -> DegenerateResult:
    """Measure whether an image is a picture at all: noise, a flat field, a tiled pattern, copies
    of one panel, or text alone on a blank canvas, each with its measure.

    Args:
        image: Name of the image to measure.
        read_text: On a blank canvas, read its text to see whether text is all there is.
        text: Pixel boxes [x1, y1, x2, y2] of the text already read in the image; then it is not read again.
    """
    rgb = pixels(image)
    gray, small = _gray(rgb, 512, 256)
    share, marks = canvas(rgb)
    patterned = share < PATTERN_CANVAS
    detail = _detail(small)
    peak = period_peak(detail) if patterned else 0.0
    copies = copy_similarity(detail)
    texts = None
    if read_text and share >= CANVAS and marks.any():
        texts = text_share(marks, text_boxes(rgb) if text is None else text)
    thumbnail = _thumbnail(rgb, 64)
    plane = _plane(rgb, thumbnail)
    measures = {
        "structure": structure(gray),
        "spread": spread(rgb, plane, thumbnail),
        "marks": mark_share(rgb, plane),
    }
    findings = {
        "noise": 1.0 - ramp(measures["structure"], *STRUCTURE),
        "flat": (1.0 - ramp(measures["spread"], *SPREAD)) * (1.0 - ramp(measures["marks"], *MARKS)),
        "periodic": ramp(peak, *PERIOD),
        "copies": ramp(copies, *(COPIES if patterned else CANVAS_COPIES)),
        "text_canvas": ramp(texts, *TEXT) if texts is not None else 0.0,
    }
    return DegenerateResult(
        width=image.width,
        height=image.height,
        structure=round(measures["structure"], 6),
        spread=round(measures["spread"], 6),
        marks=round(measures["marks"], 6),
        period_peak=round(peak, 6),
        copy_similarity=round(copies, 6),
        canvas_share=round(share, 6),
        text_share=None if texts is None else round(texts, 6),
        findings={k: round(v, 6) for k, v in findings.items()},
    )
