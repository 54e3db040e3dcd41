"""The boxes behind a verdict, per image: what the tools found (detections, OCR lines, zoomed and
cropped regions, changed regions), with boxes found in a crop mapped back onto the image it came
from. The viewer and the notebook display draw them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrutiny.core.schema import Trace, Verdict

COLORS = {"detect": "#e8590c", "ocr": "#1c7ed6", "crop": "#2f9e44", "diff": "#c2255c", "palette": "#7048e8"}


@dataclass
class Overlay:
    kind: str
    box: tuple[float, float, float, float]
    label: str


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
            add("detect", d["box"], f"{d.get('color') or ''} {d['label']}".strip())
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
