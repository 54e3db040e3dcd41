"""Criterion checks, one module (room) per kind: how a criterion of that kind is planned (the steps
it needs), scored from the evidence, measured for re-scoring, tuned by a skill's thresholds, and
restated as a prompt sentence for refinement (docs/architecture.md, "adding a check kind").

The offline policy, refinement and skill routing ask the room of a criterion's `check.kind`
(`room`) rather than switching on types. Every room has `steps(c)`, `score(c, seen)` and
`restate(c)`; `measures(c, used)`, `tune(check, thresholds)` and `look_closer(...)` where its kind
has them.
"""

from __future__ import annotations

from types import ModuleType

from scrutiny.agents.checks import attribute, degenerate, edit, judgment, objects, quality, relation, text
from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import Observation
from scrutiny.core.schema import Criterion

ROOMS: dict[str, ModuleType] = {
    "text": text,
    "object": objects,
    "attribute": attribute,
    "relation": relation,
    "edit": edit,
    "global": judgment,
    "judgment": judgment,
    "quality": quality,
    "degenerate": degenerate,
}
"""The room of each check kind (`Criterion.check.kind`)."""


def room(c: Criterion) -> ModuleType:
    return ROOMS[c.check.kind]


def steps(c: Criterion) -> list[str]:
    """The planner steps a criterion needs: tool names, plus "objects", "open", "faces" (finders)
    and "region_palette" (an edit's region before and after)."""
    return room(c).steps(c)


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    return room(c).score(c, seen)


def measures(c: Criterion, used: list[Observation]) -> dict[str, float]:
    """What a thresholded criterion measured (`CriterionScore.measures`), for re-scoring without judging."""
    found = getattr(room(c), "measures", None)
    return found(c, used) if found else {}


def restate(c: Criterion) -> str | None:
    """One explicit sentence for an unmet criterion (refinement), or None when there is nothing to restate."""
    return room(c).restate(c)


def apply_skills(criteria: list[Criterion], skills: list) -> list[Criterion]:
    """Criteria re-weighted by the skills' params per dimension; `met` thresholds per dimension; and
    each room's scoring thresholds (`tune`: colour presence, an edit's collateral tolerance)."""
    out = []
    for c in criteria:
        weight, met, check = c.weight, c.met, c.check
        tune = getattr(room(c), "tune", None)
        for s in skills:
            weight *= s.params.weights.get(c.dimension, 1.0)
            met = s.params.met.get(c.dimension, met)
            if tune is not None:
                check = tune(check, s.params.thresholds)
        out.append(c.model_copy(update={"weight": weight, "met": met, "check": check}))
    return out


__all__ = ["ROOMS", "Scored", "apply_skills", "measures", "restate", "room", "score", "steps"]
