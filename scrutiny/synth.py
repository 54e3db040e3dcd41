"""Synthetic scenes with known content: signs with text and canvases of coloured shapes.

Examples, benchmarks and tests judge these because their ground truth is exact (the text drawn,
each shape's colour and box). Pillow's built-in font (Aileron) is always available; the DejaVu
fonts are used when the system has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    "dejavu-sans": DEJAVU / "DejaVuSans.ttf",
    "dejavu-serif": DEJAVU / "DejaVuSerif.ttf",
    "dejavu-mono-bold": DEJAVU / "DejaVuSansMono-Bold.ttf",
}
RGB = {
    "red": (220, 30, 30), "orange": (250, 140, 0), "yellow": (250, 220, 30), "green": (30, 170, 60),
    "blue": (30, 60, 220), "purple": (140, 40, 200), "pink": (255, 150, 190), "brown": (120, 70, 20),
    "black": (15, 15, 15), "white": (255, 255, 255), "gray": (128, 128, 128), "cyan": (0, 200, 220),
}


def available_fonts() -> list[str]:
    """Font names usable with `font()` on this machine; "aileron" is always first."""
    return ["aileron"] + [name for name, path in FONT_FILES.items() if path.exists()]


def font(name: str = "aileron", size: int = 48) -> ImageFont.FreeTypeFont:
    if name == "aileron":
        return ImageFont.load_default(size=size)
    if name not in FONT_FILES or not FONT_FILES[name].exists():
        raise ValueError(f"font {name!r} is not available here; choose from {available_fonts()}")
    return ImageFont.truetype(str(FONT_FILES[name]), size)


def sign(
    text: str,
    *,
    size: tuple[int, int] = (640, 320),
    font_name: str = "aileron",
    font_size: int = 56,
    background: tuple[int, int, int] = (245, 240, 225),
    color: tuple[int, int, int] = (20, 20, 20),
    angle: float = 0.0,
) -> Image.Image:
    """A sign: `text` (newlines allowed) centred on a plain background, optionally rotated."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    face = font(font_name, font_size)
    box = draw.multiline_textbbox((0, 0), text, font=face, align="center")
    x = (size[0] - (box[2] - box[0])) / 2 - box[0]
    y = (size[1] - (box[3] - box[1])) / 2 - box[1]
    draw.multiline_text((x, y), text, font=face, fill=color, align="center", spacing=12)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=background)
    return image


@dataclass(frozen=True)
class Shape:
    kind: str  # circle, square, rectangle, triangle, pentagon, hexagon
    color: str
    box: tuple[int, int, int, int]  # [x1, y1, x2, y2], x2/y2 exclusive


def shapes(items: list[Shape], size: tuple[int, int] = (512, 512), background: str = "white") -> Image.Image:
    """A canvas with the given shapes drawn on it, in order."""
    image = Image.new("RGB", size, RGB[background])
    draw = ImageDraw.Draw(image)
    for s in items:
        fill = RGB[s.color]
        x1, y1, x2, y2 = s.box
        inclusive = (x1, y1, x2 - 1, y2 - 1)
        if s.kind == "circle":
            draw.ellipse(inclusive, fill=fill)
        elif s.kind in ("square", "rectangle"):
            draw.rectangle(inclusive, fill=fill)
        elif s.kind == "triangle":
            draw.polygon([(x1, y2 - 1), (x2 - 1, y2 - 1), ((x1 + x2 - 1) / 2, y1)], fill=fill)
        elif s.kind in ("pentagon", "hexagon"):
            sides = 5 if s.kind == "pentagon" else 6
            radius = min(x2 - x1, y2 - y1) / 2
            draw.regular_polygon(((x1 + x2) / 2, (y1 + y2) / 2, radius), sides, fill=fill)
        else:
            raise ValueError(f"unknown shape kind {s.kind!r}")
    return image


def grid(count: int, kind: str, color: str, size: tuple[int, int] = (512, 512), cell: int = 110) -> list[Shape]:
    """`count` shapes of one kind and colour laid out on a grid, with space between them."""
    columns = max(1, (size[0] - 20) // (cell + 20))
    out = []
    for i in range(count):
        row, col = divmod(i, columns)
        x, y = 20 + col * (cell + 20), 20 + row * (cell + 20)
        out.append(Shape(kind, color, (x, y, x + cell, y + cell)))
    return out
