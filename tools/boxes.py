"""Boxes: `[x1, y1, x2, y2]` in 0–1000 normalised coordinates (as Qwen2.5-VL emits) or pixels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from scrutiny.tools.base import ToolError

Box = Annotated[
    list[float],
    Field(min_length=4, max_length=4, description="[x1, y1, x2, y2], left-top and right-bottom corners."),
]
Units = Literal["norm1000", "pixel"]
PixelBox = tuple[int, int, int, int]

MIN_SIDE_PX = 2


def to_pixels(box: list[float], units: Units, size: tuple[int, int]) -> PixelBox:
    """Validate a box and convert it to integer pixel corners inside an image of `size` (w, h).

    Raises `ToolError` naming the problem: corners in the wrong order, outside the image, or a
    box too small to show anything.
    """
    width, height = size
    x1, y1, x2, y2 = box
    limit_x, limit_y = (1000.0, 1000.0) if units == "norm1000" else (float(width), float(height))
    if x2 <= x1 or y2 <= y1:
        raise ToolError(f"box {box}: need x1 < x2 and y1 < y2 (left-top corner first)")
    if min(x1, y1) < 0 or x2 > limit_x or y2 > limit_y:
        where = "0..1000" if units == "norm1000" else f"the {width}x{height} image"
        raise ToolError(f"box {box} ({units}) lies outside {where}")
    if units == "norm1000":
        x1, x2 = x1 * width / 1000.0, x2 * width / 1000.0
        y1, y2 = y1 * height / 1000.0, y2 * height / 1000.0
    px = (int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
    if px[2] - px[0] < MIN_SIDE_PX or px[3] - px[1] < MIN_SIDE_PX:
        raise ToolError(
            f"box {box} ({units}) covers only {px[2] - px[0]}x{px[3] - px[1]} pixels; "
            f"make it at least {MIN_SIDE_PX}x{MIN_SIDE_PX}"
        )
    return px


def to_norm1000(box: PixelBox, size: tuple[int, int]) -> list[int]:
    width, height = size
    x1, y1, x2, y2 = box
    return [round(x1 * 1000 / width), round(y1 * 1000 / height), round(x2 * 1000 / width), round(y2 * 1000 / height)]


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def suppress(finds: list, overlap: float = 0.5) -> list:
    """Per-class non-maximum suppression over (label, confidence, box, ...) tuples: of the finds of one
    label overlapping by more than `overlap` (intersection over union), only the most confident is kept.
    Most confident first."""
    kept: list = []
    for f in sorted(finds, key=lambda f: -f[1]):
        if all(k[0] != f[0] or iou(k[2], f[2]) <= overlap for k in kept):
            kept.append(f)
    return kept
