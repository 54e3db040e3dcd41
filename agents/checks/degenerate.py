"""The degenerate-image check: one room for how it is written, planned, scored and restated.

Every rubric the judge uses carries this gate (`gate_for`): an image that is noise, a flat field,
a tiled pattern, copies of one panel, or text alone on a blank canvas where a scene was asked
scores 0 overall, whatever its content criteria say (`ScoreParts`). What the prompt itself asks
for is allowed: "a checkerboard pattern" is not held to be periodic, "the word HELLO on white"
is not held to be a text canvas. For an edit, whatever the source image already was is allowed.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import JudgeState, Observation, ToolRequest
from scrutiny.core.schema import (
    AttributeCheck,
    Criterion,
    DegenerateCheck,
    DegenerateFinding,
    ObjectCheck,
    RelationCheck,
    TextCheck,
)
from scrutiny.tools.coco import COCO_CLASSES
from scrutiny.tools.degenerate import CANVAS, is_text

GATE_ID = "degenerate"
STATEMENT = "The image is a picture, not noise, a flat field, a tiled pattern, copies, or text alone on a blank canvas"

ASKS = {
    "noise": r"\b(noise|noisy|static|grainy|film grain|tv snow)\b",
    "flat": r"\b(solid|flat|plain|blank|empty|uniform|monochrom\w*|gradient|single[- ]colou?r\w*|all[- ]\w+ image)\b",
    "periodic": r"\b(pattern\w*|textur\w*|til(e|es|ed|ing)|seamless|repeat\w*|wallpaper|checker\w*|stripe[sd]?|plaid"
    r"|tartan|polka|grid|mosaic|fabric|tessellat\w*|halftone)\b",
    "copies": r"\b(collage|grid of|panels?|comic|triptych|diptych|side[- ]by[- ]side|split[- ]screen|sprite ?sheet"
    r"|contact sheet|multiple views|til(e|es|ed|ing)|repeat\w*|copies|identical)\b",
}
"""Words that ask for what a finding measures: a prompt that uses them is not gated on it."""
TEXT_CARRIERS = {
    "text", "word", "words", "letter", "letters", "lettering", "typography", "font", "calligraphy", "quote",
    "slogan", "headline", "title", "caption", "logo", "wordmark", "message", "phrase", "sentence", "page", "paper",
    "document", "note", "card", "poster", "flyer", "label", "sticker", "sign", "signboard", "placard", "plaque",
    "banner", "notice", "background",
}  # fmt: skip
"""Flat things that carry text: text filling a blank canvas, seen head-on, is such a thing. A chalkboard
menu, a T-shirt, a storefront or a wooden sign (a material, a place) is a thing in a scene, and text
alone on a blank canvas does not show it."""
PLAIN_KINDS = {"circle", "square", "rectangle", "triangle", "pentagon", "hexagon", "star", "background", "any"}
"""What the shape detector finds: flat shapes on a canvas are what such a prompt asks for."""


def allowed(prompt: str, criteria: list[Criterion]) -> list[DegenerateFinding]:
    """The findings a prompt asks for: its words ("a striped pattern"), or text alone on a canvas
    when all it asks for is text, flat shapes, colours and text on a page ("a poster that says ...")."""
    lower = prompt.lower()
    out: list[DegenerateFinding] = [f for f, pattern in ASKS.items() if re.search(pattern, lower)]
    many = any(
        isinstance(c.check, ObjectCheck) and (c.check.count or 0) >= MANY and c.check.detect not in COCO_CLASSES
        for c in criteria
    )
    if many and "periodic" not in out:  # "sixteen squares" may well be laid out in rows
        out.append("periodic")
    if "periodic" in out and "copies" not in out:  # a repeating pattern's panels copy one another
        out.append("copies")
    if asks_for_plain(criteria):
        out.append("text_canvas")
    return out


MANY = 4
"""From this count on, a prompt's objects may repeat in a regular layout: periodicity is not held against it.
Not for things the COCO detector counts: four copies of one dog photo are a tiled image, not four dogs
(each copy would count), and photographs of many real things stay well under the tiling measures."""


def asks_for_plain(criteria: list[Criterion]) -> bool:
    """Whether every content criterion is text, a flat shape or colour, or text on a page (a poster,
    a logo, a card): then text or shapes on a blank canvas is exactly what was asked."""
    content = [c for c in criteria if c.dimension not in ("quality", "safety", "degenerate")]
    return bool(content) and all(_plain(c) for c in content)


def _plain(c: Criterion) -> bool:
    """Text, a colour, a flat shape, or a plain text carrier ("a sign", "a red poster"; not "a wooden sign")."""
    k = c.check
    if isinstance(k, TextCheck):
        return True
    if isinstance(k, AttributeCheck) and k.object is None:  # "the image contains red"
        return True
    if isinstance(k, AttributeCheck) and k.attribute != "color":  # "a wooden sign": a thing in a scene
        return False
    if not isinstance(k, ObjectCheck | RelationCheck | AttributeCheck):
        return False
    kinds = {getattr(k, f, None) for f in ("detect", "subject_detect", "object_detect")} - {None}
    nouns = {getattr(k, f, None) for f in ("object", "subject")} - {None}
    phrases = {getattr(k, f, "") for f in ("phrase", "subject_phrase", "object_phrase")} - {""}
    carriers = bool(nouns) and all(n.split()[-1] in TEXT_CARRIERS and len(n.split()) == 1 for n in nouns)
    modified = any(len(p.split()) > 1 and p.split()[-2] not in COLOUR_WORDS for p in phrases)
    return (bool(kinds) and kinds <= PLAIN_KINDS) or (carriers and not modified)


COLOUR_WORDS = {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey"}


def gate_for(prompt: str, criteria: list[Criterion]) -> Criterion:
    """The degenerate-image gate for a rubric, allowing what its prompt asks for."""
    return Criterion(
        id=GATE_ID,
        statement=STATEMENT,
        dimension="degenerate",
        tools=["degenerate"],
        origin="given",
        check=DegenerateCheck(allow=allowed(prompt, criteria)),
        met=0.5,
    )


def with_gate(prompt: str, criteria: list[Criterion]) -> list[Criterion]:
    """`criteria` with the gate added, unless it has one already."""
    if any(isinstance(c.check, DegenerateCheck) for c in criteria):
        return criteria
    return criteria + [gate_for(prompt, criteria)]


# planning and scoring (offline)

PURPOSE, SOURCE_PURPOSE = "degenerate", "degenerate source"


def steps(c: Criterion) -> list[str]:
    """None for a policy's planner: the judge measures the gate itself, for every policy (`plan`)."""
    return []


