"""`scrutiny.refine`: generate, judge, critique, revise the prompt, regenerate; keep the best.

    result = scrutiny.refine('A sign that says "OPEN 24 HOURS"', my_generator, n=4, rounds=3)
    result.best_image, result.best_score, [r.best_score for r in result.rounds], result.stop_reason

Best-of-N alone is the same call with `rounds=1`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from scrutiny.agents.refine_graph import OfflineReviser, RefineDeps, Reviser, Round, run_refine
from scrutiny.api import Judge
from scrutiny.core.aio import block_on
from scrutiny.core.images import ImageInput
from scrutiny.core.schema import Criterion, Verdict
from scrutiny.generators import as_generator


@dataclass
class RefineResult:
    """What `refine` found: every round (its prompt, images and verdicts), the best image of all
    rounds (`best_image`, `best_score`, `best_verdict`, `best_prompt`) and why it stopped."""

    prompt: str
    rounds: list[Round]
    best_round: int
    best_index: int
    stop_reason: str

    @property
    def best_verdict(self) -> Verdict:
        return self.rounds[self.best_round].verdicts[self.best_index]

    @property
    def best_image(self) -> Image.Image:
        return self.rounds[self.best_round].images[self.best_index]

    @property
    def best_score(self) -> float | None:
        return self.best_verdict.score

    @property
    def best_prompt(self) -> str:
        return self.rounds[self.best_round].prompt

    @property
    def trace_ids(self) -> list[list[str | None]]:
        return [[v.trace_id for v in r.verdicts] for r in self.rounds]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of every round."""
        return {
            "prompt": self.prompt,
            "stop_reason": self.stop_reason,
            "best_score": self.best_score,
            "best_round": self.best_round,
            "best_index": self.best_index,
            "rounds": [
                {
                    "round": r.index,
                    "prompt": r.prompt,
                    "scores": [v.score for v in r.verdicts],
                    "best_score": r.best_score,
                    "accepted": r.accepted,
                    "seconds": round(r.seconds, 3),
                    "trace_ids": [v.trace_id for v in r.verdicts],
                }
                for r in self.rounds
            ],
            "critique": self.best_verdict.critique,
        }


async def arefine(
    prompt: str,
    generator: Any,
    *,
    n: int = 4,
    rounds: int = 3,
    threshold: float | None = None,
    time_budget_s: float | None = None,
    seed: int = 0,
    judge: Judge | None = None,
    reviser: Reviser | None = None,
    source: ImageInput | None = None,
    rubric: list[Criterion] | None = None,
    on_round: Callable[[Round], None] | None = None,
    run_id: str | None = None,
) -> RefineResult:
    """Generate, critique, revise the prompt, regenerate; keep the best image (`refine` documents
    the loop; the arguments and the `RefineResult` are the same).

    Args:
        prompt: what the user wants; every round is judged against it.
        generator: a diffusers pipeline, a callable `fn(prompt, seed) -> image`, or an object
            with `agenerate(prompts, seeds)`.
        n: images per round (best-of-n).
        rounds: the most rounds to run; 1 is plain best-of-n.
        threshold: stop once the best score reaches it.
        time_budget_s: stop starting new rounds after this many seconds.
        seed: seeds are `seed .. seed + n - 1`, the same every round, so only the prompt changes.
        judge: the judge (default: offline policy, default store).
        reviser: writes revisions (default: `OfflineReviser`).
        source: for an edit pipeline, the image to edit (`prompt` is then the instruction).
        rubric: criteria to judge by instead of synthesizing them from the prompt.
        on_round: called with each finished round (progress displays).
        run_id: the run's id in the store (default: a new one); its traces carry it, with the round
            as their step (`scrutiny traces list --run ID --step K`).
    """
    if not prompt.strip():
        raise ValueError("the prompt is empty")
    if n < 1 or rounds < 1:
        raise ValueError(f"n and rounds must be at least 1 (got n={n}, rounds={rounds})")
    judge = judge or Judge()
    run_id = run_id or f"refine-{uuid.uuid4().hex[:12]}"
    finished: list[Round] = []
    deps = RefineDeps(
        generator=as_generator(generator, source),
        judge=_judge_fn(judge, run_id, finished, source, rubric),
        reviser=reviser or OfflineReviser(),
        n=n,
        max_rounds=rounds,
        threshold=threshold,
        time_budget_s=time_budget_s,
        seed=seed,
        on_round=lambda r: (finished.append(r), on_round(r) if on_round is not None else None),
    )
    config = {"n": n, "rounds": rounds, "threshold": threshold, "seed": seed, "edit": source is not None}
    judge.store.start_run("refine", f"refine {prompt!r}", config, judge.library_version, run_id=run_id)
    return await _recorded(prompt, deps, judge.store, run_id, finished)


