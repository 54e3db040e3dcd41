"""The public Python API: `Judge` and the module-level `judge`, `compare`, `rank`, `edit`.

    import scrutiny
    verdict = scrutiny.judge("sign.png", 'a storefront sign that says "OPEN 24 HOURS"')
    verdict.score, verdict.critique

Every call returns a `Verdict` whose scores are backed by evidence from pixel tools, with a
trace in the store (`scrutiny traces show ID`). A second identical call is a cache hit.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from scrutiny import __version__  # one version, in the package root
from scrutiny.agents.judge import JudgeDeps, JudgmentRecord, Policy, run_judge
from scrutiny.agents.offline import OfflinePolicy
from scrutiny.core.aio import block_on, bounded_map
from scrutiny.core.images import ImageInput, image_hash, load_image, png_bytes, shared_pixels, working_copy
from scrutiny.core.lazy import once
from scrutiny.core.progress import ProgressBar
from scrutiny.core.protocol import BackendError
from scrutiny.core.schema import Criterion, CriterionScore, Task, TaskKind, Trace, Unchecked, Verdict
from scrutiny.core.text import clean_text
from scrutiny.memory import Store
from scrutiny.skills.library import SkillLibrary, current_library
from scrutiny.skills.router import Router
from scrutiny.tools import REGISTRY


@dataclass
class JudgeConfig:
    """How a `Judge` runs."""

    max_steps: int = 4
    """Rounds of inspect ⇄ invoke_tools before scoring."""
    concurrency: int = 4
    """Judgments in flight at once in `judge_many`."""
    cache: bool = True
    """Return a stored verdict for a task judged before with the same policy and library."""
    skills: bool = True
    """Route each task to skills of the library (their params weight the criteria)."""
    unchecked: Unchecked = "lower"
    """Content criteria no tool could check: "lower" (default) counts them as unmet, so a score is
    the share of what was asked that was seen; "omit" leaves them out of the mean; "abstain" makes
    the verdict abstain. With none checked at all the verdict always abstains. A trainer loses
    nothing with "lower": within a prompt's group the same criteria go unchecked for every sample,
    so group-relative advantages are unchanged, while thresholds (best-of-n, `--min-score`, a
    refinement's target) never pass on content nobody saw."""
    text_case: Literal["insensitive", "sensitive"] = "insensitive"
    """How requested text is matched: "insensitive" (default) reads "EXIT" as "exit" or "Exit" and
    folds the one-stroke glyphs I, i, l and | into one; "sensitive" keeps case and every glyph, so
    "Exit" for "EXIT" costs two letters (for logos and codes where case is the point)."""
    counts: Literal["exact", "partial"] = "exact"
    """How a count is scored: "exact" (default, as GenEval counts): the right number is met and any
    other scores 0; "partial": `1 - |found - asked| / asked`, credit for being close."""
    degenerate: bool = True
    """Gate every rubric, a given one too, with the degenerate-image check (noise, flat fields, tiled
    patterns, copies, text alone on a blank canvas where a scene was asked): an image failing it
    scores 0, whatever its content criteria say. What the prompt asks for is allowed."""
    keep: Literal["all", "sampled", "verdicts", "none"] = "all"
    """What the store keeps of each judgment: "all" (default) the verdict, its trace and its images;
    "sampled" every verdict as a compact row (scores, parts, criterion scores, no evidence) and whole
    judgments within `trace_budget_mb` per 1,000 (the first always), as reward judges do under
    training; "verdicts" only the compact rows; "none" nothing (no cache either)."""
    trace_budget_mb: float = 0.5
    """With keep="sampled": megabytes of whole judgments (trace, images, crops) per 1,000 judgments."""
    max_side: int | None = 2048
    """Images longer than this on either side are judged on a copy shrunk to it (`working_copy`), so
    time and memory stop growing with the pixels above it; boxes in the verdict are in the copy's
    pixels, and the trace records both sizes. None: judge every image as given."""
    backend_errors: Literal["abstain", "raise"] = "abstain"
    """A model backend that still fails after its retries: the verdict abstains with the reason
    (`Verdict.error`, stored), or ("raise") the `BackendError` propagates."""

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.counts not in ("exact", "partial"):
            raise ValueError(f"counts must be 'exact' or 'partial', got {self.counts!r}")
        if self.keep not in ("all", "sampled", "verdicts", "none"):
            raise ValueError(f"keep must be 'all', 'sampled', 'verdicts' or 'none', got {self.keep!r}")
        if self.max_side is not None and self.max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels (or None), got {self.max_side}")
        if self.trace_budget_mb < 0:
            raise ValueError(f"trace_budget_mb must be at least 0, got {self.trace_budget_mb}")


@dataclass
class Judge:
    """A judge: a policy, a store, a config. Safe to share; every method has an async twin."""

    policy: Policy = field(default_factory=OfflinePolicy)
    store: Store | None = None
    config: JudgeConfig = field(default_factory=JudgeConfig)
    library: SkillLibrary | None = None
    """The skill library (default: $SCRUTINY_HOME/skills if it exists, else the built-in one)."""

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = Store()
        if self.library is None:
            self.library = current_library(self.store.home)
        self.router = Router(self.library) if self.config.skills else None
        self._kept = _Budget(self.config.trace_budget_mb * 1e6 / 1000)
        self._deps = JudgeDeps(
            policy=self.policy,
            store=self.store,
            max_steps=self.config.max_steps,
            router=self.router,
            unchecked=self.config.unchecked,
            text_case=self.config.text_case,
            counts=self.config.counts,
            degenerate=self.config.degenerate,
        )

    @property
    def library_version(self) -> str:
        return self.router.version if self.router else ""

    # async API

    async def ajudge(
        self,
        image: ImageInput,
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Score one image against the prompt it was generated from."""
        return await self._arun("score", [image], prompt, rubric=rubric, metadata=metadata)

    async def acompare(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Which of two images fits the prompt better (`Verdict.preferred`: 0, 1, or None for a tie)."""
        return await self._arun("compare", [image_a, image_b], prompt, rubric=rubric, metadata=metadata)

    async def arank(
        self,
        images: Sequence[ImageInput],
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Order K images best first (`Verdict.ranking`)."""
        return await self._arun("rank", list(images), prompt, rubric=rubric, metadata=metadata)

    async def aedit(
        self,
        source: ImageInput,
        edited: ImageInput | Sequence[ImageInput],
        instruction: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Judge one or more edits of `source` against an edit instruction."""
        edits = list(edited) if isinstance(edited, (list, tuple)) else [edited]
        return await self._arun("edit", edits, instruction, source=source, rubric=rubric, metadata=metadata)

    async def ajudge_many(
        self,
        images: Sequence[ImageInput],
        prompts: str | Sequence[str],
        *,
        rubric: list[Criterion] | None = None,
        progress: bool = False,
        fail_fast: bool = False,
    ) -> list[Verdict]:
        """Score many images (one prompt each, or one prompt for all) with bounded concurrency.

        One verdict per item, in order: an item that cannot be judged (an unreadable image, a
        backend that failed after its retries) gets an abstaining verdict whose `error` says why,
        stored with its trace, and the rest of the batch goes on. `fail_fast=True` raises instead.
        """
        prompts = [prompts] * len(images) if isinstance(prompts, str) else list(prompts)
        if len(prompts) != len(images):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; give one prompt per image")
        bar = ProgressBar("judging", len(images)) if progress else None

        async def one(job) -> Verdict:
            if fail_fast:
                return await self.ajudge(job[0], job[1], rubric=rubric)
            return await self.or_abstain(self.ajudge(job[0], job[1], rubric=rubric), "score", job[1])

        try:
            return await bounded_map(one, zip(images, prompts), self.config.concurrency, bar.advance if bar else None)
        finally:
            if bar:
                bar.close()

    async def or_abstain(
        self, judgment: Awaitable[Verdict], kind: TaskKind, prompt: str, n: int = 1, metadata: dict | None = None
    ) -> Verdict:
        """The judgment's verdict, or, if it fails, an abstaining verdict with the error (stored, with a
        trace holding the error event and the task's `metadata`). Cancellation is not a failure: it propagates."""
        try:
            return await judgment
        except Exception as e:  # noqa: BLE001 - one item's failure is that item's verdict, not the batch's
            return await self._error_verdict(kind, prompt, n, e, metadata=metadata)

    async def _error_verdict(
        self,
        kind: TaskKind,
        prompt: str,
        n: int,
        error: Exception,
        *,
        task: Task | None = None,
        trace: Trace | None = None,
        metadata: dict | None = None,
    ) -> Verdict:
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        if task is None:  # the images never became a task (unreadable): placeholders stand for them
            n = max(n, 2 if kind in ("compare", "rank") else 1)
            source = "unjudged" if kind == "edit" else None
            task = Task(
                kind=kind,
                prompt=(clean_text(prompt) if isinstance(prompt, str) else "") or "(empty)",
                candidates=["unjudged"] * n,
                source=source,
                metadata=metadata or {},
            )
        if trace is None:
            trace = Trace(
                task=task, policy=self.policy.name, model=self.policy.model, library_version=self.library_version
            )
        trace.add("error", None, error=type(error).__name__, message=str(error)[:2000])
        verdict = Verdict(
            task=task,
            scores=[None] * len(task.candidates),
            critique=f"abstained: the judgment failed ({reason})",
            error=reason,
            trace_id=trace.id,
            policy=self.policy.name,
            model=self.policy.model,
            library_version=self.library_version,
            version=__version__,
        )
        trace.verdict_id = verdict.id
        try:
            await asyncio.wrap_future(self.store.submit_judgment(trace, verdict, {}, None))
        except Exception:  # noqa: BLE001 - the store itself failing must not lose the verdict
            verdict = verdict.model_copy(update={"trace_id": None})
        return verdict

    # sync twins

    def judge(
        self,
        image: ImageInput,
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Score one image against the prompt it was generated from.

        Args:
            image: a path, a PIL image, a numpy array (H, W, 3) or a torch tensor (3, H, W).
            prompt: the text the image was generated from.
            rubric: criteria to judge by instead of synthesizing them from the prompt.
            metadata: stored with the task (`Task.metadata`); "run" and "step" file its trace
                under a run (`scrutiny traces list --run`).

        Returns:
            A `Verdict`: `.score` in [0, 1] or None (abstained, with the reason in `.critique`),
            per-criterion scores with their evidence, the critique and the trace id.
        """
        return block_on(self.ajudge(image, prompt, rubric=rubric, metadata=metadata))

    def compare(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Which of two images fits the prompt better: `Verdict.preferred` is 0, 1, or None for a tie
        (content scores equal, or only image quality apart by less than `agents.judge.QUALITY_TIE`).
        Options as in `judge`."""
        return block_on(self.acompare(image_a, image_b, prompt, rubric=rubric, metadata=metadata))

    def rank(
        self,
        images: Sequence[ImageInput],
        prompt: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Order two or more images best first (`Verdict.ranking`); options as in `judge`."""
        return block_on(self.arank(images, prompt, rubric=rubric, metadata=metadata))

    def edit(
        self,
        source: ImageInput,
        edited: ImageInput | Sequence[ImageInput],
        instruction: str,
        *,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        """Judge one or more edits of `source` against an edit instruction ("Remove the purple
        triangle"): was the edit made, on the right object, and was everything else kept. With
        several edits, `Verdict.preferred` and `.ranking` compare them. Options as in `judge`."""
        return block_on(self.aedit(source, edited, instruction, rubric=rubric, metadata=metadata))

    def judge_many(
        self,
        images: Sequence[ImageInput],
        prompts: str | Sequence[str],
        *,
        rubric: list[Criterion] | None = None,
        progress: bool = False,
        fail_fast: bool = False,
    ) -> list[Verdict]:
        """Score many images, `JudgeConfig.concurrency` at a time; one verdict per image, in order.

        Args:
            images: the images (any form `judge` takes).
            prompts: one prompt for all, or one per image.
            rubric: criteria for every image instead of synthesizing them.
            progress: show a progress bar on stderr (n/N, rate, time left).
            fail_fast: raise the first error instead of giving that item an abstaining verdict
                whose `error` says why (the default: the rest of the batch goes on).
        """
        return block_on(self.ajudge_many(images, prompts, rubric=rubric, progress=progress, fail_fast=fail_fast))

    # the one path every mode takes

    async def _arun(self, kind: TaskKind, candidates: list[ImageInput], prompt: str, **kw: Any) -> Verdict:
        verdict = await self._arun_task(kind, candidates, prompt, **kw)
        verdict._store = self.store  # where its images and trace are, for `Verdict.show()` and notebooks
        return verdict

    async def _arun_task(self, kind: TaskKind, candidates: list[ImageInput], prompt: str, **task: Any) -> Verdict:
        """One judgment; its images' pixels are read once for all its readers (`shared_pixels`)."""
        with shared_pixels():
            return await self._judge_task(kind, candidates, prompt, **task)

    async def _judge_task(
        self,
        kind: TaskKind,
        candidates: list[ImageInput],
        prompt: str,
        *,
        source: ImageInput | None = None,
        rubric: list[Criterion] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Verdict:
        if not isinstance(prompt, str):
            raise ValueError(f"the prompt must be text, got {type(prompt).__name__}")
        prompt = clean_text(prompt)  # a NUL, a terminal escape or a lone surrogate is no part of what was asked
        if not prompt.strip():
            raise ValueError(
                "the prompt is empty (control characters aside): give the text the image was generated from "
                "(or the edit instruction)"
            )
        # 1. intake, off the event loop: every image normalised once, hashed, and encoded for the store
        # (and for model requests, which send the same PNG bytes)
        inputs = {f"candidate_{i}": c for i, c in enumerate(candidates)} | (
            {"source": source} if source is not None else {}
        )
        # (the offline policy sends no images: the store's writer encodes them, off the judgment's path)
        encode = self.config.keep == "all" and self.policy.model is not None
        intake = await asyncio.to_thread(self._intake, inputs, encode)
        images, hashes = intake.images, intake.hashes
        task = Task(
            kind=kind,
            prompt=prompt,
            candidates=[hashes[f"candidate_{i}"] for i in range(len(candidates))],
            source=hashes.get("source"),
            rubric=rubric,
            metadata=metadata or {},
        )
        # 2. a cached verdict for the same task, policy and library
        key = self.cache_key(task) if self.config.cache and self.config.keep != "none" else None
        if key is not None and (hit := self.store.cached_verdict(key)) is not None:
            return hit
        # 3. judge, then keep the images, the trace and the verdict
        trace = Trace(task=task, policy=self.policy.name, model=self.policy.model, library_version=self.library_version)
        if intake.shrunk:
            trace.add("node_exit", "intake", working_copy=intake.shrunk, max_side=self.config.max_side)
        run = JudgmentRecord(trace)
        try:
            verdict = await run_judge(task, images, self._deps, run, hashes)
        except BackendError as e:
            if self.config.backend_errors == "raise":
                raise
            return await self._error_verdict(kind, prompt, len(candidates), e, task=task, trace=trace)
        verdict.version = __version__
        trace.verdict_id = verdict.id
        kept = {hashes[name]: image for name, image in images.items()} | run.artifacts
        return await self._keep(verdict, trace, kept, key, intake.encoded)

    async def _keep(
        self, verdict: Verdict, trace: Trace, kept: dict[str, Image.Image], key: str | None, encoded: dict
    ) -> Verdict:
        """Store a judgment as `JudgeConfig.keep` says: whole (trace, images, verdict), as a compact
        verdict row, or not at all; a task another judge stored first comes back as that verdict."""
        whole = self.config.keep == "all" or (self.config.keep == "sampled" and self._kept.take(_cost(kept, trace)))
        if self.config.keep == "none":
            return verdict.model_copy(update={"trace_id": None})
        if whole:
            submitted = self.store.submit_judgment(trace, verdict, kept, key, encoded=encoded)
        else:  # a compact row: what curves and statistics need, not what a viewer shows
            verdict = verdict.model_copy(update={"trace_id": None})
            submitted = self.store.submit_judgment(None, compact(verdict), {}, key)
        first = await asyncio.wrap_future(submitted)
        if first is not None:  # another judge stored this task first: one verdict per task
            return self.store.verdict(first).model_copy(update={"cached": True})
        return verdict

    def _intake(self, inputs: dict[str, ImageInput], encode: bool = True) -> _Intake:
        """Images read and hashed; encoded as PNG where the store lacks them and `encode` (a judge that
        keeps only some judgments leaves the encoding to the store's writer, for those it keeps)."""
        given = {name: load_image(x) for name, x in inputs.items()}
        images = {name: working_copy(image, self.config.max_side) for name, image in given.items()}
        shrunk = {name: [*given[name].size, *image.size] for name, image in images.items() if image is not given[name]}
        hashes = {name: image_hash(image) for name, image in images.items()}
        encoded = {
            hashes[name]: png_bytes(image, hashes[name])
            for name, image in images.items()
            if encode and not self.store.artifact_path(hashes[name]).exists()
        }
        return _Intake(images, hashes, encoded, shrunk)

    def cache_key(self, task: Task) -> str:
        """Task, rubric, policy and model, library version, and the version of every tool."""
        parts = {
            "task": task.model_dump(mode="json", exclude={"metadata"}),
            "policy": self.policy.name,
            "model": self.policy.model,
            "library": self.library_version,
            "tools": {name: t.version for name, t in sorted(REGISTRY.items())},
            "scrutiny": __version__,
            "scoring": scoring_fingerprint(),
            "max_steps": self.config.max_steps,
            "unchecked": self.config.unchecked,
            "text_case": self.config.text_case,
            "counts": self.config.counts,
            "degenerate": self.config.degenerate,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@functools.cache
def scoring_fingerprint() -> str:
    """A hash of the code and data that plan and score a judgment (the agents and tools packages, with
    the detector's calibration), so a verdict cached by other scoring code is never served."""
    import scrutiny.agents
    import scrutiny.tools

    digest = hashlib.sha256()
    for package in (scrutiny.agents, scrutiny.tools):
        root = Path(next(iter(package.__path__)))
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json", ".npy")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def compact(verdict: Verdict) -> Verdict:
    """A verdict as a small row: scores, parts, coverage and criterion scores (by id), without the
    rubric, evidence, rationales or critique (under 1 kB, where a whole one is 5 to 10 kB)."""
    return verdict.model_copy(
        update={
            "task": verdict.task.model_copy(update={"rubric": None}),
            "evidence": [],
            "critique": "",
            "criterion_scores": [  # model_copy takes field names, never aliases
                CriterionScore(criterion=s.criterion, candidate=s.candidate, score=s.score)
                for s in verdict.criterion_scores
            ],
            "coverage": [c.model_copy(update={"unchecked": dict.fromkeys(c.unchecked, "")}) for c in verdict.coverage],
            "rubric": [],
        }
    )


def _cost(images: dict[str, Image.Image], trace: Trace) -> float:
    """What keeping a whole judgment costs, in bytes (PNG at about 1.5 bytes a pixel, plus its records)."""
    return sum(1.5 * im.width * im.height for im in images.values()) + 600 * len(trace.events) + 8000


class _Budget:
    """A byte budget that grows by `per_item` with each judgment: whole judgments are kept while it lasts."""

    def __init__(self, per_item: float) -> None:
        self.per_item, self.items, self.spent = per_item, 0, 0.0
        self._lock = threading.Lock()

    def take(self, cost: float) -> bool:
        with self._lock:
            self.items += 1
            if self.spent and self.spent + cost > self.per_item * self.items:
                return False
            self.spent += cost
            return True


@dataclass
class _Intake:
    """A task's images after intake: normalised, hashed, and encoded as PNG where the store lacks them
    (a model request sends the same bytes: `png_bytes` keeps them for it)."""

    images: dict[str, Image.Image]
    hashes: dict[str, str]
    encoded: dict[str, bytes]
    shrunk: dict[str, list[int]]
    """Images judged on a smaller working copy: [given width, height, copy width, height]."""


@once
def default_judge() -> Judge:
    """The judge behind the module-level functions: offline policy, store at $SCRUTINY_HOME."""
    return Judge()


def judge(
    image: ImageInput, prompt: str, *, rubric: list[Criterion] | None = None, metadata: dict[str, Any] | None = None
) -> Verdict:
    """Score one image against its prompt with the default judge (offline policy, store at
    $SCRUTINY_HOME); see `Judge.judge` for the options and the verdict."""
    return default_judge().judge(image, prompt, rubric=rubric, metadata=metadata)


def compare(
    image_a: ImageInput,
    image_b: ImageInput,
    prompt: str,
    *,
    rubric: list[Criterion] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Verdict:
    """Which of two images fits the prompt better, with the default judge; see `Judge.compare`."""
    return default_judge().compare(image_a, image_b, prompt, rubric=rubric, metadata=metadata)


def rank(
    images: Sequence[ImageInput],
    prompt: str,
    *,
    rubric: list[Criterion] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Verdict:
    """Order images best first, with the default judge; see `Judge.rank`."""
    return default_judge().rank(images, prompt, rubric=rubric, metadata=metadata)


def edit(
    source: ImageInput,
    edited: ImageInput | Sequence[ImageInput],
    instruction: str,
    *,
    rubric: list[Criterion] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Verdict:
    """Judge edits of `source` against an instruction, with the default judge; see `Judge.edit`."""
    return default_judge().edit(source, edited, instruction, rubric=rubric, metadata=metadata)