def plan(state: JudgeState, i: int, c: Criterion) -> list[ToolRequest]:
    """Measure the candidate (and the source of an edit, whose findings are then allowed). Text is
    read on a blank canvas only when text alone there would be held against the image."""
    read_text = "text_canvas" not in c.check.allow
    arguments = {"image": f"candidate_{i}", "read_text": read_text}
    if read_text and (boxes := _read(state, f"candidate_{i}")) is not None:
        arguments["text"] = boxes  # the image was read already: not again
    requests = [ToolRequest("degenerate", arguments, i, [c.id], PURPOSE)]
    if "source" in state["images"]:
        source = {"image": "source", "read_text": read_text}
        requests.append(ToolRequest("degenerate", source, i, [c.id], SOURCE_PURPOSE))
    return requests


def on_pixels(request: ToolRequest) -> ToolRequest:
    """The request measured on pixels alone, without reading text (to start before any tool has read it)."""
    arguments = {k: v for k, v in request.arguments.items() if k != "text"} | {"read_text": False}
    return ToolRequest(request.tool, arguments, request.candidate, request.criteria, request.purpose)


def settles(measured: Observation, request: ToolRequest) -> bool:
    """Whether a measurement on pixels alone (`on_pixels`) is what `request` would measure: it reads no
    text, or the image is no blank canvas (text is read only on one). A failed one is made again."""
    result = measured.result
    if result is None:
        return False
    return not request.arguments.get("read_text") or result.canvas_share < CANVAS


