"""The evolution graph: evaluate → propose → gate → … → prune (RewardHarness's loop: https://rewardharness.com).

A library evolves from preference pairs a team labelled: the pairs are split into train and
validation (train pairs also seen with A and B swapped); proposers suggest library edits from the
training pairs; an edit is kept only if it raises validation accuracy above the best so far (by
more than `margin`; a tie keeps the parent) and weights no guard dimension (quality, safety) to
zero, otherwise it is rolled back; finally each skill is left out in turn and
pruned if validation accuracy does not drop without it. Every kept library is recorded in the
store with its parent. The run's state is saved after every step, so a crashed run resumes.

Proposers:
- `WeightProposer` (offline, AutoRubric-T2I): ℓ1-regularised logistic regression on
  per-dimension score differences between the two images of a pair, stored as a
  `learned-weights` skill that re-weights criteria by dimension for every task.
- `ModelProposer`: an LLM through the backend reads the training pairs the library gets wrong
  and writes a new skill (RewardHarness-style failure analysis).
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypedDict

import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import ValidationError

from scrutiny.agents.checks import apply_skills
from scrutiny.agents.checks.attribute import presence_score
from scrutiny.agents.checks.edit import preservation_score
from scrutiny.agents.judge import overall_score
from scrutiny.core.schema import GUARD_DIMENSIONS, Criterion, CriterionScore
from scrutiny.skills.library import DIMENSIONS, Skill, SkillLibrary
from scrutiny.skills.router import Router, task_text

DIMS = sorted(DIMENSIONS)


@dataclass
class Example:
    """One judged pair: the criteria (base weights) and each image's criterion scores."""

    prompt: str
    kind: str
    rubric: list[Criterion]
    scores: tuple[dict[str, float | None], dict[str, float | None]]
    label: float
    """1.0 when a human prefers the first image, 0.0 the second."""
    measures: tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]] = ({}, {})
    """Per image, per criterion: the raw measurements behind thresholded scores."""

    def swapped(self) -> Example:
        return Example(
            self.prompt,
            self.kind,
            self.rubric,
            (self.scores[1], self.scores[0]),
            1.0 - self.label,
            (self.measures[1], self.measures[0]),
        )


def rescored(c: Criterion, score: float | None, measures: dict[str, float]) -> float | None:
    """The criterion's score under the thresholds its check sets (what judging again would give)."""
    if score is None or not measures:
        return score
    share = getattr(c.check, "share", None)
    if "share" in measures and share is not None:
        return round(presence_score(measures["share"], share), 6)
    tolerance = getattr(c.check, "collateral_tolerance", None)
    if "collateral" in measures and tolerance is not None:
        return round(preservation_score(measures["collateral"], measures["ssim"], tolerance), 6)
    return score


def weighted(example: Example, library: SkillLibrary, router_cache: dict) -> list[Criterion]:
    key = library.version
    if key not in router_cache:
        router_cache[key] = Router(library, method="bm25")
    return apply_skills(example.rubric, router_cache[key].route(task_text(example.kind, example.prompt)))


def prefers_first(example: Example, library: SkillLibrary, router_cache: dict) -> float | None:
    """1 / 0 / 0.5 (tie) as the judge with `library` would aggregate these criterion scores."""
    rubric = weighted(example, library, router_cache)
    overall = []
    for scores, measures in zip(example.scores, example.measures):
        by_id = {c.id: c for c in rubric}
        values = [
            CriterionScore(
                criterion=cid, candidate=0, score=rescored(by_id[cid], s, measures.get(cid, {})) if cid in by_id else s
            )
            for cid, s in scores.items()
        ]
        overall.append(overall_score(rubric, values))
    if overall[0] is None or overall[1] is None:
        return None
    return 0.5 if abs(overall[0] - overall[1]) <= 1e-9 else float(overall[0] > overall[1])


def accuracy(examples: list[Example], library: SkillLibrary, router_cache: dict | None = None) -> float:
    cache = {} if router_cache is None else router_cache
    hits = [prefers_first(e, library, cache) == e.label for e in examples]
    return sum(hits) / len(hits) if hits else 0.0


# 1. proposers


@dataclass
class Proposal:
    library: SkillLibrary
    description: str
    proposer: str


class Proposer(Protocol):
    name: str

    async def propose(self, library: SkillLibrary, train: list[Example]) -> list[Proposal]: ...


