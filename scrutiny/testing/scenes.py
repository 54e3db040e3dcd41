"""Synthetic scenes with known content: signs with text and canvases of coloured shapes.

Examples, benchmarks and tests judge these because their ground truth is exact (the text drawn,
each shape's colour and box). Pillow's built-in font (Aileron) is always available; the DejaVu
fonts are used when the system has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    "dejavu-sans": DEJAVU / "DejaVuSans.ttf",
    "dejavu-serif": DEJAVU / "DejaVuSerif.ttf",
    "dejavu-mono-bold": DEJAVU / "DejaVuSansMono-Bold.ttf",
}
RGB = {
    "red": (220, 30, 30),
    "orange": (250, 140, 0),
    "yellow": (250, 220, 30),
    "green": (30, 170, 60),
    "blue": (30, 60, 220),
    "purple": (140, 40, 200),
    "pink": (255, 150, 190),
    "brown": (120, 70, 20),
    "black": (15, 15, 15),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "cyan": (0, 200, 220),
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


# Preference pairs with a known answer: (prompt, better image, worse image), for accuracy checks,
# benchmarks and skill evolution.

KINDS = ("text", "count", "color", "position", "edit")
HARD_KINDS = (
    "whole_frame",
    "colored_removal",
    "recolor",
    "wrong_shape_addition",
    "dark_background",
    "textured_background",
    "scene_text",
    "case",
    "tiny_text",
    "extra_text",
)
"""The measured failure classes of the offline checks, one hard set each (see `benchmarks/accuracy.py`)."""
DARK = {"black": (15, 15, 15), "brown": (92, 61, 63), "navy": (20, 25, 70), "charcoal": (50, 50, 55)}
DISTRACTORS = ("SALE", "www.example.com", "est. 1987", "OPEN", "Since 1950", "PARKING")
SHAPE_KINDS = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
NUMBER_NAMES = ("zero", "one", "two", "three", "four", "five", "six")


@dataclass(frozen=True)
class Pair:
    kind: str
    prompt: str
    better: Image.Image
    worse: Image.Image
    source: Image.Image | None = None


def misspell(text: str, rng) -> str:
    """One typo in a word of at least 3 letters: swapped, replaced or dropped letter."""
    spots = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    i = spots[rng.integers(len(spots))]
    kind = rng.integers(3)
    if kind == 0 and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if text[i].isupper() else "abcdefghijklmnopqrstuvwxyz"
        choices = [c for c in alphabet if c != text[i]]
        return text[:i] + choices[rng.integers(len(choices))] + text[i + 1 :]
    return text[:i] + text[i + 1 :]


def fitted_sign(text: str, size: tuple[int, int] = (768, 384), font_name: str = "aileron") -> Image.Image:
    """A sign with the largest font size (up to 72) at which the text fits in one line."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font_size = 72
    while font_size > 16 and draw.textlength(text, font=font(font_name, font_size)) > size[0] - 60:
        font_size -= 4
    return sign(text, size=size, font_name=font_name, font_size=font_size)


