"""Attribute checks: "a red car", "the background is white", "the image contains blue".

Planned: the detector that finds the object (its colours measured in its box) or, for the image as a
whole, the palette. An attribute other than colour, or the colour of an object no detector here
finds, is an image-text model's (`contrast`). Scored: the colour's share of the object's middle, of
a shape by area, or of the image.
"""

from __future__ import annotations

from scrutiny.agents.checks import contrast
from scrutiny.agents.checks.evidence import Scored, detections, finder, matches
from scrutiny.agents.state import Observation
from scrutiny.core.schema import AttributeCheck, Criterion
from scrutiny.tools.colours import NEAR

PRESENCE_SHARE = 0.02
"""A colour covering this share of the image counts as present (for objects no detector finds)."""
OBJECT_COLOR_SHARE = 0.5
"""A colour covering this share of a detected object makes it that colour (whatever else it shows)."""


def presence_score(share: float, full: float = PRESENCE_SHARE) -> float:
    """A colour covering `full` of the image (or more) is fully present."""
    return min(1.0, share / full)


def steps(c: Criterion) -> list[str]:
    if contrast.applies(c):
        return contrast.steps(c)
    return ["palette"] if not c.check.detect else [finder(c.check.detect)]


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    if contrast.applies(c):
        return contrast.score(c, seen)
    check: AttributeCheck = c.check
    if check.attribute != "color":
        return Scored(None, "no offline check for this criterion", [])
    if check.detect == "background":
        return _score_background(check, seen)
    if check.detect:
        return _score_object_color(check, seen)
    pal = seen.get("colours")
    if pal is None or pal.result is None:
        return Scored(None, "colours were not measured", [])
    share = pal.result.shares.get(check.value, 0.0)
    return Scored(
        presence_score(share, check.share or PRESENCE_SHARE), f"{check.value} covers {share:.1%} of the image", [pal]
    )


def _score_background(check: AttributeCheck, seen: dict[str, Observation]) -> Scored:
    _, obs = detections(seen, "shapes")
    if obs is None:
        return Scored(None, "detection did not run", [])
    bg = obs.result.background
    return Scored((1.0 if bg == check.value else 0.0), f"the background is {bg}", [obs])


def _score_object_color(check: AttributeCheck, seen: dict[str, Observation]) -> Scored:
    color = check.value
    dets, obs = detections(seen, check.detect)
    if obs is None:
        return Scored(None, "detection did not run", [])
    candidates = [d for d in dets if matches(d, check.detect, None, check.object or "")]
    if not candidates:
        return Scored(0.0, f"found no {check.object} to check its colour", [obs])
    if candidates[0].detector != "shapes":  # a photo's object is many colours
        return _score_photo_color(check, candidates, obs)
    # by area: a speck the shape detector splits off a ragged shape is not a shape of its own colour
    share = sum(d.area for d in candidates if d.color == color) / max(sum(d.area for d in candidates), 1)
    colours = ", ".join(sorted({d.color or "?" for d in candidates}))
    return Scored(
        share, f"found {len(candidates)} {check.object} coloured {colours} ({share:.0%} {color} by area)", [obs]
    )


def photo_color_score(shares: dict[str, float], color: str) -> float:
    """How surely an object measured with these colour shares is `color`: 1 where it is the object's
    main colour (or covers `OBJECT_COLOR_SHARE` of it), in proportion below that; a neighbour (`NEAR`:
    a shaded orange reads brown) measured instead adds up to half of what is left, so a colour light
    may have moved scores in between, never a confident 0 or 1, and a colour far from every measured
    one 0. The two combine as either being so (1 - (1 - direct)(1 - near / 2)): of two colours with
    the same neighbour measured, the one more of the object shows scores higher (a maroon cup that
    reads brown and a little red is red before it is black)."""
    if not shares:
        return 0.0
    top = min(max(shares.values()), OBJECT_COLOR_SHARE)
    direct = min(1.0, shares.get(color, 0.0) / top)
    near = min(1.0, max((shares.get(n, 0.0) for n in NEAR.get(color, ())), default=0.0) / top)
    return 1.0 - (1.0 - direct) * (1.0 - 0.5 * near)


def _score_photo_color(check: AttributeCheck, candidates: list, obs: Observation) -> Scored:
    """The colour of a detected object in a photo: of the find that shows it most, measured on the
    object where its outline was cut (`Detection.cut`), else in the middle of its box."""
    color = check.value
    best = max(candidates, key=lambda d: (photo_color_score(d.colors, color), d.score))
    value = photo_color_score(best.colors, color)
    seen = ", ".join(f"{k} {v:.0%}" for k, v in list(best.colors.items())[:3]) or "no colour"
    where = "the object" if best.cut else "the middle of its box"
    settled = "" if value in (0.0, 1.0) else f"; not settled: {color} covers {best.colors.get(color, 0.0):.0%}"
    return Scored(
        value,
        f"found {len(candidates)} {check.object}; the one at {list(best.box)} measures {seen} on {where}{settled}",
        [obs],
    )


def measures(c: Criterion, used: list[Observation]) -> dict[str, float]:
    """The colour's share of the image, so a library with another presence bar re-scores without judging."""
    if c.check.detect:
        return {}
    for o in used:
        if o.result is not None and o.request.purpose == "colours":
            return {"share": o.result.shares.get(c.check.value, 0.0)}
    return {}


def tune(check: AttributeCheck, thresholds) -> AttributeCheck:
    """A skill's presence bar for colours of the image as a whole."""
    if thresholds.presence_share is not None and not check.detect:
        return check.model_copy(update={"share": thresholds.presence_share})
    return check


def restate(c: Criterion) -> str | None:
    k: AttributeCheck = c.check
    return f"The {k.object or 'main subject'} must be {k.value}." if k.attribute == "color" else None