def dimension_differences(example: Example, library: SkillLibrary, cache: dict) -> np.ndarray:
    """[D] weighted score of image A minus image B, per dimension (the features of the regression)."""
    rubric = weighted(example, library, cache)
    total = sum(c.weight for c in rubric) or 1.0
    out = np.zeros(len(DIMS))
    for c in rubric:
        a = rescored(c, example.scores[0].get(c.id), example.measures[0].get(c.id, {}))
        b = rescored(c, example.scores[1].get(c.id), example.measures[1].get(c.id, {}))
        if a is not None and b is not None:
            out[DIMS.index(c.dimension)] += c.weight * (a - b) / total
    return out


def fit_l1_logistic(x: np.ndarray, y: np.ndarray, l1: float = 0.01, steps: int = 3000, lr: float = 1.0) -> np.ndarray:
    """min mean log-loss(sigmoid(x·w), y) + l1·|w|₁ by proximal gradient descent (no intercept:
    swapping A and B must flip the prediction)."""
    w = np.zeros(x.shape[1])  # [D]
    scale = np.abs(x).max(axis=0) + 1e-9  # features on one scale, so one step size fits all
    xs = x / scale
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xs @ w)))  # [N]
        w = w - lr * xs.T @ (p - y) / len(y)
        w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0.0)  # soft threshold: the ℓ1 step
    return w / scale


class WeightProposer:
    name = "learned-weights"

    def __init__(self, l1: float = 0.01):
        self.l1 = l1

    async def propose(self, library: SkillLibrary, train: list[Example]) -> list[Proposal]:
        cache: dict = {}
        x = np.stack([dimension_differences(e, library, cache) for e in train])  # [N, D]
        y = np.array([e.label for e in train])
        beta = fit_l1_logistic(x, y, self.l1)
        used = [d for d in range(len(DIMS)) if np.abs(x[:, d]).sum() > 0]
        if not used or not (beta[used] > 0).any():
            return []
        factors = np.clip(beta, 0.0, None)
        factors = factors / factors[used].mean()  # the mean dimension keeps its weight
        # guards keep their weight: a team's pairs rarely differ in quality, and a learned 0 would let
        # a blurred image score as well as a sharp one
        weights = {DIMS[d]: round(float(factors[d]), 4) for d in used if DIMS[d] not in GUARD_DIMENSIONS}
        if not weights:
            return []
        previous = library.skills.get("learned-weights")
        if previous is not None:  # compose with what earlier rounds learned
            weights = {d: round(w * previous.params.weights.get(d, 1.0), 4) for d, w in weights.items()}
        skill = Skill(
            name="learned-weights",
            kind="rubric",
            version=int(previous.version) + 1 if previous else 1,
            description="Criterion weights per dimension, learned from this team's preference pairs.",
            when_to_use="Always: it encodes how much this team cares about each kind of criterion.",
            body="Weights learned by l1-regularised logistic regression on per-dimension score differences "
            "(AutoRubric-T2I).",
            params={"always": True, "weights": weights},
        )
        summary = ", ".join(f"{d} ×{w:g}" for d, w in sorted(weights.items()))
        return [Proposal(library.with_skill(skill), f"learned weights: {summary}", self.name)]


class ThresholdProposer:
    """Tunes the offline policy's scoring thresholds (colour presence share, edit collateral
    tolerance) by grid search on the training pairs, as a `learned-thresholds` skill."""

    name = "learned-thresholds"
    grid = {
        "presence_share": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
        "collateral_tolerance": (0.01, 0.02, 0.05, 0.1, 0.2, 0.4),
    }

    async def propose(self, library: SkillLibrary, train: list[Example]) -> list[Proposal]:
        used = {key for e in train for m in e.measures for measures in m.values() for key in measures}
        names = [
            n for n, needs in (("presence_share", "share"), ("collateral_tolerance", "collateral")) if needs in used
        ]
        if not names:
            return []
        cache: dict = {}
        best_library, best = library, accuracy(train, library, cache)
        chosen: dict[str, float] = {}
        for name in names:  # one threshold at a time, the others kept at their best so far
            for value in self.grid[name]:
                candidate = self._with(library, {**chosen, name: value})
                score = accuracy(train, candidate, cache)
                if score > best:
                    best, best_library, chosen = score, candidate, {**chosen, name: value}
        if best_library is library:
            return []
        summary = ", ".join(f"{k} {v:g}" for k, v in sorted(chosen.items()))
        return [Proposal(best_library, f"learned thresholds: {summary}", self.name)]

    @staticmethod
    def _with(library: SkillLibrary, thresholds: dict[str, float]) -> SkillLibrary:
        skill = Skill(
            name="learned-thresholds",
            kind="tool-prompt",
            version=1,
            description="Scoring thresholds of the offline tools, tuned on this team's preference pairs.",
            when_to_use="Always: it sets how much colour counts as present and how much collateral change an edit may make.",
            body="Thresholds tuned by grid search on training pairs.",
            params={"always": True, "thresholds": thresholds},
        )
        return library.with_skill(skill)


