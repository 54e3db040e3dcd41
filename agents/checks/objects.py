"""Object checks: "a dog", "exactly three red circles", "no people".

Planned: the detector that finds the kind (shapes, COCO objects, faces, an open-vocabulary model).
Scored: a learned detector's presence follows its calibrated confidence, a find the detector also
gives another label is contested, and a face inside a person's box supports it (never replaces it);
counts and absence count only confident finds.
"""

from __future__ import annotations

from scrutiny.agents.checks.evidence import FIND_PURPOSE, Scored, confident, counted, detections, finder, matches
from scrutiny.agents.state import Observation, ToolRequest
from scrutiny.core.schema import Criterion, ObjectCheck
from scrutiny.tools.boxes import iou
from scrutiny.tools.coco import presence_from_confidence, presence_probability

RIVAL_IOU, RIVAL_SHARE, CONTESTED = 0.6, 0.8, 0.8
"""A find whose box the detector also gives another label (overlap above `RIVAL_IOU`, confidence at
least `RIVAL_SHARE` of the find's) is contested: it never counts as met (at most `CONTESTED`), and the
less confident of the two scores lower in proportion. SSD-MobileNet calls a bulldog seen from behind
a cat at 0.76 and a dog at 0.70, and a dog a cow at 0.97 and a dog at 0.94. Chosen, not fit: the
training split of the labelled photos holds two contested pairs."""


FACE_PRECISION = 0.75
"""How often a Haar frontal face found on a photo is a face: chosen, not fit (the labelled photos do
not mark faces). A face inside a found person's box is a second, independent sign of that person."""


FACES_IN_PERSON = "faces in person"
"""The planner step of a person's presence: once the detector found a person, a face search of its box."""


def steps(c: Criterion) -> list[str]:
    person = c.check.detect == "person" and not c.check.negated and c.check.count is None
    return [finder(c.check.detect), *([FACES_IN_PERSON] if person else [])]


def look_closer(state, i: int, ids: list[str], seen: dict[str, Observation]) -> list[ToolRequest]:
    """A face search of the person each of these criteria would score (the best find), once the
    detector has looked: only a face inside that person's box supports it, and with no person found
    there is nothing for a face to support."""
    if FIND_PURPOSE["faces"] in seen:
        return []
    wanted = [c for c in state["rubric"] if c.id in set(ids)]
    boxes = []
    for c in wanted:
        dets, _ = detections(seen, c.check.detect)
        found = [d for d in dets if matches(d, c.check.detect, c.check.color, c.check.object)]
        if found and (box := max(found, key=lambda d: d.score).box) not in boxes:
            boxes.append(box)
    if not boxes:
        return []
    x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    arguments = {"image": f"candidate_{i}", "query": "face", "box": [x1, y1, x2, y2], "units": "pixel"}
    return [ToolRequest("detect", arguments, i, ids, FIND_PURPOSE["faces"])]


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    check: ObjectCheck = c.check
    if check.negated:
        return _score_absent(check, seen)
    if check.count is not None or check.at_least is not None:
        return _score_count(check, seen)
    if check.quantity is None:
        return _score_presence(check, seen)
    return Scored(None, "no offline check for this criterion", [])


