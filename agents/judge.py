"""The judge graph: route → rubric → inspect ⇄ invoke_tools → score → aggregate (docs/architecture.md).

The six stages run as four graph nodes: `rubric` routes and then builds the rubric, `score`
scores and then aggregates, since neither pair has a branch or a loop between its two halves, and
each graph step costs a judge about 0.4 ms of CPU, which bounds its throughput when the model
servers are fast. The trace still has an event for every stage.

The same graph runs with any `Policy`: the offline planner that maps criteria to tools, or a
vision-language model behind a backend. The policy proposes tool calls on named images
(`candidate_0`, `source`, `crop_1`); `invoke_tools` runs them on pixels and adds what they
produce (crops, masks) to the conversation under new names; the policy then scores every
criterion from the evidence and `aggregate` turns the scores into a verdict.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from PIL import Image

from scrutiny.agents.checks import apply_skills, degenerate
from scrutiny.agents.checks.degenerate import with_gate
from scrutiny.agents.rubric import synthesize
from scrutiny.agents.state import (  # noqa: F401 - re-exported: the graph's types, where callers have found them
    MET,
    QUALITY_MET,
    JudgeState,
    JudgmentRecord,
    ModelTurn,
    Observation,
    Pairwise,
    Plan,
    Policy,
    Scores,
    ToolRequest,
)
from scrutiny.core.images import image_hash
from scrutiny.core.schema import (
    GATE_DIMENSIONS,
    GUARD_DIMENSIONS,
    Coverage,
    Criterion,
    CriterionScore,
    DegenerateCheck,
    Evidence,
    ObjectCheck,
    ScoreParts,
    Task,
    TextCheck,
    Unchecked,
    Verdict,
)
from scrutiny.memory import Store
from scrutiny.skills.router import Router, task_text
from scrutiny.tools import REGISTRY, ToolCall, get_tool


@dataclass(frozen=True)
class JudgeDeps:
    """What the graph runs with, passed as its context (never module globals); the same for every run
    of a judge. What a run records goes in its state (`JudgmentRecord`)."""

    policy: Policy
    store: Store | None = None
    max_steps: int = 4
    router: Router | None = None
    """Picks skills from the library for each task; None judges without skills."""
    unchecked: Unchecked = "lower"
    """What unchecked content criteria do to the overall score (`Coverage`)."""
    text_case: str = "insensitive"
    """"sensitive": requested text is matched with its case (`JudgeConfig.text_case`)."""
    counts: str = "exact"
    """"partial": a wrong count earns credit by how close it is (`JudgeConfig.counts`)."""
    degenerate: bool = True
    """Gate every rubric with the degenerate-image check (`JudgeConfig.degenerate`)."""

    @property
    def library_version(self) -> str:
        return self.router.version if self.router else ""


# 1. nodes


async def rubric(state: JudgeState, runtime: Runtime[JudgeDeps]) -> dict:
    """route (the skills and tools for this task), then rubric (the criteria, with those skills)."""
    deps, trace = runtime.context, state["run"].trace
    task = state["task"]
    tools = sorted(name for name in REGISTRY if name != "safety" or _safety_installed())
    synthesized = None
    if not task.rubric:
        synthesized = synthesize(task.prompt, edit=task.kind == "edit", library_version=deps.library_version)
    skills, routing = await _route(task, deps, synthesized)
    trace.add(
        "node_exit",
        "route",
        tools=tools,
        max_steps=deps.max_steps,
        policy=deps.policy.name,
        skills=[s.name for s in skills],
        library_version=deps.library_version,
        **routing,
    )
    if synthesized is None:
        criteria = task.rubric
    else:
        criteria = apply_skills(synthesized + await deps.policy.rubric(state, synthesized), skills)
    if deps.degenerate:
        criteria = with_gate(task.prompt, criteria)
        if deps.policy.model is not None:  # CPU work beside a wait for a model server, never beside other CPU work
            _start_gates({**state, "tools": tools, "rubric": criteria, "observations": [], "steps": 0})
    if deps.text_case == "sensitive":
        criteria = _set(criteria, TextCheck, case_sensitive=True)
    if deps.counts == "partial":
        criteria = _set(criteria, ObjectCheck, partial=True)
    trace.add(
        "node_exit", "rubric", given=task.rubric is not None, criteria=[c.model_dump(mode="json") for c in criteria]
    )
    return {"tools": tools, "skills": skills, "rubric": criteria, "steps": 0, "pending": []}


async def _route(task: Task, deps: JudgeDeps, synthesized: list[Criterion] | None) -> tuple[list, dict]:
    """The skills for a task, and what the trace says of how they were picked. The router runs where
    its choice can matter: the policy reads skill text, or a skill's params touch the rubric's
    dimensions. Elsewhere the `always` skills give the same scores without it (an embedding router
    runs MiniLM on every new prompt: some 20 ms of CPU)."""
    router = deps.router
    if router is None:
        return [], {}
    dimensions = {c.dimension for c in synthesized or []}
    if not getattr(deps.policy, "reads_skills", True) and not (synthesized and router.decides(dimensions)):
        return router.always(), {"routing": "not needed: no skill's params touch this rubric"}
    text = task_text(task.kind, task.prompt)
    skills = router.cached(text)
    if skills is None:  # an embedding router runs a small model: off the event loop meanwhile
        skills = await asyncio.to_thread(router.route, text)
    return skills, {}


def _set(criteria: list[Criterion], kind: type, **values: Any) -> list[Criterion]:
    """The criteria with `values` set on every check of `kind` (a judge's setting applied to its rubric)."""
    return [
        c.model_copy(update={"check": c.check.model_copy(update=values)}) if isinstance(c.check, kind) else c
        for c in criteria
    ]


async def inspect(state: JudgeState, runtime: Runtime[JudgeDeps]) -> Command[Literal["invoke_tools", "score"]]:
    """The policy plans tool calls; with none planned (or the step budget spent) the run goes on to score.
    The node names its successor itself (a `Command`), which costs the graph less than a routing edge."""
    trace = state["run"].trace
    if state["steps"] >= runtime.context.max_steps:
        trace.add("node_exit", "inspect", stopped="step budget spent", steps=state["steps"])
        return Command(update={"pending": []}, goto="score")
    plan = await runtime.context.policy.plan(state)
    trace.add("node_exit", "inspect", step=state["steps"], planned=len(plan.requests))
    return Command(
        update={"pending": plan.requests, "turns": plan.turns}, goto="invoke_tools" if plan.requests else "score"
    )


def _run_tool(request: ToolRequest, images: dict[str, Image.Image], allowed: set[str], hashes: dict) -> ToolCall:
    if request.tool not in allowed:
        error = f"no tool named {request.tool!r} for this task; available: {', '.join(sorted(allowed))}"
        return ToolCall(request.tool, request.arguments, None, error, 0.0)
    return get_tool(request.tool).invoke(request.arguments, images, hashes)


async def _calls(requests: list[ToolRequest], images: dict, allowed: set[str], hashes: dict) -> list[ToolCall]:
    """Every request's call: in worker threads, started first, then the inline tools' on this thread
    (`Tool.inline`) while the workers run."""
    inline = [r.tool in allowed and r.tool in REGISTRY and REGISTRY[r.tool].inline for r in requests]
    threaded = {
        k: asyncio.ensure_future(asyncio.to_thread(_run_tool, r, images, allowed, hashes))
        for k, r in enumerate(requests)
        if not inline[k]
    }
    if threaded and any(inline):
        await asyncio.sleep(0)  # the workers' calls are submitted before this thread gets busy
    try:
        here = {k: _run_tool(r, images, allowed, hashes) for k, r in enumerate(requests) if inline[k]}
    except BaseException:
        for task in threaded.values():
            task.cancel()
        raise
    done = dict(zip(threaded, await asyncio.gather(*threaded.values()))) if threaded else {}
    return [here[k] if inline[k] else done[k] for k in range(len(requests))]


async def invoke_tools(state: JudgeState) -> dict:
    run = state["run"]
    images = dict(state["images"])
    hashes = dict(state.get("hashes") or {})
    allowed = set(state["tools"])
    observations = []
    for request, call in zip(state["pending"], await _calls(state["pending"], images, allowed, hashes)):
        run.trace.add(
            "tool_call",
            "invoke_tools",
            tool=request.tool,
            arguments=request.arguments,
            candidate=request.candidate,
            criteria=request.criteria,
            purpose=request.purpose,
        )
        produced, artifacts = {}, []
        for kind, image in (call.result.produced_images() if call.result else {}).items():
            name = f"{kind}_{sum(n.startswith(kind + '_') for n in images) + 1}"
            images[name] = image
            hashes[name] = produced[name] = image_hash(image)
            run.artifacts[produced[name]] = image
            artifacts.append(produced[name])
        evidence = Evidence(
            tool=request.tool,
            arguments=request.arguments,
            candidate=request.candidate,
            output=call.result.model_dump(mode="json") if call.result else None,
            artifacts=[a for a in artifacts if a],
            seconds=round(call.seconds, 6),
            error=call.error,
        )
        run.trace.add(
            "tool_result",
            "invoke_tools",
            evidence=evidence.id,
            tool=request.tool,
            error=call.error,
            output=evidence.output,
            produced=produced,
        )
        run.usage.tool_calls += 1
        observations.append(Observation(request, evidence, call.result, produced))
    return {
        "observations": observations,
        "images": images,
        "hashes": hashes,
        "steps": state["steps"] + 1,
        "pending": [],
    }


async def score(state: JudgeState, runtime: Runtime[JudgeDeps]) -> dict:
    """score (every criterion, from the evidence), then aggregate (overall scores, preference, critique)."""
    deps, run = runtime.context, state["run"]
    result = await deps.policy.score(state)
    scores, observations = await _measure_gates(state, result.criterion_scores)
    run.trace.add("node_exit", "score", scores=[s.model_dump(mode="json") for s in scores])
    task, criteria = state["task"], state["rubric"]
    mine = [[s for s in scores if s.candidate == i] for i in range(len(task.candidates))]
    parts = [score_parts(criteria, m, deps.unchecked) for m in mine]
    overall = [p.overall for p in parts]
    covered = [coverage(criteria, m, deps.unchecked) for m in mine]
    preferred, ranking = preference(overall, [p.content for p in parts])
    if result.pairwise is not None and task.kind == "compare":  # a judgment of the pair in both orders decides
        preferred = result.pairwise.preferred
    verdict = Verdict(
        task=task,
        rubric=criteria,
        scores=overall,
        criterion_scores=scores,
        evidence=_in_trace_order(run, state.get("observations", []) + observations),
        preferred=preferred if len(overall) > 1 else None,
        ranking=ranking if len(overall) > 1 else None,
        coverage=covered,
        parts=[p.parts for p in parts],
        critique=critique(criteria, scores, overall, covered, [p.parts for p in parts]),
        trace_id=run.trace.id,
        policy=deps.policy.name,
        model=deps.policy.model,
        library_version=deps.library_version,
        usage=run.usage,
    )
    run.trace.add("node_exit", "aggregate", scores=overall, preferred=verdict.preferred, ranking=verdict.ranking)
    update = {"criterion_scores": scores, "verdict": verdict}
    return update | ({"pairwise": result.pairwise} if result.pairwise is not None else {})


def _in_trace_order(run: JudgmentRecord, observations: list[Observation]) -> list[Evidence]:
    """The observations' evidence in the order their calls were recorded (early gate measurements
    are recorded while the policy's own looks run)."""
    seq = {e.data.get("evidence"): e.seq for e in run.trace.events if e.kind == "tool_result"}
    return sorted((o.evidence for o in observations), key=lambda evidence: seq.get(evidence.id, 0))


def _gates(state: JudgeState) -> list[Criterion]:
    return [c for c in state["rubric"] if c.dimension in GATE_DIMENSIONS and isinstance(c.check, DegenerateCheck)]


def _start_gates(state: JudgeState) -> None:
    """Start measuring the gates on pixels alone as soon as the rubric is known, while a model policy
    waits for its server, instead of after it (the offline policy's own looks are CPU work: beside
    them the gate would only contend for the same cores and hold its memory at the same time). A gate
    that reads text on a blank canvas is measured again once the policy's tools have read it, where
    the image is such a canvas."""
    plans = [
        r for i in range(len(state["task"].candidates)) for c in _gates(state) for r in degenerate.plan(state, i, c)
    ]
    if plans:
        task = asyncio.ensure_future(invoke_tools({**state, "pending": [degenerate.on_pixels(r) for r in plans]}))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a judgment that failed first never asks
        state["run"].gates = task


async def _measure_gates(
    state: JudgeState, scores: list[CriterionScore]
) -> tuple[list[CriterionScore], list[Observation]]:
    """The policy's scores with the gates measured on pixels, and the observations those rest on. Policies
    judge content; gates are the judge's own, the same for every policy (a policy that scores one anyway
    keeps its score). What was measured early (`_start_gates`) is taken where it settles the gate."""
    done = {(s.criterion, s.candidate) for s in scores if s.score is not None}
    wanted = [(c, i) for i in range(len(state["task"].candidates)) for c in _gates(state) if (c.id, i) not in done]
    if not wanted:
        return scores, []
    early = (await state["run"].gates)["observations"] if state["run"].gates is not None else []
    by_request = {(o.request.purpose, o.request.candidate, tuple(o.request.criteria)): o for o in early}
    observations, pending = [], []
    for r in (r for c, i in wanted for r in degenerate.plan(state, i, c)):
        o = by_request.get((r.purpose, r.candidate, tuple(r.criteria)))
        if o is not None and degenerate.settles(o, r):
            observations.append(o)
        else:
            pending.append(r)
    if pending:
        observations += (await invoke_tools({**state, "pending": pending}))["observations"]
    measured = []
    for c, i in wanted:
        seen = {o.request.purpose: o for o in observations if o.request.candidate == i and c.id in o.request.criteria}
        value, rationale, used = degenerate.score(c, seen)
        evidence = [o.evidence.id for o in used]
        measured.append(
            CriterionScore(criterion=c.id, candidate=i, score=value, evidence=evidence, rationale=rationale)
        )
    replaced = {(c.id, i) for c, i in wanted}
    return [s for s in scores if (s.criterion, s.candidate) not in replaced] + measured, observations


# 2. the graph


def build_judge_graph():
    graph = StateGraph(JudgeState, context_schema=JudgeDeps)
    graph.add_node("rubric", rubric)
    graph.add_node("inspect", inspect)
    graph.add_node("invoke_tools", invoke_tools)
    graph.add_node("score", score)
    graph.add_edge(START, "rubric")
    graph.add_edge("rubric", "inspect")
    graph.add_edge("invoke_tools", "inspect")
    graph.add_edge("score", END)
    return graph.compile()


JUDGE_GRAPH = build_judge_graph()


async def run_judge(
    task: Task,
    images: dict[str, Image.Image],
    deps: JudgeDeps,
    run: JudgmentRecord,
    hashes: dict[str, str] | None = None,
) -> Verdict:
    """Run the judge graph on one task, recording into `run`; the verdict's latency covers the whole run.

    `hashes` gives the content hash of named images when the caller has them already."""
    start = time.perf_counter()
    hashes = {name: (hashes or {}).get(name) or image_hash(image) for name, image in images.items()}
    initial: JudgeState = {"task": task, "run": run, "images": images, "hashes": hashes}
    state = await JUDGE_GRAPH.ainvoke(initial, context=deps)
    verdict = state["verdict"]
    verdict.latency_s = round(time.perf_counter() - start, 6)
    return verdict


# 3. aggregation helpers


@dataclass(frozen=True)
class Overall:
    """A candidate's overall score and the parts it is made of."""

    overall: float | None
    parts: ScoreParts

    @property
    def content(self) -> float | None:
        return self.parts.content


def score_parts(rubric: list[Criterion], scores: list[CriterionScore], unchecked: Unchecked = "lower") -> Overall:
    """Content decides, quality qualifies: `content × quality × gate` (see `ScoreParts`).

    `content` is the weighted mean of the decided content criteria, with unchecked ones as `unchecked`
    says; each quality or safety criterion multiplies in `min(1, score / met) ** weight`; each gate
    `score ** weight`. No content checked abstains (None), unless a gate failed: that scores 0."""
    by_id = {c.id: c for c in rubric}
    content = _content_score(by_id, scores, unchecked)
    quality = gate = 1.0
    failed = []
    for s in scores:
        c = by_id.get(s.criterion)
        if c is None or c.dimension not in GUARD_DIMENSIONS or s.score is None or c.weight <= 0:
            continue
        met = (QUALITY_MET if c.dimension not in GATE_DIMENSIONS else MET) if c.met is None else c.met
        if c.dimension in GATE_DIMENSIONS:
            gate *= s.score**c.weight
        else:
            quality *= min(1.0, s.score / met) ** c.weight if met > 0 else 1.0
        if s.score < met:
            failed.append(c.id)
    parts = ScoreParts(content=content, quality=round(quality, 6), gate=round(gate, 6), failed=failed)
    if gate < GATE_FLOOR:
        return Overall(0.0, parts)
    if content is None:
        return Overall(None, parts)
    return Overall(round(min(1.0, max(0.0, content * quality * gate)), 6), parts)


GATE_FLOOR = 1e-6
"""A gate product below this has failed: the overall score is 0, even with no content checked."""


def _content_score(by_id: dict[str, Criterion], scores: list[CriterionScore], unchecked: Unchecked) -> float | None:
    """Weighted mean of the decided content criteria (unchecked ones as `unchecked` says); None when none
    that weighs anything was checked."""
    content = [s for s in scores if s.criterion in by_id and by_id[s.criterion].dimension not in GUARD_DIMENSIONS]
    weight = {s.criterion: by_id[s.criterion].weight for s in content}
    decided = [(weight[s.criterion], s.score) for s in content if s.score is not None]
    missing = [weight[s.criterion] for s in content if s.score is None]
    if not any(w > 0 for w, _ in decided):
        return None  # nothing seen, or only content that weighs nothing
    if missing and unchecked == "abstain":
        return None
    total = sum(w for w, _ in decided) + (sum(missing) if unchecked == "lower" else 0.0)
    return round(min(1.0, max(0.0, sum(w * v for w, v in decided) / total)), 6)


def overall_score(
    rubric: list[Criterion], scores: list[CriterionScore], unchecked: Unchecked = "lower"
) -> float | None:
    """The overall score of one candidate's criterion scores (`score_parts`)."""
    return score_parts(rubric, scores, unchecked).overall


def coverage(rubric: list[Criterion], scores: list[CriterionScore], unchecked: Unchecked = "lower") -> Coverage:
    """Which content criteria a candidate's scores checked, and why the verdict abstains if it does."""
    content = {c.id for c in rubric if c.dimension not in GUARD_DIMENSIONS}
    mine = [s for s in scores if s.criterion in content]
    result = Coverage(
        checked=[s.criterion for s in mine if s.score is not None],
        unchecked={s.criterion: s.rationale or "not checked" for s in mine if s.score is None},
    )
    if not content:
        result.abstain_reason = "the rubric names nothing to see in the image (only quality or safety criteria)"
    elif not result.checked:
        result.abstain_reason = "no content criterion could be checked: " + "; ".join(
            sorted(set(result.unchecked.values()))
        )
    elif all({c.id: c.weight for c in rubric}.get(k, 1.0) <= 0 for k in result.checked):
        result.abstain_reason = (
            "every content criterion checked weighs 0 (the skill library's weights), so the score would "
            "come from image quality alone"
        )
    elif result.unchecked and unchecked == "abstain":
        result.abstain_reason = f"{len(result.unchecked)} content criteria could not be checked (unchecked='abstain')"
    return result


QUALITY_TIE = 0.02
"""When two candidates' content criteria score the same, a difference in overall score below this
(which then comes from image quality alone) is a tie: no-reference quality is too soft a signal
to pick a winner by a hair."""


def preference(overall: list[float | None], content: list[float | None] | None = None) -> tuple[int | None, list[int]]:
    """The best candidate (None for a tie or an abstention) and all candidates best first. With
    `content` (the content scores, `ScoreParts.content`), a lead that quality alone makes and that is
    under `QUALITY_TIE` is a tie."""
    ranking = sorted(range(len(overall)), key=lambda i: (overall[i] is None, -(overall[i] or 0.0), i))
    decided = [s for s in overall if s is not None]
    if len(decided) < len(overall) or len(overall) < 2:
        return None, ranking
    best, second = overall[ranking[0]], overall[ranking[1]]
    if content is not None and None not in (content[ranking[0]], content[ranking[1]]):
        if abs(content[ranking[0]] - content[ranking[1]]) <= 1e-9 and best - second < QUALITY_TIE:
            return None, ranking
    return (ranking[0] if best - second > 1e-9 else None), ranking


def critique(
    rubric: list[Criterion],
    scores: list[CriterionScore],
    overall: list[float | None],
    covered: list[Coverage],
    parts: list[ScoreParts] | None = None,
) -> str:
    """What is wrong with each candidate and what was seen, one line per unmet criterion, and what
    could not be checked (and so does not count as met)."""
    statements = {c.id: c.statement for c in rubric}
    thresholds = {c.id: MET if c.met is None else c.met for c in rubric}
    blocks = []
    for i in range(len(overall)):
        mine = [s for s in scores if s.candidate == i]
        unmet = [s for s in mine if s.score is not None and s.score < thresholds.get(s.criterion, MET)]
        unchecked = [s for s in mine if s.score is None]
        lines = [f"- {statements[s.criterion]}: {s.rationale} (score {s.score:.2f})" for s in unmet]
        checked = len(covered[i].checked)  # content criteria, counted as coverage counts them
        if not unmet and checked:
            lines.append(
                f"- the {checked} checked content criteria are met"
                if checked > 1
                else "- the checked content criterion is met"
            )
        if unchecked:
            lines.append("- not checked: " + "; ".join(f"{statements[s.criterion]} ({s.rationale})" for s in unchecked))
        if parts and (parts[i].quality < 1 or parts[i].gate < 1) and parts[i].content is not None:
            lines.append(
                f"- score: content {parts[i].content:.2f} × quality {parts[i].quality:.2f} × gate {parts[i].gate:.2f}"
            )
        cover = covered[i]
        if parts and parts[i].gate < GATE_FLOOR:
            lines.append("- failed a gate: the image scores 0 whatever its content")
        elif cover.abstain_reason:
            lines.append(f"- abstained: {cover.abstain_reason}")
        elif cover.unchecked:
            total = len(cover.checked) + len(cover.unchecked)
            lines.append(f"- coverage: {len(cover.checked)} of {total} content criteria checked")
        head = f"candidate {i}" + (f" (score {overall[i]:.2f})" if overall[i] is not None else " (abstained)")
        blocks.append(head + ":\n" + "\n".join(lines) if len(overall) > 1 else "\n".join(lines))
    return "\n".join(blocks)


@functools.cache
def _safety_installed() -> bool:
    """Whether the safety tool's detector can load (looked up once: the search walks sys.path)."""
    import importlib.util

    return importlib.util.find_spec("nudenet") is not None
