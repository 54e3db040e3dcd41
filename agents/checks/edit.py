"""Edit checks: a change was made, it made the asked object with the asked colour, and nothing
outside it changed.

Planned: `diff` against the source; then a second diff outside the largest changed region, and
the palettes of that region before and after. Scored from the changed regions, the share of pixels
changed outside them and structural similarity.
"""

from __future__ import annotations

import numpy as np

from scrutiny.agents.checks.evidence import Scored, detections, finder, matches
from scrutiny.agents.rubric import article
from scrutiny.agents.state import JudgeState, Observation, ToolRequest
from scrutiny.core.schema import Criterion, EditCheck

COLLATERAL_TOLERANCE = 0.1
"""Changed pixels outside an edit's region, as a share of that area, at which preservation is 0."""
WHOLE_FRAME = 0.9
"""A changed region covering this share of the frame is a whole-image change."""
WHOLE_FRAME_CHANGED = 0.3
"""With a whole-image change, preservation is 0 once this share of the pixels changed."""
LOCAL_ACTIONS = {"add", "remove", "recolor", "replace", "move", "resize", "text"}
WHOLE_IMAGE_NOUNS = {"", "background", "image", "picture", "photo", "scene", "everything"}


def preservation_score(collateral: float, ssim: float, tolerance: float = COLLATERAL_TOLERANCE) -> float:
    """1 when nothing outside the edit changed; 0 once `tolerance` of it changed or structure is lost."""
    return float(np.clip(1 - collateral / tolerance, 0, 1) * np.clip((ssim - 0.5) / 0.5, 0, 1))


def steps(c: Criterion) -> list[str]:
    check: EditCheck = c.check
    if check.aspect == "changed_object":
        return ["diff", finder(check.detect)]
    return ["diff", "region_palette"] if check.aspect == "changed_region_color" else ["diff"]


def look_closer(
    state: JudgeState, i: int, ids: list[str], seen: dict[str, Observation], palette_ids: list[str]
) -> list[ToolRequest]:
    """Once the changed regions are known: a diff outside the largest one, and its colours before and after."""
    changes = seen.get("changes")
    if not (changes and changes.result and changes.result.regions):
        return []
    box = list(changes.result.regions[0])
    arguments = {"image": f"candidate_{i}", "source": "source", "region": box, "units": "pixel"}
    requests = [ToolRequest("diff", arguments, i, ids, "outside the edit")]
    for image in (f"candidate_{i}", "source") if palette_ids else ():
        arguments = {"image": image, "box": box, "units": "pixel"}
        requests.append(
            ToolRequest("palette", arguments, i, palette_ids, f"colours of edit region in {image.split('_')[0]}")
        )
    return requests


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    check: EditCheck = c.check
    first = seen.get("changes")
    if first is None or first.result is None:
        return Scored(None, "the edit was not compared with its source", [])
    r = first.result
    if (
        _frame_share(r) >= WHOLE_FRAME
        and _is_local(check)
        and check.aspect in ("change_present", "changed_region_color")
    ):
        # "add a red square" is not done by painting the whole picture red
        return Scored(
            0.0,
            f"the whole image changed ({r.changed_fraction:.0%} of its pixels), not one {check.object or 'object'}",
            [first],
        )
    if check.aspect == "change_present":
        if not r.regions:
            return Scored(0.0, "diff found no change from the source", [first])
        where = f"at {list(r.regions[0])} ({r.changed_fraction:.1%} of the image changed)"
        return Scored(1.0, f"diff found a change {where}", [first])
    if check.aspect == "structure":
        value = float(np.clip((r.preserved_ssim - 0.3) / 0.7, 0, 1))
        return Scored(value, f"structural similarity to the source {r.preserved_ssim:.2f}", [first])
    if check.aspect == "instruction":
        return Scored(None, "whether the result matches the instruction is not checkable offline", [])
    if check.aspect == "changed_object":
        return _score_changed_object(check, r, first, seen)
    if not r.regions:
        if check.aspect == "changed_region_color":
            return Scored(0.0, "no changed region to check the colour of", [first])
        return Scored(1.0, "nothing changed, so everything is preserved", [first])
    if check.aspect == "outside_region":
        return _score_outside(check, r, first, seen.get("outside the edit"))
    return _score_region_color(check, first, seen)


