"""The boxes behind a verdict, per image: what the tools found (detections, OCR lines, zoomed and
cropped regions, changed regions), with boxes found in a crop mapped back onto the image it came
from. The viewer and the notebook display draw them."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from scrutiny.core.schema import Trace, Verdict

COLORS = {"detect": "#e8590c", "ocr": "#1c7ed6", "crop": "#2f9e44", "diff": "#c2255c", "palette": "#7048e8"}


@dataclass
class Overlay:
    kind: str
    box: tuple[float, float, float, float]
    label: str


LABELLED = ("detect", "diff")
"""Kinds whose boxes carry their label on the picture (a class and its confidence, "changed"); the
others' labels show on hover."""


def svg_boxes(boxes: list[Overlay], scale: float, stroke: float, font: float) -> str:
    """SVG rectangles for boxes (scaled by `scale`), each with its label as a tooltip and, for the
    `LABELLED` kinds, written above its top-left corner on a white ground, so overlapping boxes (a cat
    and a dog) can be told apart."""
    out = []
    for o in boxes:
        x, y = o.box[0] * scale, o.box[1] * scale
        w, h = (o.box[2] - o.box[0]) * scale, (o.box[3] - o.box[1]) * scale
        colour, label = COLORS.get(o.kind, "#000"), html.escape(o.label, quote=True)
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="{colour}" '
            f'stroke-width="{stroke:.1f}" data-kind="{o.kind}"><title>{html.escape(o.kind)}: {label}</title></rect>'
        )
        if o.kind in LABELLED and o.label:
            top = max(y - 2, font)
            out.append(
                f'<text x="{x + 2:.1f}" y="{top:.1f}" font-size="{font:.1f}" font-family="sans-serif" fill="{colour}" '
                f'stroke="#fff" stroke-width="{font / 4:.1f}" paint-order="stroke">{label}</text>'
            )
    return "".join(out)


def overlays(trace: Trace | None, verdict: Verdict) -> dict[str, list[Overlay]]:
    """Boxes per image name (`candidate_0`, `source`) from the evidence, crops mapped back."""
    produced_by: dict[str, Any] = {}  # crop name → the zoom/crop evidence that made it
    evidence = {e.id: e for e in verdict.evidence}
    for event in trace.events if trace is not None else []:
        produced = event.data.get("produced")
        if event.kind == "tool_result" and isinstance(produced, dict):
            for name in produced:
                produced_by[name] = evidence.get(event.data.get("evidence"))
    found: dict[str, list[Overlay]] = {}
    for e in verdict.evidence:
        if e.output is None:
            continue
        try:
            _add_boxes(e, produced_by, found)
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
        ):  # an imported trace's odd output: no boxes
            continue
    return found


def _add_boxes(e, produced_by: dict[str, Any], found: dict[str, list[Overlay]]) -> None:
    """The boxes one piece of evidence drew, on the image it looked at (a crop's mapped back)."""
    image = e.arguments.get("image", "")
    dx = dy = 0.0
    scale = 1.0
    if image in produced_by and produced_by[image] is not None:  # a crop: map back onto its image
        parent = produced_by[image]
        dx, dy = parent.output["box_px"][0], parent.output["box_px"][1]
        scale = parent.output.get("scale", 1.0)
        image = parent.arguments.get("image", image)

    def add(kind: str, box, label: str) -> None:
        x1, y1, x2, y2 = box
        found.setdefault(image, []).append(
            Overlay(kind, (dx + x1 / scale, dy + y1 / scale, dx + x2 / scale, dy + y2 / scale), label)
        )

    if e.tool == "detect":
        for d in e.output["detections"]:
            sure = f" {d['score']:.2f}" if d.get("detector") not in ("shapes", "faces", None) else ""
            add("detect", d["box"], f"{d.get('color') or ''} {d['label']}".strip() + sure)
    elif e.tool == "ocr":
        for line in e.output["lines"]:
            add("ocr", line["box"], line["text"])
    elif e.tool in ("crop", "zoom"):
        add("crop", e.output["box_px"], f"{e.tool} ×{e.output.get('scale', 1):g}")
    elif e.tool == "diff":
        for region in e.output["regions"]:
            add("diff", region, "changed")
    elif e.tool == "palette" and e.arguments.get("box"):
        add("palette", e.output["box_px"], "colours")
