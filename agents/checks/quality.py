"""Quality checks: no-reference sharpness, exposure, noise, blockiness and colourfulness.

They qualify the overall score and never add to it (`ScoreParts`): an image that meets them keeps
its content score whole."""

from __future__ import annotations

from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import Observation
from scrutiny.core.schema import Criterion, QualityCheck


def steps(c: Criterion) -> list[str]:
    return ["quality"]


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    check: QualityCheck = c.check
    q = seen.get("quality")
    if not q or not q.result:
        return Scored(None, "quality was not measured", [])
    r = q.result
    if check.measure != "overall":
        values = r.model_dump(exclude={"overall", "raw"})
        if check.measure not in values:
            return Scored(None, f"unknown quality measure {check.measure!r}; known: {', '.join(values)}", [q])
        return Scored(values[check.measure], f"{check.measure} {values[check.measure]:.2f}", [q])
    return Scored(
        r.overall,
        (
            f"sharpness {r.sharpness:.2f}, exposure {r.exposure:.2f}, noise {r.noise:.2f}, "
            f"blockiness {r.blockiness:.2f}, colourfulness {r.colorfulness:.2f}"
        ),
        [q],
    )


def restate(c: Criterion) -> str | None:
    return "Make the image sharp, well exposed and detailed."