def preference_pairs(kind: str, n: int, seed: int = 0, texts: list[str] | None = None) -> list[Pair]:
    """`n` pairs of one kind whose better image is known by construction."""
    rng = np.random.default_rng(seed)
    pairs = []
    for k in range(n):
        shape = SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))]
        color, other = (COLORS[i] for i in rng.choice(len(COLORS), 2, replace=False))
        if kind == "text":
            target = (
                texts[k % len(texts)] if texts else ["OPEN 24 HOURS", "FRESH BREAD", "Cafe Luna", "NO PARKING"][k % 4]
            )
            pairs.append(
                Pair(kind, f'A sign that says "{target}"', fitted_sign(target), fitted_sign(misspell(target, rng)))
            )
        elif kind == "count":
            count = int(rng.integers(1, 6))
            wrong = count + (1 if count == 1 or rng.integers(2) else -1)
            prompt = f"{NUMBER_NAMES[count]} {color} {shape}{'s' if count > 1 else ''} on a white background"
            pairs.append(
                Pair(
                    kind, prompt, shapes(grid(count, shape, color, cell=90)), shapes(grid(wrong, shape, color, cell=90))
                )
            )
        elif kind == "color":
            count = int(rng.integers(1, 4))
            prompt = f"{NUMBER_NAMES[count]} {color} {shape}{'s' if count > 1 else ''}"
            pairs.append(
                Pair(
                    kind, prompt, shapes(grid(count, shape, color, cell=90)), shapes(grid(count, shape, other, cell=90))
                )
            )
        elif kind == "position":
            other_shape = next(s for s in SHAPE_KINDS if s != shape)
            y = int(rng.integers(60, 300))
            a, b = (40, y, 180, y + 140), (330, y, 470, y + 140)
            prompt = f"a {color} {shape} to the left of a {other} {other_shape}"
            good = shapes([Shape(shape, color, a), Shape(other_shape, other, b)])
            bad = shapes([Shape(shape, color, b), Shape(other_shape, other, a)])
            pairs.append(Pair(kind, prompt, good, bad))
        elif kind == "edit":
            source = _textured_scene(rng)
            x, y = int(rng.integers(40, 200)), int(rng.integers(40, 200))
            faithful = source.copy()
            ImageDraw.Draw(faithful).rectangle((x, y, x + 79, y + 79), fill=RGB[color])
            sloppy = faithful.copy()
            sx, sy = (x + 220) % 400 + 20, (y + 200) % 400 + 20
            ImageDraw.Draw(sloppy).ellipse((sx, sy, sx + 69, sy + 69), fill=RGB[other])
            pairs.append(Pair(kind, f"Add a {color} square", faithful, sloppy, source))
        elif kind in HARD_KINDS:
            pairs.append(_hard_pair(kind, k, rng, shape, color, other, texts))
        else:
            raise ValueError(f"unknown pair kind {kind!r}; choose from {KINDS + HARD_KINDS}")
    return pairs


SIGN_TEXTS = ("OPEN 24 HOURS", "FRESH BREAD", "Cafe Luna", "NO PARKING", "EXIT", "Bakery", "Hotel Royal", "STOP")


def _hard_pair(kind: str, k: int, rng, shape: str, color: str, other: str, texts: list[str] | None) -> Pair:
    """One pair of a hard class; `k` alternates the variant where a class has two."""
    target = texts[k % len(texts)] if texts else SIGN_TEXTS[k % len(SIGN_TEXTS)]
    make = _HARD.get(kind)
    if make is None:
        raise ValueError(f"unknown pair kind {kind!r}")
    return make(kind, k, rng, shape, color, other, target)


def _whole_frame(kind, k, rng, shape, color, other, target) -> Pair:
    """A faithful addition against one that also repaints the whole picture."""
    source = _textured_scene(rng)
    x, y = int(rng.integers(40, 360)), int(rng.integers(40, 360))
    faithful = source.copy()
    ImageDraw.Draw(faithful).rectangle((x, y, x + 89, y + 89), fill=RGB[color])
    shifted = np.asarray(source).astype(np.int16) + np.array([40, -25, 30]) * (1 if k % 2 else -1)
    repainted = Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8))
    ImageDraw.Draw(repainted).rectangle((x, y, x + 89, y + 89), fill=RGB[color])
    return Pair(kind, f"Add a {color} square", faithful, repainted, source)


def _colored_removal(kind, k, rng, shape, color, other, target) -> Pair:
    """Two shapes of one kind; the instruction names one by its colour."""
    background = ("white", "gray", "black")[k % 3]
    a, b = Shape(shape, color, (60, 160, 200, 300)), Shape(shape, other, (310, 160, 450, 300))
    source = shapes([a, b], background=background)
    right, wrong = shapes([b], background=background), shapes([a], background=background)
    return Pair(kind, f"Remove the {color} {shape}", right, wrong, source)


def _recolor(kind, k, rng, shape, color, other, target) -> Pair:
    """Recolour the named shape, not the other one."""
    other_shape = next(s for s in SHAPE_KINDS if s != shape)
    base = "green" if color != "green" else "blue"
    a, b = Shape(shape, base, (60, 160, 200, 300)), Shape(other_shape, base, (310, 160, 450, 300))
    source = shapes([a, b])
    right = shapes([Shape(shape, color, a.box), b])
    wrong = shapes([a, Shape(other_shape, color, b.box)])
    verb = ("Make the {s} {c}", "Recolor the {s} {c}", "Paint the {s} {c}")[k % 3]
    return Pair(kind, verb.format(s=shape, c=color), right, wrong, source)


