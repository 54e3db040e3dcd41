"""Judgment checks: what only a vision-language judge can settle ("the scene feels calm", "the
result follows the instruction"), and whole-image properties (style, lighting, medium), which an
image-text model settles against alternatives (`contrast`) when one is installed."""

from __future__ import annotations

from scrutiny.agents.checks import contrast
from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import Observation
from scrutiny.core.schema import Criterion


def steps(c: Criterion) -> list[str]:
    return contrast.steps(c) if contrast.applies(c) else []


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    if contrast.applies(c):
        return contrast.score(c, seen)
    return Scored(None, "no offline check for this criterion", [])


def restate(c: Criterion) -> str | None:
    return None
