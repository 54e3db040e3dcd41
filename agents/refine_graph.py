"""The refine graph: generate → judge → critique → revise → generate … (docs/architecture.md).

Test-time refinement as a real loop (RationalRewards, TIGER-Lab, showed that critique-driven
prompt revision can match RL fine-tuning; its released code does one pass).
Every round judges against the user's original prompt, never the revision. The best image so far
is kept; a revision is accepted only if its round does not lower the best score, otherwise the
next revision starts again from the last accepted prompt. The loop stops when every checkable
criterion is met, a score threshold is reached, or the round or time budget is spent.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from PIL import Image

from scrutiny.agents import checks
from scrutiny.agents.judge import MET
from scrutiny.core.schema import (
    Criterion,
    Verdict,
)


class Generator(Protocol):
    """Prompts and seeds in, one image per prompt out (an edit generator also takes a source)."""

    async def agenerate(self, prompts: list[str], seeds: list[int]) -> list[Image.Image]: ...


class Reviser(Protocol):
    """Writes the next prompt from the accepted prompt and the best verdict's critique."""

    name: str

    async def revise(self, original: str, accepted: str, verdict: Verdict) -> str: ...


JudgeFn = Callable[[Image.Image, str], Awaitable[Verdict]]


@dataclass
class Round:
    index: int
    prompt: str
    images: list[Image.Image]
    verdicts: list[Verdict]
    best: int | None
    """Index of this round's best image (None if every verdict abstained)."""
    accepted: bool
    seconds: float

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else self.verdicts[self.best].score


@dataclass
class RefineDeps:
    generator: Generator
    judge: JudgeFn
    reviser: Reviser
    n: int = 4
    max_rounds: int = 3
    threshold: float | None = None
    time_budget_s: float | None = None
    seed: int = 0
    on_round: Callable[[Round], None] | None = None
    started: float = field(default_factory=time.perf_counter)


class RefineState(TypedDict, total=False):
    prompt: str
    current: str
    accepted: str
    rounds: Annotated[list[Round], operator.add]
    best: tuple[int, int] | None
    """(round, image) of the best image so far."""
    stop: str | None


# 1. nodes


async def generate(state: RefineState, runtime: Runtime[RefineDeps]) -> dict:
    deps = runtime.context
    start = time.perf_counter()
    seeds = [deps.seed + i for i in range(deps.n)]  # the same seeds every round: only the prompt changes
    images = await deps.generator.agenerate([state["current"]] * deps.n, seeds)
    if len(images) != deps.n:
        raise ValueError(f"the generator returned {len(images)} images for {deps.n} prompts")
    verdicts = [await deps.judge(image, state["prompt"]) for image in images]
    scored = [i for i, v in enumerate(verdicts) if v.score is not None]
    best = max(scored, key=lambda i: verdicts[i].score) if scored else None
    index = len(state.get("rounds", []))
    return {"rounds": [Round(index, state["current"], images, verdicts, best, False, time.perf_counter() - start)]}


def critique(state: RefineState, runtime: Runtime[RefineDeps]) -> dict:
    deps = runtime.context
    rounds = state["rounds"]
    latest = rounds[-1]
    best = state.get("best")
    best_score = None if best is None else rounds[best[0]].verdicts[best[1]].score
    latest.accepted = latest.best_score is not None and (best_score is None or latest.best_score >= best_score)
    update: dict = {}
    if latest.accepted:
        update.update(best=(latest.index, latest.best), accepted=latest.prompt)
        best_verdict = latest.verdicts[latest.best]
    else:
        best_verdict = None if best is None else rounds[best[0]].verdicts[best[1]]
    if deps.on_round:
        deps.on_round(latest)
    update["stop"] = stop_reason(best_verdict, len(rounds), deps)
    return update


async def revise(state: RefineState, runtime: Runtime[RefineDeps]) -> dict:
    deps = runtime.context
    best = state.get("best")
    accepted = state.get("accepted") or state["prompt"]
    if best is None:
        return {"current": accepted}
    verdict = state["rounds"][best[0]].verdicts[best[1]]
    revised = await deps.reviser.revise(state["prompt"], accepted, verdict)
    if revised.strip() == accepted.strip():
        return {"stop": "no revision left: nothing the reviser can restate"}
    return {"current": revised}


# 2. routers


def after_critique(state: RefineState) -> Literal["revise", "__end__"]:
    return END if state.get("stop") else "revise"


def after_revise(state: RefineState) -> Literal["generate", "__end__"]:
    return END if state.get("stop") else "generate"