PROPOSE = """You maintain a library of judging skills. The judge got these preference pairs wrong (the \
human preferred the other image). Each line: prompt, then per criterion the score of the image the human \
preferred vs the other.
{failures}

Current skills: {skills}
Write ONE new skill that would fix these mistakes. Reply with JSON only: {{"name": "lower-case-with-dashes", \
"kind": "rubric", "description": "...", "when_to_use": "...", "body": "...", "params": {{"weights": \
{{"dimension": factor}}}}}} where dimensions are {dims}."""


class ModelProposer:
    """An LLM orchestrator proposes a skill from the training pairs the library gets wrong."""

    name = "model"

    def __init__(self, backend: Any, max_failures: int = 12):
        self.backend = backend
        self.max_failures = max_failures

    async def propose(self, library: SkillLibrary, train: list[Example]) -> list[Proposal]:
        cache: dict = {}
        wrong = [e for e in train if prefers_first(e, library, cache) != e.label][: self.max_failures]
        if not wrong:
            return []
        lines = []
        for e in wrong:
            better, worse = (e.scores[0], e.scores[1]) if e.label == 1.0 else (e.scores[1], e.scores[0])
            parts = "; ".join(f"{c.dimension}: {better.get(c.id)} vs {worse.get(c.id)}" for c in e.rubric)
            lines.append(f"- «{e.prompt}»: {parts}")
        prompt = PROPOSE.format(
            failures="\n".join(lines), skills=", ".join(sorted(library.skills)), dims=", ".join(DIMS)
        )
        completion = await self.backend.chat(
            [{"role": "user", "content": prompt}], response_format={"type": "json_object"}
        )
        try:
            data = json.loads(completion.content or "")
            skill = Skill(**{**data, "version": 1})
        except (json.JSONDecodeError, ValidationError, TypeError) as e:
            return [Proposal(library, f"unusable proposal: {str(e).splitlines()[0]}", self.name)]
        return [Proposal(library.with_skill(skill), f"new skill {skill.name}: {skill.description}", self.name)]


# 2. the graph


class EvolveState(TypedDict, total=False):
    library_json: str
    best: float
    round: int
    proposals: list[Proposal]
    history: Annotated[list[dict[str, Any]], operator.add]
    pruned: bool


@dataclass
class EvolveDeps:
    train: list[Example]
    val: list[Example]
    proposers: list[Proposer]
    rounds: int = 1
    margin: float = 0.0
    record: Callable[[SkillLibrary, str | None, str], None] = lambda library, parent, message: None
    save: Callable[[EvolveState], None] = lambda state: None
    cache: dict = field(default_factory=dict)


async def propose(state: EvolveState, runtime: Runtime[EvolveDeps]) -> dict:
    deps = runtime.context
    library = SkillLibrary.from_json(state["library_json"])
    proposals = [p for proposer in deps.proposers for p in await proposer.propose(library, deps.train)]
    return {"proposals": proposals}


def gate(state: EvolveState, runtime: Runtime[EvolveDeps]) -> dict:
    deps = runtime.context
    library = SkillLibrary.from_json(state["library_json"])
    best, history = state["best"], []
    for p in state["proposals"]:
        score = accuracy(deps.val, p.library, deps.cache)
        guard_off = switched_off_guards(p.library)
        # strict gain: an edit that only ties the parent is not kept (nothing shows it helps), and a
        # guard dimension (quality, safety) is never weighted to zero by an edit
        kept = p.library.version != library.version and score > best + deps.margin and not guard_off
        history.append(
            {
                "round": state["round"],
                "proposer": p.proposer,
                "edit": p.description,
                "val_accuracy": round(score, 4),
                "kept": kept,
                "version": p.library.version,
                **({"refused": f"sets the weight of {', '.join(guard_off)} to 0"} if guard_off else {}),
            }
        )
        if kept:
            deps.record(p.library, library.version, p.description)
            library, best = p.library, max(best, score)
    update = {
        "library_json": library.to_json(),
        "best": best,
        "round": state["round"] + 1,
        "history": history,
        "proposals": [],
    }
    deps.save({**state, **update, "history": state.get("history", []) + history})
    return update