def _wrong_shape_addition(kind, k, rng, shape, color, other, target) -> Pair:
    other_shape = next(s for s in SHAPE_KINDS if s != shape)
    source = _textured_scene(rng)
    x, y = int(rng.integers(40, 360)), int(rng.integers(40, 360))
    right, wrong = (shapes_on(source, [Shape(s, color, (x, y, x + 100, y + 100))]) for s in (shape, other_shape))
    return Pair(kind, f"Add {'an' if color[0] in 'aeiou' else 'a'} {color} {shape}", right, wrong, source)


def _busy_background(kind, k, rng, shape, color, other, target) -> Pair:
    """Counted shapes on a dark or a textured background: the wrong colour or the wrong count."""
    count = int(rng.integers(1, 5))
    plural = "s" if count > 1 else ""
    if kind == "dark_background":
        name, fill = list(DARK.items())[k % len(DARK)]
        color = color if color not in ("purple", "blue") else "yellow"  # keep the shapes visible

        def draw(items):
            return _on(Image.new("RGB", (512, 512), fill), items)

        prompt = f"{NUMBER_NAMES[count]} {color} {shape}{plural} on a {name} background"
    else:
        scene = _textured_scene(rng)

        def draw(items):
            return shapes_on(scene, items)

        prompt = f"{NUMBER_NAMES[count]} {color} {shape}{plural}"
    if k % 2:  # the wrong colour
        worse = draw(grid(count, shape, other if other != color else "white", cell=90))
    else:  # the wrong count
        worse = draw(grid(count + (1 if count == 1 or rng.integers(2) else -1), shape, color, cell=90))
    return Pair(kind, prompt, draw(grid(count, shape, color, cell=90)), worse)


def _scene_text(kind, k, rng, shape, color, other, target) -> Pair:
    words = [DISTRACTORS[i] for i in rng.choice(len(DISTRACTORS), 2, replace=False)]
    seed = int(rng.integers(1 << 30))
    return Pair(
        kind,
        f'A storefront with a sign that says "{target}"',
        _with_words(storefront(target, seed=seed), words),
        _with_words(storefront(misspell(target, rng), seed=seed), words),
    )


def _case(kind, k, rng, shape, color, other, target) -> Pair:
    shown = (str.upper, str.lower, str.title)[k % 3](target)
    asked = target if shown != target else target.swapcase()
    return Pair(kind, f'A sign that says "{asked}"', fitted_sign(shown), fitted_sign(misspell(shown, rng)))


def _tiny_text(kind, k, rng, shape, color, other, target) -> Pair:
    return Pair(kind, f'A poster with the words "{target}"', _tiny(target, k), _tiny(misspell(target, rng), k))


def _extra_text(kind, k, rng, shape, color, other, target) -> Pair:
    extra = DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
    wrong = fitted_sign(misspell(target, rng))
    better = _footer(fitted_sign(target), extra)
    worse = _footer(wrong, extra) if k % 2 == 0 else wrong
    return Pair(kind, f'A sign that says "{target}"', better, worse)


_HARD = {
    "whole_frame": _whole_frame,
    "colored_removal": _colored_removal,
    "recolor": _recolor,
    "wrong_shape_addition": _wrong_shape_addition,
    "dark_background": _busy_background,
    "textured_background": _busy_background,
    "scene_text": _scene_text,
    "case": _case,
    "tiny_text": _tiny_text,
    "extra_text": _extra_text,
}
"""The maker of each hard class's pairs."""


def _on(image: Image.Image, items: list[Shape]) -> Image.Image:
    draw = ImageDraw.Draw(image)
    for s in items:
        drawn = shapes([s], size=image.size, background="white")
        mask = Image.fromarray(((np.asarray(drawn) != 255).any(axis=2) * 255).astype("uint8"))
        draw.bitmap((0, 0), mask, fill=RGB[s.color])
    return image


def shapes_on(background: Image.Image, items: list[Shape]) -> Image.Image:
    """The shapes drawn over a copy of `background` (a photo-like scene, a dark canvas)."""
    return _on(background.copy(), items)