async def _recorded(prompt: str, deps: RefineDeps, store, run_id: str, finished: list[Round]) -> RefineResult:
    """Run the refinement loop, and close its run in the store however it ends (done, interrupted, failed)."""
    status, result = "failed", None
    try:
        state = await run_refine(prompt, deps)
        if state.get("best") is None:
            raise ValueError("every verdict abstained: no criterion of this prompt can be checked by the judge")
        best_round, best_index = state["best"]
        result = RefineResult(prompt, state["rounds"], best_round, best_index, state["stop"])
        status = "done"
        return result
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    finally:
        counts = {"rounds": len(finished), "images": sum(len(r.images) for r in finished)}
        if result is not None:
            counts["best_score"] = result.best_score
        store.finish_run(run_id, status, counts=counts, metrics=result.summary() if result is not None else None)


def _judge_fn(judge: Judge, run_id: str, finished: list, source: ImageInput | None, rubric: list[Criterion] | None):
    """How a round's image is judged: against the original prompt (or, for an edit, against its source
    and instruction), with the run's id and the round as its step."""

    async def judge_fn(image: Image.Image, original: str) -> Verdict:
        metadata = {"run": run_id, "step": len(finished)}
        if source is not None:
            return await judge.aedit(source, image, original, rubric=rubric, metadata=metadata)
        return await judge.ajudge(image, original, rubric=rubric, metadata=metadata)

    return judge_fn


def refine(
    prompt: str,
    generator: Any,
    *,
    n: int = 4,
    rounds: int = 3,
    threshold: float | None = None,
    time_budget_s: float | None = None,
    seed: int = 0,
    judge: Judge | None = None,
    reviser: Reviser | None = None,
    source: ImageInput | None = None,
    rubric: list[Criterion] | None = None,
    on_round: Callable[[Round], None] | None = None,
    run_id: str | None = None,
) -> RefineResult:
    """Generate, critique, revise the prompt, regenerate; keep the best image.

    Each round renders `n` images (seeds `seed .. seed + n - 1`), judges them against `prompt`,
    and rewrites the prompt from the unmet criteria for the next round. It stops when every
    checkable criterion is met, the best score reaches `threshold`, `rounds` are done, or
    `time_budget_s` is spent, and never returns worse than the first round's best.

    Args:
        prompt: what the user wants; every round is judged against it.
        generator: a diffusers pipeline, a callable `fn(prompt, seed) -> image`, or an object
            with `agenerate(prompts, seeds)`.
        n: images per round (best-of-n); `rounds=1` is plain best-of-n.
        rounds: the most rounds to run.
        threshold: stop once the best score reaches it.
        time_budget_s: stop starting new rounds after this many seconds.
        seed: the first seed; the same seeds every round, so only the prompt changes.
        judge: the judge (default: offline policy, default store).
        reviser: writes the revisions (default: `OfflineReviser`; a model reviser with a backend).
        source: for an edit pipeline, the image to edit (`prompt` is then the instruction).
        rubric: criteria to judge by instead of synthesizing them from the prompt.
        on_round: called with each finished round (progress displays).
        run_id: the run's id in the store (default: a new one); its traces carry it, with the
            round as their step.

    Returns:
        A `RefineResult`: `best_image`, `best_score`, `best_prompt`, every round, the stop reason.
    """
    return block_on(
        arefine(
            prompt,
            generator,
            n=n,
            rounds=rounds,
            threshold=threshold,
            time_budget_s=time_budget_s,
            seed=seed,
            judge=judge,
            reviser=reviser,
            source=source,
            rubric=rubric,
            on_round=on_round,
            run_id=run_id,
        )
    )
