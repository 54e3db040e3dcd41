"""The data model every part of scrutiny speaks.

Versioned pydantic models: they cross process, model and disk boundaries (traces in the store,
verdicts returned to trainers, JSON printed by the CLI). This module is a leaf: it imports
nothing else from scrutiny, so `tools/` and `memory/` may use it without breaking the
dependency direction.

Score convention: every score is in [0, 1]; `None` means the judge abstained (it could not
decide). An abstention is never turned into 0 or into a fake tie.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

TaskKind = Literal["score", "compare", "rank", "edit"]
Dimension = Literal[
    "text",
    "object",
    "count",
    "color",
    "position",
    "attribute",
    "quality",
    "preservation",
    "safety",
    "custom",
]
GUARD_DIMENSIONS = frozenset({"quality", "safety"})
"""What an image is like rather than what it shows: never a verdict's only evidence."""
Unchecked = Literal["lower", "omit", "abstain"]
"""What content criteria that could not be checked do to the overall score (see `Coverage`)."""
Origin = Literal["given", "synthesized", "skill"]
EventKind = Literal[
    "node_enter",
    "node_exit",
    "model_request",
    "model_response",
    "tool_call",
    "tool_result",
    "parse_failure",
    "repair",
    "retry",
    "cache_hit",
    "error",
]


_ids = random.Random()  # seeded from os.urandom; its own, so that random.seed(0) in a training script cannot repeat ids
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not draw its parent's ids


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits. Drawn from a generator seeded once: `uuid4()`
    asks the OS each time, and that call lets go of the GIL, so a busy event loop may wait for
    a worker thread to hand it back, twice per judgment."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4).hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Score = float | None


def check_score(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"scores live in [0, 1] (None abstains); got {value}")
    return value


class Criterion(Model):
    """One yes/no-checkable statement about a candidate image."""

    id: str
    statement: str
    dimension: Dimension = "custom"
    weight: float = Field(default=1.0, ge=0.0)
    tools: list[str] = Field(default_factory=list)
    """Tool hints: which tools can check this criterion (`ocr`, `detect`, `diff`, ...)."""
    origin: Origin = "synthesized"
    checkable: bool = True
    """False when no tool of the active policy can check it: it then abstains instead of guessing."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Structured content for planners (target text, object, colour, count, relation)."""


class Task(Model):
    """What is judged: a prompt or edit instruction and the candidates (by content hash)."""

    kind: TaskKind
    prompt: str
    candidates: list[str]
    source: str | None = None
    rubric: list[Criterion] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_shape(self) -> Task:
        need = {"score": 1, "compare": 2}.get(self.kind)
        if need is not None and len(self.candidates) != need:
            raise ValueError(f"a {self.kind!r} task takes {need} candidate(s), got {len(self.candidates)}")
        if self.kind == "rank" and len(self.candidates) < 2:
            raise ValueError("a 'rank' task takes at least 2 candidates")
        if self.kind == "edit" and (self.source is None or not self.candidates):
            raise ValueError("an 'edit' task takes a source image and at least one edited image")
        return self


class Evidence(Model):
    """One tool call on pixels and what it produced."""

    id: str = Field(default_factory=new_id)
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    artifacts: list[str] = Field(default_factory=list)
    """Content hashes of images the call produced (a crop, a diff mask), kept in the store."""
    candidate: int | None = None
    seconds: float = 0.0
    error: str | None = None


class CriterionScore(Model):
    criterion: str
    candidate: int
    score: Score = None
    distribution: dict[str, float] | None = None
    evidence: list[str] = Field(default_factory=list)
    rationale: str = ""
    measures: dict[str, float] = Field(default_factory=dict)
    """The raw measurements a threshold turned into the score (a colour's share, collateral change),
    so a library with other thresholds can re-score without judging again."""

    @field_validator("score")
    @classmethod
    def _valid_score(cls, value: Score) -> Score:
        return check_score(value)


class Coverage(Model):
    """Which of a candidate's content criteria (all but quality and safety) were checked.

    The overall score never rests on quality alone: with no content criterion checked, the verdict
    abstains and says why. With some checked, `JudgeConfig.unchecked` decides: "lower" (default)
    counts each unchecked one as unmet, so a score is the share of what was asked that was seen to
    be there; "omit" leaves them out; "abstain" abstains unless every one was checked."""

    checked: list[str] = Field(default_factory=list)
    unchecked: dict[str, str] = Field(default_factory=dict)
    """Criterion id → why it could not be checked."""
    abstain_reason: str | None = None

    @property
    def share(self) -> float:
        total = len(self.checked) + len(self.unchecked)
        return len(self.checked) / total if total else 0.0


class Usage(Model):
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0


class Verdict(Model):
    """The answer: per-candidate scores backed by evidence, a preference, a critique, a trace."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    task: Task
    rubric: list[Criterion] = Field(default_factory=list)
    scores: list[Score]
    criteria: list[CriterionScore] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    coverage: list[Coverage] = Field(default_factory=list)
    """Per candidate: which content criteria were checked, which were not and why."""
    preferred: int | None = None
    """Index of the preferred candidate; None for a tie or when the judge abstained."""
    ranking: list[int] | None = None
    critique: str = ""
    trace_id: str | None = None
    policy: str = "offline"
    model: str | None = None
    library_version: str = ""
    version: str = ""
    latency_s: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("scores")
    @classmethod
    def _check_scores(cls, values: list[Score]) -> list[Score]:
        return [check_score(v) for v in values]

    @property
    def score(self) -> Score:
        """The first candidate's overall score (the usual case: one image judged)."""
        return self.scores[0]

    @property
    def abstained(self) -> bool:
        return all(s is None for s in self.scores)


class TraceEvent(Model):
    seq: int
    kind: EventKind
    node: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    time: datetime = Field(default_factory=utcnow)


class Trace(Model):
    """Everything that happened while judging one task, in order."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    task: Task
    events: list[TraceEvent] = Field(default_factory=list)
    verdict_id: str | None = None
    policy: str = "offline"
    model: str | None = None
    library_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    def add(self, kind: EventKind, node: str | None = None, **data: Any) -> TraceEvent:
        event = TraceEvent(seq=len(self.events), kind=kind, node=node, data=data)
        self.events.append(event)
        return event
