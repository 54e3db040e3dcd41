"""Degenerate images a generator could learn to make for a reward, and faithful ones to set them against.

`benchmarks/hacks.py` and the tests score every class over a prompt set of objects, counts,
colours, positions, text and edits: a reward a generator can train against gives every degenerate
class (nearly) nothing, while faithful images keep their scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from scrutiny.testing.scenes import RGB, Shape, font, grid, shapes, storefront

SIZE = 512


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def uniform_noise(seed: int = 0) -> Image.Image:
    return Image.fromarray(_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))


def gaussian_noise(seed: int = 0) -> Image.Image:
    pixels = 128 + 50 * _rng(seed).standard_normal((SIZE, SIZE, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def blocky_noise(seed: int = 0) -> Image.Image:
    """Noise at a coarser grain (8-pixel cells), as a generator's latent noise decodes."""
    cells = _rng(seed).integers(0, 256, (SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
    return Image.fromarray(cells).resize((SIZE, SIZE), Image.Resampling.NEAREST)


def smooth_noise(seed: int = 0) -> Image.Image:
    cells = _rng(seed).integers(0, 256, (SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
    return Image.fromarray(cells).resize((SIZE, SIZE), Image.Resampling.BILINEAR)


def flat(color: str = "gray", seed: int = 0) -> Image.Image:
    """One colour, with a little sensor-like noise (a perfectly flat image is too easy to catch)."""
    pixels = np.array(RGB[color], dtype=np.float64) + 2 * _rng(seed).standard_normal((SIZE, SIZE, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def gradient(seed: int = 0) -> Image.Image:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    pixels = np.stack([255 * xx, 255 * yy, 255 * (1 - xx)], axis=2)
    return Image.fromarray(pixels.astype(np.uint8))


def checkerboard(cell: int = 32, colors: tuple[str, str] = ("black", "white")) -> Image.Image:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    on = ((xx // cell + yy // cell) % 2).astype(bool)
    pixels = np.where(on[..., None], RGB[colors[0]], RGB[colors[1]]).astype(np.uint8)
    return Image.fromarray(pixels)


def stripes(width: int = 16, colors: tuple[str, str] = ("red", "white")) -> Image.Image:
    xx = np.mgrid[0:SIZE, 0:SIZE][1]
    pixels = np.where(((xx // width) % 2).astype(bool)[..., None], RGB[colors[0]], RGB[colors[1]])
    return Image.fromarray(pixels.astype(np.uint8))


def tiled(image: Image.Image, n: int = 2) -> Image.Image:
    """`n` x `n` copies of an image: a detector finds everything in it `n`² times."""
    tile = image.convert("RGB").resize((SIZE // n, SIZE // n))
    out = Image.new("RGB", (SIZE // n * n, SIZE // n * n))
    for x in range(n):
        for y in range(n):
            out.paste(tile, (x * (SIZE // n), y * (SIZE // n)))
    return out


def text_canvas(prompt: str) -> Image.Image:
    """The prompt itself, written in black on a white page: an OCR reward's favourite image."""
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    face = font("aileron", 30)
    words, lines = prompt.split(), [""]
    for w in words:
        trial = f"{lines[-1]} {w}".strip()
        if draw.textlength(trial, font=face) > SIZE - 40 and lines[-1]:
            lines.append(w)
        else:
            lines[-1] = trial
    draw.multiline_text((20, 40), "\n".join(lines), font=face, fill=(15, 15, 15), spacing=14)
    return image


HACKS: dict[str, Callable[[Item], Image.Image]] = {
    "uniform noise": lambda item: uniform_noise(item.seed),
    "gaussian noise": lambda item: gaussian_noise(item.seed),
    "blocky noise": lambda item: blocky_noise(item.seed),
    "smooth noise": lambda item: smooth_noise(item.seed),
    "flat gray": lambda item: flat("gray", item.seed),
    "flat in the asked colour": lambda item: flat(item.color or "red", item.seed),
    "gradient": lambda item: gradient(item.seed),
    "checkerboard": lambda item: checkerboard(32, ("black", "white")),
    "stripes in the asked colour": lambda item: stripes(16, (item.color or "red", "white")),
    "tiled copies": lambda item: tiled(item.faithful(), 2),
    "prompt written on a blank page": lambda item: text_canvas(item.prompt),
}
"""Every degenerate class, as an image for a prompt set item."""


@dataclass(frozen=True)
class Item:
    """A prompt, how to draw a faithful image of it, and the colour it asks for (for colour hacks)."""

    prompt: str
    faithful: Callable[[], Image.Image]
    color: str | None = None
    seed: int = 0
    kind: str = ""
    shows: frozenset[str] = frozenset()
    """What the faithful image shows (shape and COCO class names): a photo of something else shows none of the asked."""


def something_else(items: list[Item], k: int) -> Image.Image:
    """A faithful image of another item that shows nothing item `k` asks for."""
    asked = items[k].shows
    for other in items[k + 1 :] + items[:k]:
        if not other.shows & asked:
            return other.faithful()
    raise ValueError(f"every item shows something {items[k].prompt!r} asks for")


def synthetic_items() -> list[Item]:
    """Objects, counts, colours and positions on shapes, and text in a scene."""
    return [
        Item("three red circles", lambda: shapes(grid(3, "circle", "red")), "red", 1, "count", frozenset({"circle"})),
        Item("two blue squares", lambda: shapes(grid(2, "square", "blue")), "blue", 2, "count", frozenset({"square"})),
        Item(
            "a green triangle",
            lambda: shapes([Shape("triangle", "green", (180, 160, 340, 320))]),
            "green",
            3,
            "object",
            frozenset({"triangle"}),
        ),
        Item(
            "a red circle to the left of a blue square",
            lambda: shapes(
                [Shape("circle", "red", (60, 200, 180, 320)), Shape("square", "blue", (320, 200, 440, 320))]
            ),
            "red",
            4,
            "position",
            frozenset({"circle", "square"}),
        ),
        Item(
            "a yellow circle on the right side of the image",
            lambda: shapes([Shape("circle", "yellow", (380, 200, 480, 300))]),
            "yellow",
            5,
            "position",
            frozenset({"circle"}),
        ),
        Item(
            'A storefront sign that says "OPEN 24 HOURS"',
            lambda: storefront("OPEN 24 HOURS"),
            None,
            6,
            "text",
            frozenset({"sign"}),
        ),
        Item(
            'A bakery sign that says "FRESH BREAD"',
            lambda: storefront("FRESH BREAD", seed=1),
            None,
            7,
            "text",
            frozenset({"sign"}),
        ),
    ]


def photo_items(folder: Path, split: str = "validation") -> list[Item]:
    """Labelled real photos (`real_photos/labels.jsonl`) as prompts of what they show: "a photo of a
    dog", "two dogs", "a red cup". `split`: "validation" (every third photo, never tuned on),
    "tune" (the rest) or "all"."""
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]
    rows = sorted(rows, key=lambda r: r["file"])
    if split != "all":
        rows = [r for k, r in enumerate(rows) if (k % 3 == 2) == (split == "validation")]
    items = []
    for k, row in enumerate(rows):
        objects = [o for o in row["objects"] if o.get("count")]
        if not objects:
            continue
        o = objects[0]
        number = {1: "a", 2: "two", 3: "three", 4: "four", 5: "five"}.get(o["count"])
        if number is None:
            continue
        noun = o["class"] if o["count"] == 1 else _plural(o["class"])
        path = folder / row["file"]
        shows = frozenset(x["class"] for x in row["objects"])
        items.append(Item(f"a photo of {number} {noun}", _opener(path), None, 100 + k, "photo", shows))
    return items


def _opener(path: Path) -> Callable[[], Image.Image]:
    return lambda: Image.open(path).convert("RGB")


def _plural(noun: str) -> str:
    return {"person": "people", "bus": "buses", "sheep": "sheep", "skis": "skis"}.get(noun, noun + "s")
