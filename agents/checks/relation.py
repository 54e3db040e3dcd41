"""Relation checks: "a dog left of a cat", "the sun at the top", and actions ("a man riding a horse").

Planned: the detectors that find subject and object. Scored from their boxes: in the frame by
thirds, or relative to each other by centres, overlap and gap, and never surer than the less surely
found of the two. An action is an image-text model's
(`contrast`).
"""

from __future__ import annotations

from scrutiny.agents.checks import contrast
from scrutiny.agents.checks.evidence import Scored, detections, finder, matches
from scrutiny.agents.state import Observation
from scrutiny.core.schema import Criterion, RelationCheck
from scrutiny.tools.coco import presence_from_confidence
from scrutiny.tools.detect import Detection


def steps(c: Criterion) -> list[str]:
    if contrast.applies(c):
        return contrast.steps(c)
    k: RelationCheck = c.check
    return sorted({finder(k.subject_detect), finder(k.object_detect or k.subject_detect)})


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    if contrast.applies(c):
        return contrast.score(c, seen)
    check: RelationCheck = c.check
    s_kind = None if check.subject_detect == "any" else check.subject_detect
    s_dets, obs = detections(seen, s_kind)
    if obs is None:
        return Scored(None, "detection did not run", [])
    s = _best(s_dets, s_kind, check.subject_color, check.subject)
    if s is None:
        return Scored(0.0, f"found no {check.subject_phrase or check.subject}", [obs])
    if check.object is None and check.relation == "next to each other":
        o = _best(s_dets, s_kind, check.subject_color, check.subject, exclude=s)
        if o is None:
            return Scored(0.0, f"found only one {check.subject}", [obs])
        return _beside_each_other(check, s, o, obs)
    if check.object is None:
        return _in_frame(check, s, obs)
    o_kind = None if check.object_detect == "any" else check.object_detect
    o_dets, o_obs = detections(seen, o_kind)
    if o_obs is None:
        return Scored(None, "detection did not run", [obs])
    o = _best(o_dets, o_kind, check.object_color, check.object, exclude=s)
    used = [obs] if o_obs is obs else [obs, o_obs]
    if o is None:
        return Scored(0.0, f"found no {check.object_phrase or check.object}", used)
    return _between(check, s, o, used)


def _in_frame(check: RelationCheck, s: Detection, obs: Observation) -> Scored:
    """Where the subject is in the frame, by thirds."""
    sx, sy = _centre(s)
    w, h = obs.result.width, obs.result.height
    ok = {
        "left": sx < w / 3,
        "right": sx > 2 * w / 3,
        "center": w / 3 <= sx <= 2 * w / 3 and h / 3 <= sy <= 2 * h / 3,
        "top": sy < h / 3,
        "bottom": sy > 2 * h / 3,
    }.get(check.relation)
    if ok is None:
        return Scored(None, f"'{check.relation}' is not checkable offline", [obs])
    return _no_surer(float(ok), f"{check.subject_phrase} centre at ({sx:.0f}, {sy:.0f}) in a {w}x{h} image", [obs], s)


def _beside_each_other(check: RelationCheck, s: Detection, o: Detection, obs: Observation) -> Scored:
    """The two most salient finds of one kind next to each other, as "next to" is between two things:
    no further apart than the longest side of either box."""
    said = f"two {check.subject_phrase} at {list(s.box)} and {list(o.box)}"
    return _no_surer(float(_gap(s, o) <= _span(s, o)), said, [obs], s, o)


def _between(check: RelationCheck, s: Detection, o: Detection, used: list[Observation]) -> Scored:
    """Where the subject is relative to the object: centres, horizontal overlap, the gap between boxes."""
    sx, sy = _centre(s)
    ox, oy = _centre(o)
    overlap_x = min(s.box[2], o.box[2]) - max(s.box[0], o.box[0]) > 0
    gap, span = _gap(s, o), _span(s, o)
    checks = {
        "left of": sx < ox,
        "right of": sx > ox,
        "above": sy < oy,
        "below": sy > oy,
        "on top of": sy < oy and overlap_x,
        "on": sy < oy and overlap_x,
        "next to": gap <= span,
    }
    if check.relation not in checks:
        return Scored(None, f"'{check.relation}' is not checkable offline", used)
    seen_text = (
        f"{check.subject_phrase} at {list(s.box)} (centre {sx:.0f}, {sy:.0f}), "
        f"{check.object_phrase} at {list(o.box)} (centre {ox:.0f}, {oy:.0f})"
    )
    return _no_surer(float(checks[check.relation]), seen_text, used, s, o)


def _gap(s: Detection, o: Detection) -> int:
    return max(o.box[0] - s.box[2], s.box[0] - o.box[2], o.box[1] - s.box[3], s.box[1] - o.box[3], 0)


def _span(s: Detection, o: Detection) -> int:
    return max(s.box[2] - s.box[0], s.box[3] - s.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1])


def _no_surer(value: float, said: str, used: list[Observation], *finds: Detection) -> Scored:
    """A relation is no surer than the things it relates."""
    sure = min(_presence(d) for d in finds)
    return Scored(value * sure, said + (f"; the less sure find is there with {sure:.2f}" if sure < 1 else ""), used)


def _presence(d: Detection) -> float:
    """How surely a find is there: a shape or face is; a learned detector's find by its calibrated confidence."""
    return 1.0 if d.detector in ("shapes", "faces") else presence_from_confidence(d.score, d.label)


def _centre(d: Detection) -> tuple[float, float]:
    return (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2


def _best(dets: list[Detection], kind: str | None, color: str | None, noun: str, exclude: Detection | None = None):
    """The most salient find of a kind: the most confident for COCO objects (a faint one too, which the
    relation's score then discounts), the largest otherwise."""
    found = [d for d in dets if matches(d, kind, color, noun) and d is not exclude]
    if not found:
        return None
    return max(found, key=lambda d: (d.area, d.score) if d.detector == "shapes" else (d.score, d.area))


def restate(c: Criterion) -> str | None:
    k: RelationCheck = c.check
    if k.object is not None:
        return f"Place the {k.subject_phrase or k.subject} {k.relation} the {k.object_phrase or k.object}."
    if k.relation.endswith(" each other"):
        return f"Place the {k.subject_phrase or k.subject} {k.relation}."
    return f"Place the {k.subject_phrase or k.subject} at the {k.relation} of the image."