def _score_outside(check: EditCheck, r, first: Observation, outside: Observation | None) -> Scored:
    """Nothing changed outside the edited region: the share of pixels changed there, and structure."""
    frame = _frame_share(r)
    if frame >= WHOLE_FRAME:
        # the edit touched (nearly) the whole image: there is no "outside" left to be preserved
        value = float(np.clip(1 - r.changed_fraction / WHOLE_FRAME_CHANGED, 0, 1))
        return Scored(
            value,
            f"the edit changed the whole image: its changed region {list(r.regions[0])} covers {frame:.0%} of the "
            f"frame and {r.changed_fraction:.0%} of the pixels changed, so nothing outside the edit was kept",
            [first],
        )
    if outside is None or outside.result is None:
        return Scored(None, "the area outside the edit was not measured", [first])
    o = outside.result
    collateral = o.outside_changed_fraction or 0.0
    value = preservation_score(collateral, o.preserved_ssim, check.collateral_tolerance or COLLATERAL_TOLERANCE)
    return Scored(
        value,
        (
            f"outside the edited region {list(r.regions[0])}, {collateral:.1%} of pixels changed "
            f"and structural similarity is {o.preserved_ssim:.3f}"
        ),
        [first, outside],
    )


def _score_region_color(check: EditCheck, first: Observation, seen: dict[str, Observation]) -> Scored:
    """The asked colour gained in the edited region, from its palettes before and after."""
    after, before = seen.get("colours of edit region in candidate"), seen.get("colours of edit region in source")
    if after is None or before is None or after.result is None or before.result is None:
        return Scored(None, "the colours of the edited region were not measured", [first])
    color = check.color or ""
    was, now = before.result.shares.get(color, 0.0), after.result.shares.get(color, 0.0)
    value = float(np.clip((now - was) / 0.15, 0, 1))
    return Scored(value, f"{color} in the edited region went from {was:.0%} to {now:.0%}", [first, after, before])


def _score_changed_object(check: EditCheck, r, first: Observation, seen: dict[str, Observation]) -> Scored:
    """Whether the object the edit made is where the image changed, with the asked colour."""
    name = " ".join(x for x in (check.color, check.object) if x)
    if not r.regions:
        return Scored(0.0, f"diff found no change, so no {name} was made", [first])
    found, obs = detections(seen, check.detect)
    if obs is None:
        return Scored(None, f"no detector looked for the {check.object}", [first])
    changed = r.regions
    to_diff = _frame_scale(obs.result, r)
    inside = [d for d in found if any(_within(to_diff(d.box), region) for region in changed)]
    right = [d for d in inside if matches(d, check.detect, check.color if d.color else None, check.object)]
    if right:
        d = right[0]
        return Scored(1.0, f"{article(name)} {name} at {list(d.box)}, where the image changed", [first, obs])
    if inside:
        seen_there = ", ".join(f"{d.color + ' ' if d.color else ''}{d.label} at {list(d.box)}" for d in inside[:3])
        return Scored(0.0, f"where the image changed there is {seen_there}, not {article(name)} {name}", [first, obs])
    return Scored(0.0, f"no {name} found where the image changed ({list(changed[0])})", [first, obs])


def _frame_scale(found, r):
    """Boxes of the edited image in the diff's frame: the diff compares at the source's size, and an
    edit of another size (a 1024-pixel edit of a 500-pixel source) was detected at its own."""
    width, height = r.mask.size if getattr(r, "mask", None) is not None else (found.width, found.height)
    sx, sy = width / max(found.width, 1), height / max(found.height, 1)
    return lambda b: (round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy))


def _within(box, region, share: float = 0.5) -> bool:
    """Whether at least `share` of `box` lies inside `region`."""
    x1, y1 = max(box[0], region[0]), max(box[1], region[1])
    x2, y2 = min(box[2], region[2]), min(box[3], region[3])
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return max(0, x2 - x1) * max(0, y2 - y1) / area >= share


def _is_local(check: EditCheck) -> bool:
    """Whether the edit asks to change one object (so a change of the whole frame is not it): not a
    restyle, and not the background or the image as a whole."""
    return check.action in LOCAL_ACTIONS and check.object.split(" ")[-1] not in WHOLE_IMAGE_NOUNS


def _frame_share(r) -> float:
    """How much of the frame the largest changed region covers."""
    if not r.regions or getattr(r, "mask", None) is None:
        return 0.0
    x1, y1, x2, y2 = r.regions[0]
    width, height = r.mask.size
    return (x2 - x1) * (y2 - y1) / max(width * height, 1)


def measures(c: Criterion, used: list[Observation]) -> dict[str, float]:
    """Collateral change and structure outside the edit, so another tolerance re-scores without judging."""
    if c.check.aspect != "outside_region":
        return {}
    for o in used:
        if o.result is not None and o.request.purpose == "outside the edit":
            return {"collateral": o.result.outside_changed_fraction or 0.0, "ssim": o.result.preserved_ssim}
    return {}


def tune(check: EditCheck, thresholds) -> EditCheck:
    """A skill's tolerance for change outside the edit."""
    if thresholds.collateral_tolerance is not None and check.aspect == "outside_region":
        return check.model_copy(update={"collateral_tolerance": thresholds.collateral_tolerance})
    return check


def restate(c: Criterion) -> str | None:
    return "Change nothing outside the edited region." if c.dimension == "preservation" else None
