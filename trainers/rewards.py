"""Agent verdicts as RL rewards, in the exact calling conventions of Flow-GRPO, TRL and verl.

    from scrutiny.trainers.rewards import JudgeReward, flow_grpo_reward
    reward_fn = flow_grpo_reward(JudgeReward(guards=True))
    scores, info = reward_fn(images, prompts, metadata, only_strict=True)

Abstentions (a verdict of None) are NaN in raw numeric outputs and are replaced by the mean of
their prompt group before advantages are computed (advantage 0), never by 0. Where a trainer
computes advantages itself from our output (Flow-GRPO, verl), the adapter fills them with the
group mean within the batch it sees and reports the abstain rate.

Groupwise rewards (pairwise win rate, ranking) compare the images of one prompt with each
other: call them on whole prompt groups, i.e. after the trainer gathers samples across GPUs, not
per GPU batch (Pref-GRPO judges pairs formed within a GPU batch, which biases small groups).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image

from scrutiny.agents.checks.degenerate import asks_for_plain, near_duplicates
from scrutiny.agents.rubric import synthesize
from scrutiny.api import Judge, JudgeConfig
from scrutiny.core.aio import block_on, bounded_map
from scrutiny.core.images import ImageError, load_image
from scrutiny.core.schema import Criterion, CriterionScore, QualityCheck, ScoreParts, Verdict
from scrutiny.trainers.advantages import (  # noqa: F401 - re-exported
    RESOLUTION,
    Advantages,
    combine,
    content_spread,
    fill_abstentions,
    flatten_unsignalled,
    group_advantages,
    normalize,
)

PairSchedule = Literal["all", "round_robin"] | int


GUARDS = [
    Criterion(
        id="guard_sharp",
        statement="The image is in focus, not blurred",
        dimension="quality",
        weight=1.0,
        tools=["quality"],
        origin="given",
        check=QualityCheck(measure="sharpness"),
        met=0.6,
    ),
    Criterion(
        id="guard_detail",
        statement="The image is a complete picture, not text or shapes on a blank canvas",
        dimension="quality",
        weight=1.0,
        tools=["quality"],
        origin="given",
        check=QualityCheck(measure="detail"),
        met=0.6,
    ),
]
"""Reward-hacking guards: an OCR reward alone is maximised by crisp text on an empty canvas,
tiled text or a blurred picture that still reads. They qualify the content score (a blurred or
blank image keeps `min(1, score / met)` of it) and never add points of their own; the judge's
degenerate-image gate (`JudgeConfig.degenerate`) zeroes noise, flat fields, tiles and text-only
canvases in every rubric, guarded or not."""


def as_images(images: Any) -> list[Image.Image]:
    """A batch as RGB PIL images: torch [B, 3, H, W] float in [0, 1] or uint8, numpy [B, H, W, 3]
    uint8 (or [B, 3, H, W]), or a sequence of any single image `load_image` accepts."""
    items = as_items(images)
    for item in items:
        if isinstance(item, Exception):
            raise item
    return items


def as_items(images: Any) -> list[Image.Image | ImageError]:
    """`as_images`, item by item: an image that cannot be read (NaN pixels, a corrupt file) is its
    `ImageError`, and the others are still images. A batch of the wrong shape is one error."""
    if type(images).__module__.startswith("torch"):
        images = images.detach().cpu()
        if images.ndim != 4:
            raise ValueError(f"a torch batch must be [B, C, H, W]; got shape {tuple(images.shape)}")
    elif isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"a numpy batch must be [B, H, W, 3]; got shape {images.shape}")
        if images.shape[1] in (1, 3, 4) and images.shape[-1] not in (1, 3, 4):
            images = images.transpose(0, 2, 3, 1)  # [B, C, H, W] → [B, H, W, C]
    out: list[Image.Image | ImageError] = []
    for image in images:
        if isinstance(image, ImageError):  # read before, and unreadable
            out.append(image)
            continue
        try:
            out.append(load_image(image))
        except ImageError as e:
            out.append(e)
    return out


def scores_of(verdicts: Sequence[Verdict]) -> np.ndarray:
    """Overall scores as float64, NaN where the judge abstained."""
    return np.array([np.nan if v.score is None else v.score for v in verdicts], dtype=np.float64)


def signal_of(verdicts: Sequence[Verdict]) -> np.ndarray:
    """What the prompt asked for, seen: each verdict's content score times its gate (its overall score
    less the quality factor), NaN where it abstained. Spread in this is signal; spread in the overall
    score that this lacks comes from image quality alone."""
    out = []
    for v in verdicts:
        parts = v.parts[0] if v.parts else None
        if v.score is None or parts is None:
            out.append(np.nan if v.score is None else v.score)
        else:
            out.append(0.0 if parts.gate == 0 else (parts.content or 0.0) * parts.gate)
    return np.array(out, dtype=np.float64)


def criteria_of(verdicts: Sequence[Verdict]) -> dict[str, np.ndarray]:
    """Each criterion's score per sample (NaN where a sample's rubric lacks it or it was not checked)."""
    ids = list(dict.fromkeys(s.criterion for v in verdicts for s in v.criterion_scores if s.candidate == 0))
    out = {k: np.full(len(verdicts), np.nan) for k in ids}
    for i, v in enumerate(verdicts):
        for s in v.criterion_scores:
            if s.candidate == 0 and s.score is not None:
                out[s.criterion][i] = s.score
    return out


def text_area_of(verdicts: Sequence[Verdict]) -> np.ndarray:
    """The share of each image inside the boxes of the text OCR read on it (NaN where OCR did not run)."""
    out = np.full(len(verdicts), np.nan)
    for i, v in enumerate(verdicts):
        size = next((e.output for e in v.evidence if e.tool == "degenerate" and e.output and e.candidate == 0), None)
        reads = [
            e.output for e in v.evidence if e.tool == "ocr" and e.output and e.arguments.get("image") == "candidate_0"
        ]
        if size and reads:
            area = sum((b[2] - b[0]) * (b[3] - b[1]) for line in reads[0]["lines"] for b in [line["box"]])
            out[i] = min(1.0, area / max(size["width"] * size["height"], 1))
    return out


@dataclass
class GroupRewards:
    """Rewards for one prompt group."""

    rewards: np.ndarray
    """[G] win rate (or rank reward) per image, NaN where it took part in no decided comparison."""
    wins: np.ndarray
    """[G, G] points image i earned against image j (1 win, 0.5 tie or abstain, 0 loss), NaN if unpaired."""
    verdicts: list[Verdict]

    def __repr__(self) -> str:
        shown = ", ".join("nan" if np.isnan(r) else f"{r:.3f}" for r in self.rewards)
        return f"GroupRewards(rewards=[{shown}], {len(self.verdicts)} comparisons)"


@dataclass
class JudgeReward:
    """A scrutiny judge as a reward model.

    Args:
        judge: the judge to use (default: the offline policy with the default store, and
            `unchecked="omit"`: a criterion no tool can check is left out of the reward rather than
            counted as unmet. It is the same for every sample of a prompt, so advantages are the
            same either way, but counted as unmet, the twenty unchecked nouns of a long prompt
            shrink a sign's reward to a twentieth of its range, and a weighted mix with other
            rewards (`multi_score`) would all but ignore it. With nothing checked it abstains.)
        name: the reward's name in logs and in TRL's metrics.
        guards: add the reward-hacking guard criteria (`GUARDS`) to every synthesized rubric.
        rubric: a fixed rubric instead of synthesis (then `guards` is ignored).
        concurrency: judgments in flight at once.
        duplicates: gate near-copies within a prompt's group (`near_duplicates`): each sample that
            nearly copies another of its group scores 0, so a generator cannot collapse onto one image.
            The stored verdicts are the judge's; the returned ones carry the gate.

    The default judge also keeps storage small under training (`JudgeConfig.keep = "sampled"`):
    every verdict as a compact row, and whole traces with their images within a byte budget.
    """

    judge: Judge = field(default_factory=lambda: Judge(config=JudgeConfig(unchecked="omit", keep="sampled")))
    name: str = "scrutiny"
    guards: bool = False
    rubric: list[Criterion] | None = None
    concurrency: int = 8
    duplicates: bool = True

    def rubric_for(self, prompt: str) -> list[Criterion] | None:
        """The rubric a prompt is judged by: the fixed one, the synthesized one with the guards
        (less the blank-canvas guard where the prompt asks only for plain content), or None (the
        judge synthesizes it)."""
        if self.rubric is not None:
            return self.rubric
        if not self.guards:
            return None
        criteria = synthesize(prompt, library_version=self.judge.library_version)
        guards = [g for g in GUARDS if not (g.id == "guard_detail" and asks_for_plain(criteria))]
        return criteria + [g.model_copy() for g in guards]

    async def ascore(
        self,
        images: Any,
        prompts: Sequence[str],
        metadata: Sequence[dict] | None = None,
        *,
        duplicates: bool | None = None,
    ) -> list[Verdict]:
        """One verdict per image, judged against its prompt; `duplicates` overrides the setting of
        the same name (text-completion trainers turn it off: equal completions render equal images)."""
        batch = await asyncio.to_thread(as_items, images)
        if len(batch) != len(prompts):
            raise ValueError(f"got {len(batch)} images but {len(prompts)} prompts")
        if metadata is None or isinstance(metadata, dict):  # one dict (or none) for the whole batch
            metas = [metadata] * len(batch)
        else:
            metas = list(metadata)
        if len(metas) != len(batch):
            raise ValueError(f"got {len(batch)} images but {len(metas)} metadata entries")

        async def one(job) -> Verdict:
            image, prompt, meta = job
            if isinstance(image, Exception):  # this sample abstains (NaN → its group's mean); the rest are scored
                return await self.judge.or_abstain(_raise(image), "score", prompt)
            judgment = self.judge.ajudge(image, prompt, rubric=self.rubric_for(prompt), metadata=meta)
            return await self.judge.or_abstain(judgment, "score", prompt)

        verdicts = await bounded_map(one, zip(batch, prompts, metas), self.concurrency)
        if (self.duplicates if duplicates is None else duplicates) and len(batch) > 1:
            partners = await asyncio.to_thread(near_duplicates, batch, list(prompts))
            copies = {j: i for j, i in enumerate(partners) if i is not None}
            copies |= {i: j for j, i in copies.items() if i not in copies}
            for k, other in copies.items():
                verdicts[k] = duplicate_gated(verdicts[k], other)
        return verdicts

    def score(self, images: Any, prompts: Sequence[str], metadata: Sequence[dict] | None = None) -> np.ndarray:
        """Sync: [B] scores, NaN for abstentions. Safe to call from trainer worker threads."""
        return scores_of(block_on(self.ascore(images, prompts, metadata)))

    async def ascore_group(
        self, prompt: str, images: Any, metadata: dict | None = None, *, pairs: PairSchedule = "all", seed: int = 0
    ) -> GroupRewards:
        """Pairwise win rate of each image against the others of its prompt group.

        Each pair is judged in both orders (position bias cancels; disagreement is a tie). A tie
        or an abstention is worth 0.5 to both. `pairs` bounds the cost: "all" pairs,
        "round_robin" (each image against the next, G pairs), or an int k of random pairs.
        """
        batch = await asyncio.to_thread(as_images, images)
        rubric = self.rubric_for(prompt)
        chosen = pair_schedule(len(batch), pairs, seed)
        orders = [(i, j) for i, j in chosen] + [(j, i) for i, j in chosen]
        verdicts = await bounded_map(
            lambda pair: self.judge.or_abstain(
                self.judge.acompare(batch[pair[0]], batch[pair[1]], prompt, rubric=rubric), "compare", prompt, 2
            ),
            orders,
            self.concurrency,
        )
        wins = np.full((len(batch), len(batch)), np.nan)
        for (i, j), forward, backward in zip(chosen, verdicts[: len(chosen)], verdicts[len(chosen) :]):
            points = (_points(forward.preferred, first=True) + _points(backward.preferred, first=False)) / 2
            wins[i, j], wins[j, i] = points, 1 - points
        with np.errstate(invalid="ignore"):
            rewards = np.nanmean(wins, axis=1) if len(chosen) else np.full(len(batch), np.nan)
        return GroupRewards(rewards=rewards, wins=wins, verdicts=verdicts)

    async def ascore_rank(self, prompt: str, images: Any) -> GroupRewards:
        """Rank reward: 1 for the best image of the group, 0 for the worst, equal scores share."""
        batch = await asyncio.to_thread(as_images, images)
        verdict = await self.judge.arank(batch, prompt, rubric=self.rubric_for(prompt))
        return GroupRewards(
            rewards=rank_rewards(verdict.scores), wins=np.full((len(batch),) * 2, np.nan), verdicts=[verdict]
        )


DUPLICATE_GATE = Criterion(
    id="duplicate",
    statement="The image is not a copy of another sample of its prompt's group",
    dimension="degenerate",
    origin="given",
    check={"kind": "degenerate"},
    met=0.5,
)


def duplicate_gated(verdict: Verdict, other: int) -> Verdict:
    """A copy of a verdict whose image nearly copies sample `other` of its group: it scores 0."""
    score = CriterionScore(
        criterion=DUPLICATE_GATE.id, candidate=0, score=0.0, rationale=f"a near-copy of sample {other} of its group"
    )
    parts = verdict.parts[0] if verdict.parts else ScoreParts()
    parts = parts.model_copy(update={"gate": 0.0, "failed": [*parts.failed, DUPLICATE_GATE.id]})
    return verdict.model_copy(
        update={
            "scores": [0.0],
            "rubric": [*verdict.rubric, DUPLICATE_GATE],
            "criterion_scores": [*verdict.criterion_scores, score],
            "parts": [parts],
            "critique": verdict.critique + f"\n- failed a gate: a near-copy of sample {other} of its group",
        }
    )


async def _raise(error: Exception) -> Verdict:
    raise error


def _points(preferred: int | None, *, first: bool) -> float:
    """Points for the image that was shown first (`first=True`) or second in a comparison."""
    if preferred is None:
        return 0.5
    return float(preferred == (0 if first else 1))


def pair_schedule(n: int, pairs: PairSchedule, seed: int = 0) -> list[tuple[int, int]]:
    """Which pairs (i < j) of a group of n are compared."""
    every = list(itertools.combinations(range(n), 2))
    if pairs == "all":
        return every
    if pairs == "round_robin":
        return sorted({tuple(sorted((i, (i + 1) % n))) for i in range(n)}) if n > 1 else []
    if isinstance(pairs, int) and not isinstance(pairs, bool) and pairs > 0:
        return sorted(random.Random(seed).sample(every, min(pairs, len(every))))
    raise ValueError(f"pairs must be 'all', 'round_robin' or a positive number of random pairs, got {pairs!r}")


def rank_rewards(scores: Sequence[float | None]) -> np.ndarray:
    """1 for the best, 0 for the worst, linear between; ties share the mean of their places."""
    values = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
    decided = np.flatnonzero(~np.isnan(values))
    out = np.full(len(values), np.nan)
    if decided.size == 1:
        out[decided] = 1.0
    if decided.size < 2:
        return out
    order = decided[np.argsort(-values[decided], kind="stable")]
    places = np.empty(len(values))
    places[order] = np.arange(decided.size)
    for value in np.unique(values[decided]):  # ties share the mean of their places
        tied = decided[values[decided] == value]
        places[tied] = places[tied].mean()
    out[decided] = 1.0 - places[decided] / (decided.size - 1)
    return out


# the adapters live in their own modules; they are found here too, where the README shows them
_ADAPTERS = {
    "flow_grpo_reward": "scrutiny.trainers.flow_grpo",
    "REWARD_FACTORIES": "scrutiny.trainers.flow_grpo",
    "FLOW_GRPO_REWARDS": "scrutiny.trainers.flow_grpo",
    "multi_score": "scrutiny.trainers.flow_grpo",
    "TextCompletions": "scrutiny.trainers.text_rewards",
    "trl_reward": "scrutiny.trainers.text_rewards",
    "VERL_ABSTAIN_SCORE": "scrutiny.trainers.text_rewards",
    "verl_reward": "scrutiny.trainers.text_rewards",
    "verl_batch_reward": "scrutiny.trainers.text_rewards",
}


def __getattr__(name: str) -> Any:
    if name in _ADAPTERS:
        return getattr(importlib.import_module(_ADAPTERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