def _score_presence(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    """Is the object there? A COCO object is as present as the detector is confident of its best find;
    a shape or a face is there when the detector found one."""
    dets, obs = detections(seen, check.detect)
    if obs is None:
        return Scored(None, "object detection did not run", [])
    found = [d for d in dets if matches(d, check.detect, check.color, check.object)]
    if not found:
        others = ", ".join(sorted({d.label for d in dets})) or "nothing it knows"
        return Scored(0.0, f"found no {check.phrase or check.object} (found {others})", [obs])
    best = max(found, key=lambda d: d.score)
    if best.detector in ("shapes", "faces"):
        return Scored(1.0, f"found {counted(len(found), check)} (the first at {list(best.box)})", [obs])
    return _score_learned(best, dets, seen, obs)


def _score_learned(best, dets: list, seen: dict[str, Observation], obs: Observation) -> Scored:
    """A learned detector's best find: its calibrated confidence, lowered where the detector also gives
    its box another class, raised where a face inside a person's box supports it."""
    value = presence_from_confidence(best.score, best.label)
    p_there = presence_probability(best.label, best.score)
    said = f"found {best.label} (confidence {best.score:.2f}, P(there) {p_there:.2f}) at {list(best.box)}"
    rivals = [d for d in dets if d.label != best.label and iou(d.box, best.box) > RIVAL_IOU]
    rival = max(rivals, key=lambda d: d.score, default=None)
    if rival is not None and rival.score >= RIVAL_SHARE * best.score:
        value = min(value, CONTESTED) * min(1.0, best.score / rival.score)
        said += f", which the detector also calls a {rival.label} ({rival.score:.2f})"
    elif best.label == "person" and (face := _face_inside(best.box, seen)) is not None:
        value = 1 - (1 - value) * (1 - FACE_PRECISION)  # either sign alone could be wrong
        return Scored(value, said + f", with a face at {list(face[0].box)} inside it", [obs, face[1]])
    return Scored(value, said, [obs])


def _face_inside(box: tuple[int, int, int, int], seen: dict[str, Observation]):
    """A face (and the observation that found it) lying mostly inside a person's box; None if none was."""
    faces, obs = detections(seen, "face")
    for face in faces:
        x1, y1, x2, y2 = face.box
        inside = max(0, min(x2, box[2]) - max(x1, box[0])) * max(0, min(y2, box[3]) - max(y1, box[1]))
        if inside >= 0.7 * (x2 - x1) * (y2 - y1) > 0:
            return face, obs
    return None


def _score_absent(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    dets, obs = detections(seen, check.detect)
    if obs is None:
        return Scored(None, "detection did not run", [])
    found = [d for d in dets if matches(d, check.detect, check.color, check.object) and confident(d)]
    return Scored(
        (1.0 if not found else 0.0),
        (f"found {counted(len(found), check)}" if found else f"found no {check.phrase or check.object}"),
        [obs],
    )


def _score_count(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    """Exactly as many as asked (or at least, for `at_least`)? Shapes and faces are counted as found. A
    learned detector's finds are each there with their presence score (`presence_from_confidence`), and
    the score is the probability that the asked number are (with `partial`, the expected closeness): a
    fourth person found faintly makes "four people" possible rather than wrong, and more confidence in
    it scores more, where a count of confident finds alone jumped from 0 to 1 at one confidence."""
    dets, obs = detections(seen, check.detect)
    if obs is None:
        return Scored(None, "detection did not run", [])
    matched = [d for d in dets if matches(d, check.detect, check.color, check.object)]
    found = sum(confident(d) for d in matched)
    expected = check.count if check.count is not None else f"at least {check.at_least}"
    said = f"found {counted(found, check)}, expected {expected}"
    learned = [d for d in matched if d.detector not in ("shapes", "faces")]
    if not learned:
        return Scored(_closeness(found, check), said, [obs])
    sure = [1.0] * (len(matched) - len(learned))
    distribution = count_distribution(sure + [presence_from_confidence(d.score, d.label) for d in learned])
    value = sum(p * _closeness(n, check) for n, p in enumerate(distribution))
    met = sum(
        p for n, p in enumerate(distribution) if n == check.count or (check.count is None and n >= check.at_least)
    )
    asked = f"exactly {expected}" if check.count is not None else expected
    return Scored(round(value, 6), f"{said}; P({asked}) {met:.2f}", [obs])


def _closeness(n: int, check: ObjectCheck) -> float:
    """How well `n` objects meet the asked count: exactly (or at least), or in proportion with `partial`."""
    if check.count is None:
        return float(n >= (check.at_least or 0))
    if check.partial:
        return max(0.0, 1.0 - abs(n - check.count) / max(check.count, 1))
    return float(n == check.count)


def count_distribution(probabilities: list[float]) -> list[float]:
    """P(N = n) for n = 0..len, where N counts independent events of these probabilities (Poisson-binomial)."""
    out = [1.0]
    for p in probabilities:
        out = [a * (1 - p) + b * p for a, b in zip([*out, 0.0], [0.0, *out])]
    return out


def restate(c: Criterion) -> str | None:
    k: ObjectCheck = c.check
    if k.negated:
        return f"Do not include any {k.phrase or k.object}."
    if k.count is not None:
        return f"Show exactly {k.count} {k.phrase or k.object}, no more and no fewer."
    if k.at_least is not None:
        return f"Show at least {k.at_least} {k.phrase or k.object}."
    return f"Show the {k.phrase or k.object} clearly."
