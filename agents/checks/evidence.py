"""What every check reads its evidence with: a candidate's observations by purpose, the detections
of a kind, what counts as a find, and the one-line score a check returns."""

from __future__ import annotations

from typing import NamedTuple

from scrutiny.agents.scene.words import plural
from scrutiny.agents.state import JudgeState, Observation
from scrutiny.core.schema import ObjectCheck
from scrutiny.tools.coco import COCO_CLASSES, COUNT_CONFIDENCE
from scrutiny.tools.detect import Detection


class Scored(NamedTuple):
    """One criterion's score from the evidence: the value (None abstains), what was seen, the observations used."""

    score: float | None
    rationale: str
    used: list[Observation]


OPEN_PURPOSE = "find named objects"
FIND_PURPOSE = {"faces": "find faces", "objects": "find objects", "open": OPEN_PURPOSE, "detect": "find shapes"}
"""The purpose of the detection step each finder runs under (the planner's and the scorers' key)."""


def observations(state: JudgeState, i: int) -> dict[str, Observation]:
    """This candidate's observations by purpose (the latest wins)."""
    return {o.request.purpose: o for o in state.get("observations", []) if o.request.candidate == i}


def finder(kind: str | None) -> str:
    """The planner step that finds objects of this kind."""
    if kind == "open":
        return "open"
    return "faces" if kind == "face" else "objects" if kind in COCO_CLASSES else "detect"


def detections(seen: dict[str, Observation], kind: str | None) -> tuple[list[Detection], Observation | None]:
    obs = seen.get(FIND_PURPOSE[finder(kind)])
    if obs is None or obs.result is None:
        return [], None
    return obs.result.detections, obs


def matches(d: Detection, kind: str | None, color: str | None, noun: str = "") -> bool:
    """Whether a find is of this kind (for the open-vocabulary detector: labelled with this noun, the
    query it was asked) and, where a colour is given, of that colour."""
    if kind == "open":
        return d.label == noun
    if kind == "face":
        return d.label == "face"
    if kind not in (None, "any") and d.label != kind:
        return False
    return color is None or d.color == color


def confident(d: Detection) -> bool:
    """A find that counts as one object: any shape or face; a COCO detection from `COUNT_CONFIDENCE` on."""
    return d.detector in ("shapes", "faces") or d.score >= COUNT_CONFIDENCE


def counted(n: int, check: ObjectCheck) -> str:
    """ "1 red circle", "3 red circles": the prompt's phrase with its head word in the right number."""
    phrase = check.phrase or check.object
    words = phrase.split()
    if not words or not check.object:
        return f"{n} {phrase}"
    head = check.object.split()[-1]
    words[-1] = head if n == 1 else plural(head)
    return f"{n} {' '.join(words)}"