def switched_off_guards(library: SkillLibrary) -> list[str]:
    """Guard dimensions (quality, safety) some skill of the library weights to zero."""
    return sorted(
        {
            d
            for skill in library.skills.values()
            for d, w in skill.params.weights.items()
            if d in GUARD_DIMENSIONS and w <= 0
        }
    )


def prune(state: EvolveState, runtime: Runtime[EvolveDeps]) -> dict:
    """Leave each skill out in turn; drop it when it changes some validation verdict and validation
    accuracy does not suffer without it. A skill that changes nothing on this data (it is for other
    prompts, or its text only guides a model) cannot be judged here and stays."""
    deps = runtime.context
    library = SkillLibrary.from_json(state["library_json"])
    best, history = state["best"], []
    for name in sorted(library.skills):
        candidate = library.without(name)
        changes = any(
            prefers_first(e, candidate, deps.cache) != prefers_first(e, library, deps.cache) for e in deps.val
        )
        score = accuracy(deps.val, candidate, deps.cache)
        if changes and score >= best:
            history.append(
                {
                    "round": state["round"],
                    "proposer": "prune",
                    "edit": f"remove {name}",
                    "val_accuracy": round(score, 4),
                    "kept": True,
                    "version": candidate.version,
                }
            )
            deps.record(candidate, library.version, f"pruned {name}")
            library, best = candidate, score
    update = {"library_json": library.to_json(), "best": best, "history": history, "pruned": True}
    deps.save({**state, **update, "history": state.get("history", []) + history})
    return update


def next_step(state: EvolveState, runtime: Runtime[EvolveDeps]) -> Literal["propose", "prune", "__end__"]:
    if state.get("pruned"):
        return END
    return "propose" if state["round"] < runtime.context.rounds else "prune"


def build_evolve_graph():
    graph = StateGraph(EvolveState, context_schema=EvolveDeps)
    graph.add_node("propose", propose)
    graph.add_node("gate", gate)
    graph.add_node("prune", prune)
    graph.add_conditional_edges(START, next_step)  # a resumed run goes on where it stopped
    graph.add_edge("propose", "gate")
    graph.add_conditional_edges("gate", next_step)
    graph.add_edge("prune", END)
    return graph.compile()


EVOLVE_GRAPH = build_evolve_graph()


def split(examples: list[Example], val_share: float = 0.4, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Train and validation by prompt (no prompt in both); train also gets every pair swapped."""
    prompts = sorted({e.prompt for e in examples})
    random.Random(seed).shuffle(prompts)
    val_prompts = set(prompts[: max(1, round(len(prompts) * val_share))])
    train = [e for e in examples if e.prompt not in val_prompts]
    val = [e for e in examples if e.prompt in val_prompts]
    return train + [e.swapped() for e in train], val


def data_key(examples: list[Example]) -> str:
    text = json.dumps([[e.prompt, e.label, e.scores] for e in examples], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def evolve(
    library: SkillLibrary,
    examples: list[Example],
    proposers: list[Proposer],
    *,
    rounds: int = 1,
    margin: float = 0.0,
    val_share: float = 0.4,
    seed: int = 0,
    state_path: Path | None = None,
    record: Callable[[SkillLibrary, str | None, str], None] | None = None,
) -> EvolveState:
    """Evolve `library` on preference examples; resumes from `state_path` when it holds this run."""
    train, val = split(examples, val_share, seed)
    if not train or not val:
        raise ValueError("evolution needs pairs for several prompts (some for training, some for validation)")
    key = data_key(examples)
    state: EvolveState = {"library_json": library.to_json(), "best": accuracy(val, library), "round": 0, "history": []}
    if state_path is not None and state_path.exists():
        saved = json.loads(state_path.read_text())
        if saved.get("key") == key:
            state = saved["state"]  # resume where the crashed run stopped

    def save(s: EvolveState) -> None:
        if state_path is not None:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            clean = {k: v for k, v in s.items() if k != "proposals"}
            state_path.write_text(json.dumps({"key": key, "state": clean}))

    deps = EvolveDeps(train, val, proposers, rounds, margin, record or (lambda *a: None), save)
    final = await EVOLVE_GRAPH.ainvoke(state, context=deps)
    return {**final, "baseline": accuracy(val, library)}