# 3. the graph


def build_refine_graph():
    graph = StateGraph(RefineState, context_schema=RefineDeps)
    graph.add_node("generate", generate)
    graph.add_node("critique", critique)
    graph.add_node("revise", revise)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "critique")
    graph.add_conditional_edges("critique", after_critique)
    graph.add_conditional_edges("revise", after_revise)
    return graph.compile()


REFINE_GRAPH = build_refine_graph()


async def run_refine(prompt: str, deps: RefineDeps) -> RefineState:
    return await REFINE_GRAPH.ainvoke(
        {"prompt": prompt, "current": prompt, "accepted": prompt, "best": None},
        context=deps,
        config={"recursion_limit": 4 * deps.max_rounds + 10},
    )


# 4. stop rules and the offline reviser


def unmet(verdict: Verdict) -> list[Criterion]:
    """Checkable criteria of the first candidate scoring below their threshold."""
    scores = {s.criterion: s.score for s in verdict.criterion_scores if s.candidate == 0}
    return [
        c for c in verdict.rubric if scores.get(c.id) is not None and scores[c.id] < (MET if c.met is None else c.met)
    ]


def stop_reason(best: Verdict | None, rounds: int, deps: RefineDeps) -> str | None:
    if best is not None and best.score is not None:
        if not unmet(best) and any(s.score is not None for s in best.criterion_scores):
            unchecked = len(best.coverage[0].unchecked) if best.coverage else 0
            if not unchecked:
                return "every checkable criterion is met"
            return f"every checked criterion is met; {unchecked} could not be checked (score {best.score:.2f})"
        if deps.threshold is not None and best.score >= deps.threshold:
            return f"score {best.score:.3f} reached the threshold {deps.threshold}"
    if rounds >= deps.max_rounds:
        return f"round budget spent ({deps.max_rounds} rounds)"
    if deps.time_budget_s is not None and time.perf_counter() - deps.started >= deps.time_budget_s:
        return f"time budget spent ({deps.time_budget_s:.0f} s)"
    return None


def restate(c: Criterion) -> str | None:
    """One explicit sentence for an unmet criterion, or None when there is nothing to restate (its
    check's room says it: `agents/checks/`)."""
    return checks.restate(c)


class OfflineReviser:
    """Deterministic revision: append one explicit sentence per unmet criterion to the accepted prompt.

    A criterion still unmet after its sentence was added is stressed once ("Above all, ..."), never
    the same sentence twice; after that it has nothing left to say, and with nothing left for any
    criterion the loop stops.
    """

    name = "offline"

    async def revise(self, original: str, accepted: str, verdict: Verdict) -> str:
        sentences = []
        for sentence in dict.fromkeys(s for s in (restate(c) for c in unmet(verdict)) if s):
            stressed = f"Above all, {sentence[0].lower()}{sentence[1:]}"
            if sentence not in accepted:
                sentences.append(sentence)
            elif stressed not in accepted:
                sentences.append(stressed)
        return accepted if not sentences else f"{accepted.rstrip()} {' '.join(sentences)}"


REVISE = """You rewrite prompts for an image generator. The user wants: «{original}»
The last prompt was: «{accepted}»
A careful judge found these problems in the best image so far:
{problems}
Write one improved prompt that keeps everything the user asked for and states the missed details \
explicitly (exact quoted text, exact counts, colours, positions). Reply with JSON only: {{"prompt": "..."}}"""


class ModelReviser:
    """An LLM rewrites the prompt, grounded in the critique (the unmet criteria and what was seen).

    A reply that is not valid JSON with a non-empty "prompt" falls back to the offline revision, so a
    round is never wasted on a parse failure.
    """

    name = "model"

    def __init__(self, backend: Any):
        self.backend = backend
        self.fallback = OfflineReviser()

    async def revise(self, original: str, accepted: str, verdict: Verdict) -> str:
        scores = {s.criterion: s for s in verdict.criterion_scores if s.candidate == 0}
        problems = "\n".join(f"- {c.statement}: {scores[c.id].rationale}" for c in unmet(verdict)) or "- none found"
        completion = await self.backend.chat(
            [{"role": "user", "content": REVISE.format(original=original, accepted=accepted, problems=problems)}],
            response_format={"type": "json_object"},
        )
        try:
            revised = json.loads(completion.content or "").get("prompt", "").strip()
        except (json.JSONDecodeError, AttributeError):
            revised = ""
        return revised or await self.fallback.revise(original, accepted, verdict)