def _read(state: JudgeState, image: str) -> list[list[int]] | None:
    """The boxes of the text lines an OCR call on the whole of `image` read, if one ran."""
    for o in state.get("observations", []):
        r = o.request
        if r.tool == "ocr" and r.arguments.get("image") == image and "box" not in r.arguments and o.result:
            return [list(line.box) for line in o.result.lines if is_text(line.text)]
    return None


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    """1 minus the strongest finding not allowed; the rationale names the finding and its measure."""
    check: DegenerateCheck = c.check
    obs = seen.get(PURPOSE)
    if obs is None or obs.result is None:
        return Scored(None, "the image was not measured", [])
    findings, used = dict(obs.result.findings), [obs]
    source = seen.get(SOURCE_PURPOSE)
    inherited = set()
    if source is not None and source.result is not None:
        inherited = {f for f, v in source.result.findings.items() if v >= 0.5}
        used.append(source)
    held = {f: v for f, v in findings.items() if f not in check.allow and f not in inherited and v > 0}
    if not held:
        allowed_seen = [f for f, v in findings.items() if v > 0]
        note = f" ({', '.join(allowed_seen)}: asked for)" if allowed_seen else ""
        return Scored(1.0, f"a picture{note}: {describe(obs.result)}", used)
    worst = max(held, key=held.get)
    return Scored(1.0 - held[worst], f"{EXPLAIN[worst]}: {describe(obs.result)}", used)


EXPLAIN = {
    "noise": "noise: neighbouring pixels are unrelated",
    "flat": "a flat field: nearly one colour or a plain gradient",
    "periodic": "a tiled pattern: the image repeats itself",
    "copies": "copies: panels of the image repeat one another",
    "text_canvas": "text alone on a blank canvas, where a scene was asked",
}


def describe(r) -> str:
    parts = [
        f"structure {r.structure:.2f}",
        f"spread {r.spread:.1f}",
        f"repetition {max(r.period_peak, r.copy_similarity):.2f}",
        f"canvas {r.canvas_share:.0%}",
    ]
    if r.text_share is not None:
        parts.append(f"text {r.text_share:.0%} of the marks")
    return ", ".join(parts)


DUPLICATE_LEVELS = 4.0
"""The largest mean difference of any 8x8 block of two 128x128 thumbnails, in 8-bit levels, at or
under which two images are copies."""


def near_duplicates(images: list, groups: list, tolerance: float = DUPLICATE_LEVELS) -> list[int | None]:
    """For each image, the index of an earlier image of its group that it nearly copies (None if none).

    Two images are near-copies when no 8x8 block of their 128x128 thumbnails differs by more than
    `tolerance` levels on average: re-encoding, faint noise or a slight blur leave every block
    alike, while one letter changed on a sign or a shape moved does not. A group that repeats one
    image teaches a generator to collapse onto it."""
    thumbs = [None if isinstance(im, Exception) else _thumbnail(im) for im in images]
    keys = [str(g) for g in groups]
    out: list[int | None] = [None] * len(images)
    for j in range(len(images)):
        for i in range(j):
            if keys[i] == keys[j] and thumbs[i] is not None and thumbs[j] is not None:
                blocks = np.abs(thumbs[i] - thumbs[j]).mean(axis=2).reshape(16, 8, 16, 8).mean(axis=(1, 3))
                if float(blocks.max()) <= tolerance:
                    out[j] = i
                    break
    return out


def _thumbnail(image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((128, 128), Image.Resampling.BOX), dtype=np.float32)


def restate(c: Criterion) -> str:
    """The sentence refinement adds when the gate failed."""
    return "Draw a complete, detailed picture of the scene, not a pattern, noise or text on a blank page."