def _with_words(image: Image.Image, words: list[str]) -> Image.Image:
    """Unrequested words painted on small signs near the top and bottom of a scene."""
    draw = ImageDraw.Draw(image)
    face = font("aileron", max(14, image.size[0] // 20))
    for word, y in zip(words, (int(image.size[1] * 0.08), int(image.size[1] * 0.8)), strict=False):
        width = draw.textlength(word, font=face)
        x = int(_distractor_x(image.size[0], width, y))
        draw.rectangle((x - 8, y - 6, x + width + 8, y + face.size + 10), fill=(235, 235, 235))
        draw.text((x, y), word, font=face, fill=(30, 30, 30))
    return image


def _distractor_x(width: int, text_width: float, y: int) -> float:
    """Where a distractor starts: left on the upper sign, right on the lower one."""
    return 20 if y < width / 2 else max(20.0, width - text_width - 28)


def _footer(image: Image.Image, words: str) -> Image.Image:
    """Smaller unrequested text under the sign's line ("www.example.com", "est. 1987")."""
    draw = ImageDraw.Draw(image)
    face = font("aileron", 28)
    width = draw.textlength(words, font=face)
    draw.text(((image.size[0] - width) / 2, image.size[1] - 60), words, font=face, fill=(60, 60, 60))
    return image


def _tiny(text: str, k: int) -> Image.Image:
    """A large poster with the text about 1% of the image height, in one of four places."""
    image = Image.new("RGB", (2000, 1400), (235, 230, 215))
    draw = ImageDraw.Draw(image)
    face = font("aileron", 20)
    width = draw.textlength(text, font=face)
    x = (200, 1700 - width, 200, 1700 - width)[k % 4]
    y = (150, 150, 1200, 1200)[k % 4]
    draw.text((x, y), text, font=face, fill=(25, 25, 25))
    return image


def _textured_scene(rng, size: int = 512) -> Image.Image:
    """A photo-like source for edits: smooth gradients, soft blobs and mild noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack(
        [
            90 + 60 * np.sin(xx / 47 + rng.random() * 6),
            110 + 50 * np.cos(yy / 53 + rng.random() * 6),
            100 + 40 * np.sin((xx + yy) / 71),
        ],
        axis=2,
    )
    base += rng.normal(0, 3, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def storefront(text: str, size: int = 512, seed: int = 0) -> Image.Image:
    """A photo-like scene with a sign showing `text`: what a faithful text rendering looks like."""
    image = _textured_scene(np.random.default_rng(seed), size)
    draw = ImageDraw.Draw(image)
    margin, top = size // 9, int(size * 0.35)
    draw.rectangle((margin, top, size - margin, top + size // 4), fill=(245, 240, 225))
    face = font("aileron", max(16, size // 11))
    while draw.textlength(text, font=face) > size - 2 * margin - 20 and face.size > 12:
        face = font("aileron", face.size - 2)
    box = draw.textbbox((0, 0), text, font=face)
    x = (size - (box[2] - box[0])) / 2 - box[0]
    y = top + (size // 4 - (box[3] - box[1])) / 2 - box[1]
    draw.text((x, y), text, font=face, fill=(20, 20, 20))
    return image


def tiled_text(text: str, size: int = 512, rows: int = 6) -> Image.Image:
    """The target text tiled over a blank canvas: a classic hack of OCR rewards."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    face = font("aileron", size // 17)
    for r in range(rows):
        for c in range(2):
            draw.text((10 + c * size // 2, 10 + r * size // rows), text, font=face, fill="black")
    return image


class ToyGenerator:
    """A stand-in text-to-image model whose output depends on how explicit the prompt is.

    It draws the sign text of the prompt (its first quoted span) with two typos, one typo fewer
    for each time the prompt repeats the text in a sentence saying it "must read exactly"; and
    for a count ("three red circles") it draws one shape too few until the prompt says "exactly".
    Examples and tests use it to show the refine loop raising the score round by round.
    """

    def __call__(self, prompt: str, seed: int) -> Image.Image:
        import re

        rng = np.random.default_rng(seed)
        quoted = re.findall(r'"([^"]+)"', prompt)
        if quoted:
            text = quoted[0]
            for _ in range(max(0, 2 - prompt.count("must read exactly"))):
                text = misspell(text, rng)
            return fitted_sign(text)
        count = re.search(r"\b(one|two|three|four|five|six)\s+(\w+)\s+(circle|square|triangle)s?\b", prompt)
        if count:
            n = NUMBER_NAMES.index(count.group(1))
            drawn = n if "exactly" in prompt else max(0, n - 1)
            return shapes(grid(drawn, count.group(3), count.group(2), cell=90))
        return Image.new("RGB", (256, 256), "white")
