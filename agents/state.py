"""What a judgment's graph passes between its nodes: tool requests, observations, the plan and the
scores a policy returns, and the state itself. Below the judge graph, so that criterion checks
(`agents/checks/`) and policies can name these types without importing the graph."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypedDict

from PIL import Image

from scrutiny.core.schema import Criterion, CriterionScore, Evidence, Task, Trace, Usage, Verdict
from scrutiny.skills.library import Skill
from scrutiny.tools import ToolResult

MET = 0.9
"""A criterion scoring at least this is met (unless it sets its own `met`); below it the critique names it."""
QUALITY_MET = 0.6
"""A quality or safety criterion without its own `met` qualifies the score from this bar: no-reference
quality of 0.7 is an ordinary photograph, and should not cost it anything."""


@dataclass
class ToolRequest:
    """One tool call a policy wants, on named images, for some criteria of one candidate."""

    tool: str
    arguments: dict[str, Any]
    candidate: int | None = None
    criteria: list[str] = field(default_factory=list)
    purpose: str = ""
    call_id: str = ""
    """The model's id for this call, to answer it in the conversation (empty offline)."""


@dataclass
class ModelTurn:
    """One step of a model's conversation about one candidate: what it wrote and the tools it called."""

    candidate: int
    step: int
    content: str
    calls: list[ToolRequest]

    @property
    def done(self) -> bool:
        """A turn that calls no tool ends the candidate's inspection."""
        return not self.calls


@dataclass
class Plan:
    """What a policy wants next: tool calls, and the model's turns that asked for them."""

    requests: list[ToolRequest] = field(default_factory=list)
    turns: list[ModelTurn] = field(default_factory=list)


@dataclass
class Pairwise:
    """A judgment of a comparison's two images side by side (in both orders): it decides the preference."""

    preferred: int | None
    """0 or 1; None for a tie (the two orders disagreed, or the model saw no difference) or no usable answer."""


@dataclass
class Scores:
    """What a policy's scoring returns: a score per criterion and candidate, and a pairwise judgment if made."""

    criterion_scores: list[CriterionScore]
    pairwise: Pairwise | None = None


@dataclass
class JudgmentRecord:
    """What one judgment records as it runs: its trace, usage, the images its tools made, the requests sent."""

    trace: Trace
    usage: Usage = field(default_factory=Usage)
    artifacts: dict[str, Image.Image] = field(default_factory=dict)
    """Images the tools produced, by content hash: written to the store with the judgment."""
    sent: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    """The model requests of this run (trace seq, messages), so the trace keeps each message once."""
    gates: Any = None
    """The gate measurements started as soon as the rubric is known (an `asyncio.Task` of their
    observations), running while the policy inspects; `score` takes them."""


@dataclass
class Observation:
    """A finished tool call: the request, its evidence record, the typed result, new image names."""

    request: ToolRequest
    evidence: Evidence
    result: ToolResult | None
    produced: dict[str, str]


class JudgeState(TypedDict, total=False):
    task: Task
    run: JudgmentRecord
    images: dict[str, Image.Image]
    hashes: dict[str, str]
    """Content hash of every named image (request encodings and artifacts are keyed by it)."""
    skills: list[Skill]
    rubric: list[Criterion]
    tools: list[str]
    pending: list[ToolRequest]
    observations: Annotated[list[Observation], operator.add]
    steps: int
    turns: Annotated[list[ModelTurn], operator.add]
    """A model policy's conversation so far (the offline policy has none)."""
    criterion_scores: list[CriterionScore]
    """Each criterion's score per candidate (not `Verdict.scores`, the candidates' overall scores)."""
    pairwise: Pairwise
    """Set when a comparison was judged side by side; it then decides the preference."""
    verdict: Verdict


class Policy(Protocol):
    """Decides which tools to call and how to score. `model` is None for the offline policy."""

    name: str
    model: str | None
    reads_skills: bool
    """Whether the routed skills' text reaches the policy (True where a policy does not say)."""

    async def rubric(self, state: JudgeState, synthesized: list[Criterion]) -> list[Criterion]: ...

    async def plan(self, state: JudgeState) -> Plan: ...

    async def score(self, state: JudgeState) -> Scores: ...
