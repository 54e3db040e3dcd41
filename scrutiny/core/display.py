"""A verdict for people: a one-line repr, rich HTML for notebooks, and a drawing with the boxes.

The images and the trace come from the store that holds them (`Verdict._store`, set by the judge
that made the verdict); a verdict read elsewhere shows its scores, criteria and critique without
the images.
"""

from __future__ import annotations

import base64
import html
import io

from PIL import Image, ImageDraw

from scrutiny.core.overlays import COLORS, LABELLED, Overlay, overlays, svg_boxes
from scrutiny.core.schema import Verdict


def short_repr(verdict: Verdict) -> str:
    """`Verdict(score=0.83, 2/3 criteria checked, 'A sign that says "OPEN"', trace 1a2b3c4d)`."""
    scores = verdict.scores
    shown = "abstained" if all(s is None for s in scores) else ", ".join(_score(s) for s in scores)
    label = "score" if len(scores) == 1 else "scores"
    prompt = verdict.task.prompt if len(verdict.task.prompt) <= 60 else verdict.task.prompt[:57] + "..."
    shown = shown if len(scores) == 1 or shown == "abstained" else f"[{shown}]"
    parts = [f"{label}={shown}" if shown != "abstained" else "abstained"]
    if verdict.coverage:
        c = verdict.coverage[0]
        parts.append(f"{len(c.checked)}/{len(c.checked) + len(c.unchecked)} criteria checked")
    if verdict.preferred is not None and len(scores) > 1:
        parts.append(f"preferred={verdict.preferred}")
    if verdict.error:
        parts.append(f"error={verdict.error[:60]!r}")
    parts.append(repr(prompt))
    if verdict.trace_id:
        parts.append(f"trace {verdict.trace_id[:8]}")
    return f"Verdict({', '.join(parts)})"


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score:.3f}"


def _images(verdict: Verdict) -> list[tuple[str, Image.Image | None, list[Overlay]]]:
    """(name, image or None, boxes) for the source (if any) and every candidate."""
    store = verdict._store
    trace = None
    if store is not None and verdict.trace_id:
        try:
            trace = store.trace(verdict.trace_id)
        except Exception:  # noqa: BLE001 - a display never fails on a missing trace
            trace = None
    boxes = overlays(trace, verdict)
    names = ([("source", verdict.task.source)] if verdict.task.source else []) + [
        (f"candidate_{i}", digest) for i, digest in enumerate(verdict.task.candidates)
    ]
    out = []
    for name, digest in names:
        image = None
        if store is not None and digest:
            try:
                image = store.artifact(digest)
            except Exception:  # noqa: BLE001 - not in this store: shown without the image
                image = None
        out.append((name, image, boxes.get(name, [])))
    return out


def _data_uri(image: Image.Image, longest: int = 512) -> tuple[str, float]:
    scale = min(1.0, longest / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), scale


def verdict_html(verdict: Verdict) -> str:
    """Images with the tools' boxes, the criteria table (score and rationale per candidate) and the critique."""
    esc = html.escape
    figures = []
    for name, image, boxes in _images(verdict):
        if image is None:
            figures.append(
                f"<figure style='margin:4px'><figcaption>{esc(name)}: image not in the store</figcaption></figure>"
            )
            continue
        uri, scale = _data_uri(image)
        w, h = round(image.width * scale), round(image.height * scale)
        rects = svg_boxes(boxes, scale, 2, 11)
        figures.append(
            f"<figure style='margin:4px;display:inline-block'><div style='position:relative;width:{w}px;height:{h}px'>"
            f"<img src='{uri}' width='{w}' height='{h}' style='position:absolute'>"
            f"<svg width='{w}' height='{h}' style='position:absolute'>{rects}</svg></div>"
            f"<figcaption>{esc(name)} · {len(boxes)} boxes</figcaption></figure>"
        )
    n = len(verdict.scores)
    head = "".join(f"<th>candidate {i}</th>" for i in range(n))
    rows = []
    for c in verdict.rubric:
        cells = []
        for i in range(n):
            s = next((s for s in verdict.criterion_scores if s.criterion == c.id and s.candidate == i), None)
            if s is None:
                cells.append("<td>—</td>")
            else:
                cells.append(f"<td><b>{_score(s.score)}</b><br><small>{esc(s.rationale)}</small></td>")
        rows.append(f"<tr><td>{esc(c.statement)}</td>{''.join(cells)}</tr>")
    overall = "".join(f"<td><b>{'abstained' if s is None else f'{s:.3f}'}</b></td>" for s in verdict.scores)
    rows.append(f"<tr><td><b>overall</b></td>{overall}</tr>")
    critique = esc(verdict.critique).replace("\n", "<br>")
    return (  # the charset travels with the fragment, so a notebook cell saved to a file reads right
        f"<div><meta charset='utf-8'><div><b>{esc(verdict.task.kind)}</b>: {esc(verdict.task.prompt)}</div>"
        f"<div>{''.join(figures)}</div>"
        f"<table><tr><th>criterion</th>{head}</tr>{''.join(rows)}</table>"
        f"<p>{critique}</p><small>trace {esc(verdict.trace_id or '—')}</small></div>"
    )


def draw(verdict: Verdict, width: int = 512) -> Image.Image:
    """The source and candidates side by side, each `width` wide, with boxes and scores drawn."""
    panels = []
    for name, image, boxes in _images(verdict):
        if image is None:
            image = Image.new("RGB", (width, width), (200, 200, 200))
            boxes = []
        scale = width / image.width
        panel = image.convert("RGB").resize((width, max(1, round(image.height * scale))))
        pen = ImageDraw.Draw(panel)
        for o in boxes:
            pen.rectangle([v * scale for v in o.box], outline=COLORS.get(o.kind, "#000000"), width=2)
            if o.kind in LABELLED and o.label:  # which box is the cat and which the dog
                at = (o.box[0] * scale + 2, max(20, o.box[1] * scale - 12))
                pen.text(at, o.label, fill=COLORS.get(o.kind, "#000000"), stroke_width=2, stroke_fill=(255, 255, 255))
        label = name
        if name.startswith("candidate_"):
            label += f"  {_score(verdict.scores[int(name.split('_')[1])])}"
        pen.rectangle((0, 0, width, 18), fill=(255, 255, 255))
        pen.text((4, 3), label, fill=(0, 0, 0))
        panels.append(panel)
    height = max(p.height for p in panels)
    sheet = Image.new("RGB", (width * len(panels) + 8 * (len(panels) - 1), height), (255, 255, 255))
    for k, panel in enumerate(panels):
        sheet.paste(panel, (k * (width + 8), 0))
    return sheet
