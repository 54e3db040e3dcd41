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
import inspect
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from PIL import Image

from scrutiny.agents.checks.degenerate import asks_for_plain, near_duplicates
from scrutiny.agents.rubric import synthesize
from scrutiny.api import Judge, JudgeConfig
from scrutiny.core.aio import bounded_map, run_sync
from scrutiny.core.images import ImageError, load_image
from scrutiny.core.schema import Criterion, CriterionScore, QualityCheck, ScoreParts, Verdict

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
    ids = list(dict.fromkeys(s.criterion for v in verdicts for s in v.criteria if s.candidate == 0))
    out = {k: np.full(len(verdicts), np.nan) for k in ids}
    for i, v in enumerate(verdicts):
        for s in v.criteria:
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


RESOLUTION = 0.02
"""A reward spread within a prompt's group at or below this is not signal: no-reference quality and
detector jitter move scores by about this much between equally faithful images."""


def content_spread(signal: np.ndarray, groups: Sequence[Any], resolution: float = RESOLUTION) -> np.ndarray:
    """[B] 1.0 where the sample's group spreads by more than `resolution` in what was asked for, else 0."""
    keys = np.array([str(g) for g in groups])
    out = np.zeros(len(keys))
    for key in np.unique(keys):
        members = keys == key
        decided = signal[members & np.isfinite(signal)]
        out[members] = float(decided.size > 1 and np.ptp(decided) > resolution)
    return out


def flatten_unsignalled(
    rewards: np.ndarray, signal: np.ndarray, groups: Sequence[Any], resolution: float = RESOLUTION
) -> np.ndarray:
    """Rewards with every group whose spread does not come from content (`content_spread`) set to its
    mean: std normalisation (per prompt or over the batch) then gives its samples advantage 0 instead
    of stretching the quality measure's noise into a training signal."""
    out = np.asarray(rewards, dtype=np.float64).copy()
    keys = np.array([str(g) for g in groups])
    flat = content_spread(signal, groups, resolution) == 0
    for key in np.unique(keys[flat]):
        members = keys == key
        decided = out[members & np.isfinite(out)]
        if decided.size:
            out[members & np.isfinite(out)] = decided.mean()
    return out


def fill_abstentions(rewards: np.ndarray, groups: Sequence[Any]) -> tuple[np.ndarray, float]:
    """Replace NaN by the mean of its group (advantage 0); return the filled copy and the abstain rate.

    A group with no decided reward at all gets the batch mean (any constant gives its members
    advantage 0); a batch with no decided reward at all gets 0.5.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    missing = np.isnan(rewards)
    filled = rewards.copy()
    batch_mean = float(np.nanmean(rewards)) if (~missing).any() else 0.5
    keys = np.array([str(g) for g in groups])
    for key in np.unique(keys[missing]):
        members = keys == key
        decided = rewards[members & ~missing]
        filled[members & missing] = decided.mean() if decided.size else batch_mean
    return filled, float(missing.mean()) if rewards.size else 0.0


@dataclass
class Advantages:
    """Group-relative advantages of a batch, with what a trainer logs about them."""

    values: np.ndarray
    abstain_rate: float
    """The share of rewards that were NaN (filled with their group's mean: advantage 0)."""
    constant_groups: float
    """The share of groups whose rewards were all equal: their advantages are 0, they teach nothing."""
    unsignalled_groups: float = 0.0
    """The share of groups whose spread was within the resolution, or (with `signal`) did not come from
    what was asked for: their advantages were set to 0."""


def group_advantages(
    rewards: np.ndarray,
    groups: Sequence[Any],
    *,
    per: Literal["group", "batch"] = "group",
    clip: float = 5.0,
    resolution: float = 0.0,
    signal: np.ndarray | None = None,
) -> Advantages:
    """(r - group mean) / (std + 1e-4), std per group or over the batch, clipped; abstentions get 0.

    A group whose rewards spread by no more than `resolution`, or whose `signal` (`signal_of`: the
    content part of each reward) does not, gets advantage 0: std normalisation would stretch that
    spread, which is not signal, to the whole range."""
    filled, abstain_rate = fill_abstentions(rewards, groups)
    keys = np.array([str(g) for g in groups])
    out = np.zeros_like(filled)
    constant = unsignalled = 0
    carries = content_spread(np.asarray(signal, dtype=np.float64), groups, resolution) if signal is not None else None
    for key in np.unique(keys):
        members = keys == key
        if np.ptp(filled[members]) < 1e-9:
            constant += 1
            continue
        if np.ptp(filled[members]) <= resolution or (carries is not None and not carries[members].any()):
            unsignalled += 1
            continue
        std = filled[members].std() if per == "group" else filled.std()
        out[members] = (filled[members] - filled[members].mean()) / (std + 1e-4)
    groups_seen = max(len(np.unique(keys)), 1)
    return Advantages(np.clip(out, -clip, clip), abstain_rate, constant / groups_seen, unsignalled / groups_seen)


def normalize(
    rewards: np.ndarray, groups: Sequence[Any], *, per: Literal["group", "batch"] = "group", clip: float = 5.0
) -> np.ndarray:
    """Group-relative advantages (`group_advantages`), as an array."""
    return group_advantages(rewards, groups, per=per, clip=clip).values


def combine(
    rewards: dict[str, np.ndarray],
    weights: dict[str, float],
    groups: Sequence[Any],
    *,
    mode: Literal["sum_then_normalize", "normalize_then_sum"] = "sum_then_normalize",
    per: Literal["group", "batch"] = "group",
) -> np.ndarray:
    """Several rewards into one advantage per sample.

    `sum_then_normalize` normalises the weighted sum (rewards on large scales dominate);
    `normalize_then_sum` normalises each reward within its groups first, so each contributes by
    its weight alone.
    """
    unknown = set(weights) - set(rewards)
    if unknown:
        raise ValueError(f"weights name rewards that were not given: {sorted(unknown)}")
    filled = {name: fill_abstentions(rewards[name], groups)[0] for name in weights}
    if mode == "sum_then_normalize":
        return normalize(sum(w * filled[n] for n, w in weights.items()), groups, per=per)
    if mode == "normalize_then_sum":
        return sum(w * normalize(filled[n], groups, per=per) for n, w in weights.items())
    raise ValueError(f"mode must be 'sum_then_normalize' or 'normalize_then_sum', got {mode!r}")


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
        return scores_of(run_sync(self.ascore(images, prompts, metadata)))

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
            "criteria": [*verdict.criteria, score],
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


# Flow-GRPO: `_fn(images, prompts, metadata, only_strict=True) -> (scores, info)`


def flow_grpo_reward(
    reward: JudgeReward | None = None, *, resolution: float | None = None
) -> Callable[..., tuple[np.ndarray, dict]]:
    """A Flow-GRPO reward function. Abstentions come back filled with their prompt's mean in the
    batch; `info` has the raw scores (NaN for abstentions), the abstain rate, each sample's content
    signal (`signal_of`) and whether its group's spread comes from content (`content_spread`).

    With `resolution`, a prompt's samples in the batch whose spread does not come from content get
    their mean (`flatten_unsignalled`), so Flow-GRPO's std normalisation, per prompt or global,
    gives them advantage 0 (exactly, when the batch holds the whole group)."""
    reward = reward or JudgeReward()

    def _fn(images, prompts, metadata, only_strict: bool = True):
        verdicts = run_sync(reward.ascore(images, prompts, metadata))
        raw, signal = scores_of(verdicts), signal_of(verdicts)
        filled, rate = fill_abstentions(raw, prompts)
        if resolution is not None:
            filled = flatten_unsignalled(filled, signal, prompts, resolution)
        errors = {i: v.error for i, v in enumerate(verdicts) if v.error}
        info = {
            "raw": raw,
            "abstain_rate": rate,
            "errors": errors,
            "signal": signal,
            "content_spread": content_spread(signal, prompts, resolution or RESOLUTION),
            "criteria": criteria_of(verdicts),
            "text_area": text_area_of(verdicts),
        }
        return filled.astype(np.float32), info

    _fn.__name__ = reward.name
    return _fn


REWARD_FACTORIES: dict[str, Callable[[], JudgeReward]] = {
    "scrutiny": lambda: JudgeReward(name="scrutiny"),
    "scrutiny_guarded": lambda: JudgeReward(name="scrutiny_guarded", guards=True),
}
"""Reward names `multi_score` knows; register more with `REWARD_FACTORIES[name] = factory`."""

FLOW_GRPO_REWARDS = {
    "deqa": "deqa_score_remote",
    "ocr": "ocr_score",
    "video_ocr": "video_ocr_score",
    "imagereward": "imagereward_score",
    "pickscore": "pickscore_score",
    "qwenvl": "qwenvl_score",
    "aesthetic": "aesthetic_score",
    "jpeg_compressibility": "jpeg_compressibility",
    "unifiedreward": "unifiedreward_score_sglang",
    "geneval": "geneval_score",
    "seedscore": "seed_score",
    "clipscore": "clip_score",
    "image_similarity": "image_similarity_score",
}
"""Flow-GRPO's reward names and the factories in `flow_grpo.rewards` they stand for (its `multi_score`)."""


def multi_score(device: Any, score_dict: dict[str | Callable, float], extra: dict[str, Callable] | None = None):
    """Drop-in for Flow-GRPO's `multi_score(device, score_dict)`.

    `score_dict` maps rewards to weights. A reward is a name from `REWARD_FACTORIES` (scrutiny
    judges), from `extra`, or one of Flow-GRPO's own (`FLOW_GRPO_REWARDS`, when `flow_grpo` is
    importable), or any Flow-GRPO style callable `_fn(images, prompts, metadata[, only_strict])`
    returning `(scores, info)` (its `__name__` names it). Every call returns the same keys, each a
    float32 array of length B with abstentions filled by their prompt's batch mean, plus
    `{name}_abstained` (1.0 where the sample abstained) and `avg`, the weighted sum.

    Nothing stops a batch: an image that cannot be read (NaN or inf pixels, a corrupt file) is that
    sample's abstention in every reward, and a reward that fails on the batch is called again one
    sample at a time, the samples it still fails on abstaining. `device` is passed to Flow-GRPO's
    factories that take one; the offline judge runs on the CPU and model judges on their servers.
    """
    extra = extra or {}
    functions: dict[str, _Reward] = {}
    weights: dict[str, float] = {}
    for key, weight in score_dict.items():
        name, reward = _reward_function(key, device, extra)
        functions[name], weights[name] = reward, weight

    def _fn(images, prompts, metadata, ref_images=None, only_strict: bool = True):
        items = as_items(images)
        if len(items) != len(prompts):
            raise ValueError(f"got {len(items)} images but {len(prompts)} prompts")
        unreadable = np.array([isinstance(x, Exception) for x in items], dtype=bool)
        out: dict[str, np.ndarray] = {}
        for name, reward in functions.items():
            given = items if reward.ours else images  # scrutiny's rewards take the images as read
            scores = _call_reward(reward, given, prompts, metadata, only_strict, ref_images, unreadable)
            scores[unreadable] = np.nan
            out[name] = fill_abstentions(scores, prompts)[0].astype(np.float32)
            out[f"{name}_abstained"] = np.isnan(scores).astype(np.float32)
        out["avg"] = sum(w * out[n] for n, w in weights.items()).astype(np.float32)
        return out, {}

    return _fn


class _Reward(NamedTuple):
    """A Flow-GRPO style reward function and how `multi_score` calls it."""

    fn: Callable
    ours: bool = False
    """A scrutiny judge: it takes the images as `as_items` read them."""
    refs: bool = False
    """Flow-GRPO's image similarity: `fn(images, ref_images)`."""


def _reward_function(key: str | Callable, device: Any, extra: dict[str, Callable]) -> tuple[str, _Reward]:
    """A `score_dict` key as its name and reward."""
    if callable(key):
        return getattr(key, "__name__", type(key).__name__), _Reward(key)
    if key in extra:
        return key, _Reward(extra[key])
    if key in REWARD_FACTORIES:
        return key, _Reward(flow_grpo_reward(REWARD_FACTORIES[key]()), ours=True)
    if key in FLOW_GRPO_REWARDS:
        try:
            import flow_grpo.rewards as upstream
        except ImportError:
            raise ValueError(f"{key!r} is one of Flow-GRPO's rewards, and flow_grpo is not importable here") from None
        factory = getattr(upstream, FLOW_GRPO_REWARDS[key], None)
        if factory is None:
            raise ValueError(f"flow_grpo.rewards has no {FLOW_GRPO_REWARDS[key]} (for {key!r}): another version?")
        takes_device = "device" in inspect.signature(factory).parameters
        return key, _Reward(factory(device) if takes_device else factory(), refs=key == "image_similarity")
    known = sorted(REWARD_FACTORIES) + sorted(extra) + sorted(FLOW_GRPO_REWARDS)
    raise ValueError(f"unknown reward {key!r}; known: {known}, or pass a function")


def _call_reward(reward, images, prompts, metadata, only_strict, ref_images, unreadable) -> np.ndarray:
    """[B] float64 scores of one reward (NaN abstains). A batch it fails on is retried one readable
    sample at a time, the ones it still fails on abstaining; one that fails on every readable sample
    is broken, not fed bad images, and its error is raised."""
    try:
        return _scores(_invoke(reward, images, prompts, metadata, only_strict, ref_images), len(prompts))
    except Exception as e:  # noqa: BLE001 - one bad sample must not stop the batch: find which
        first = e
    metas = metadata if isinstance(metadata, list | tuple) and len(metadata) == len(prompts) else None
    out = np.full(len(prompts), np.nan)
    failed = 0
    for i in np.flatnonzero(~unreadable):
        meta = [metas[i]] if metas is not None else metadata
        refs = ref_images[i : i + 1] if ref_images is not None else None
        try:
            out[i] = _scores(_invoke(reward, images[i : i + 1], prompts[i : i + 1], meta, only_strict, refs), 1)[0]
        except Exception:  # noqa: BLE001 - this sample abstains
            failed += 1
    if failed and failed == int((~unreadable).sum()):
        raise first
    return out


def _invoke(reward: _Reward, images, prompts, metadata, only_strict, ref_images):
    """Call a Flow-GRPO style reward as it takes its arguments (see `_strictness`)."""
    fn = reward.fn
    if reward.refs:
        return fn(images, ref_images)
    how = _strictness(fn)
    if how == "keyword":
        return fn(images, prompts, metadata, only_strict=only_strict)
    if how == "positional":  # `_fn(images, prompts, metadata, strict)`, Flow-GRPO's geneval
        return fn(images, prompts, metadata, only_strict)
    return fn(images, prompts, metadata)  # Flow-GRPO's own rewards are `_fn(images, prompts, metadata)`


def _scores(result, n: int) -> np.ndarray:
    """The scores of a reward's answer: `(scores, info)`, or geneval's `(scores, rewards, strict, ...)`;
    NaN where `info["raw"]` says the sample abstained."""
    scores, info = result[0], result[1] if len(result) > 1 else None
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape != (n,):
        raise ValueError(f"a reward returned {scores.shape[0]} scores for {n} samples")
    if isinstance(info, dict) and "raw" in info:
        scores = np.where(np.isnan(np.asarray(info["raw"], dtype=np.float64)), np.nan, scores)
    return np.where(np.isfinite(scores), scores, np.nan)


def _strictness(fn: Callable) -> str:
    """How a Flow-GRPO style reward takes `only_strict`: "keyword" (by that name, or `**kwargs`),
    "positional" (a fourth positional parameter by another name), or "none" (three parameters)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "keyword"
    if any(p.name == "only_strict" or p.kind == p.VAR_KEYWORD for p in params):
        return "keyword"
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.kind == p.VAR_POSITIONAL
    ]
    return "positional" if len(positional) >= 4 or any(p.kind == p.VAR_POSITIONAL for p in params) else "none"


# Text completions (TRL, verl): either the completion is a prompt that a generator renders and the
# judge scores against the original request, or the completion describes an image from the data
# (a caption, a description) and the judge scores that image against the completion.


@dataclass
class TextCompletions:
    """What a text-completion trainer's samples are judged on; shared by the TRL and verl adapters.

    With `generator` (any `fn(prompt, seed) -> image`, a diffusers pipeline, or an object with
    `agenerate(prompts, seeds)`): each completion is a prompt; the generator renders it (seed
    `seed`, the same for every completion, so only the prompt differs) and the image is judged
    against the original request. Without: each completion is judged as the prompt of an image the
    sample carries (its `image`/`images` column or `extra_info["image"]`), e.g. a caption.
    """

    reward: JudgeReward = field(default_factory=lambda: JudgeReward())
    generator: Any = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.generator is not None:
            from scrutiny.generators import as_generator

            self.generator = as_generator(self.generator)

    async def averdicts(
        self, completions: Sequence[str], requests: Sequence[str | None], images: Sequence[Any]
    ) -> list[Verdict]:
        """`requests[i]`: what the user asked for (with a generator); `images[i]`: the sample's image (without)."""
        if self.generator is not None:
            if any(r is None for r in requests):
                raise ValueError("rendering completions needs the original request of every sample")
            rendered = await self.generator.agenerate(list(completions), [self.seed] * len(completions))
            return await self.reward.ascore(rendered, list(requests), duplicates=False)
        if all(i is None for i in images):
            raise ValueError(
                "the completions are text: give generator=... to render them as prompts, or give each sample "
                "an image to judge them against (an `image`/`images` column, or extra_info['image'])"
            )
        missing = ImageError("this sample has no image to judge its completion against")
        given = [missing if i is None else i for i in images]  # that sample abstains, the others are judged
        return await self.reward.ascore(given, list(completions), duplicates=False)


def _one_image(value: Any) -> Any:
    """A sample's image: a path or an image, or the first of a list of them (TRL's `images` column)."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _completion_text(completion: Any) -> str:
    """A completion as text: a string, or the text of a conversational completion's messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for message in completion:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(part.get("text", "") for part in content if part.get("type") == "text")
        return " ".join(parts)
    raise ValueError(f"cannot read a completion from {type(completion).__name__}")


# TRL: `reward_funcs=[fn]`, fn(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]


def trl_reward(
    reward: JudgeReward | None = None, *, generator: Any = None, seed: int = 0, request_column: str | None = None
) -> Callable[..., Any]:
    """An async TRL `GRPOTrainer` reward function; `None` abstains (TRL ignores it in nanmean/nanstd).

    Two uses (see `TextCompletions`):
    - `trl_reward(generator=pipe)`: train a prompt writer. Each completion is a prompt; `pipe`
      renders it and the judge scores the image against the request: the dataset's
      `request_column` when given, else the prompt the model was given (its last user message).
    - `trl_reward()` on a dataset with an `image` or `images` column (a list per example: the first
      is used): each completion is judged as the prompt of that image (a captioner, a describer).

    The critique of each verdict goes to `log_extra` and the abstain rate to `log_metric` when TRL
    passes them.
    """
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    async def fn(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]:
        texts = [_completion_text(c) for c in completions]
        if request_column is not None:
            requests = list(kwargs[request_column])
        else:
            requests = [_prompt_text(p) for p in prompts]
        column = kwargs.get("images", kwargs.get("image"))
        images = [_one_image(x) for x in column] if column is not None else [None] * len(texts)
        verdicts = await source.averdicts(texts, requests, images)
        log_extra = kwargs.get("log_extra")
        if log_extra is not None:
            log_extra(f"{source.reward.name}_critique", [v.critique for v in verdicts])
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            log_metric(f"{source.reward.name}/abstain_rate", float(np.mean([v.score is None for v in verdicts])))
        return [v.score for v in verdicts]

    fn.__name__ = source.reward.name
    return fn


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):  # chat messages: the last user turn
        for message in reversed(prompt):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    raise ValueError(f"cannot read a prompt from {type(prompt).__name__}; pass a string or chat messages")


# verl: its reward managers call compute_score(data_source=, solution_str=, ground_truth=, extra_info=)
# one sample at a time (NaiveRewardManager), or compute_score(data_sources=, solution_strs=,
# ground_truths=, extra_infos=) for a batch (BatchRewardManager); a float or {"score": ..., ...} back.

VERL_ABSTAIN_SCORE = 0.0
"""What an abstention becomes in verl by default (verl has no "no reward"; NaN would poison its
advantages). A constant is neutral where a whole group abstains (its advantages are 0); the batch
form first fills an abstention with the mean of its prompt's other samples."""


def verl_reward(
    reward: JudgeReward | None = None,
    *,
    generator: Any = None,
    seed: int = 0,
    abstain_score: float = VERL_ABSTAIN_SCORE,
) -> Callable[..., dict]:
    """A verl `compute_score` for `NaiveRewardManager` (one sample per call, by keyword).

    What is judged (see `TextCompletions`): with `generator`, `solution_str` is a prompt, rendered
    and judged against the request (`ground_truth`, a dict's "prompt", or `extra_info["prompt"]`);
    without, the image comes from `extra_info["image"]` (a path, an image, or a list of them: the
    first) and is judged against `solution_str`; an image generator's output passed as
    `solution_image` is judged against the request. Returns {"score", "abstained", "checked"}:
    numbers only, as verl logs every key; an abstention scores `abstain_score`, never NaN.
    """
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    def compute_score(
        data_source=None, solution_str=None, ground_truth=None, extra_info=None, *, solution_image=None, **kw
    ) -> dict:
        (verdict,) = run_sync(_verl_verdicts(source, [solution_str], [ground_truth], [extra_info], [solution_image]))
        return _verl_dict(verdict, verdict.score if verdict.score is not None else abstain_score)

    return compute_score


def verl_batch_reward(
    reward: JudgeReward | None = None,
    *,
    generator: Any = None,
    seed: int = 0,
    abstain_score: float = VERL_ABSTAIN_SCORE,
) -> Callable[..., list[dict]]:
    """verl's batched form for `BatchRewardManager`: lists in by keyword, one dict per sample out.
    An abstention takes the mean score of its prompt's other samples, or `abstain_score` when the
    whole prompt abstained."""
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    def compute_score(
        data_sources=None, solution_strs=None, ground_truths=None, extra_infos=None, *, solution_images=None, **kw
    ) -> list[dict]:
        n = _batch_length(
            solution_strs=solution_strs,
            solution_images=solution_images,
            ground_truths=ground_truths,
            extra_infos=extra_infos,
            data_sources=data_sources,
        )
        infos = list(extra_infos) if extra_infos is not None else [None] * n
        truths = list(ground_truths) if ground_truths is not None else [None] * n
        images = list(solution_images) if solution_images is not None else [None] * n
        texts = list(solution_strs) if solution_strs is not None else [None] * n
        verdicts = run_sync(_verl_verdicts(source, texts, truths, infos, images))
        raw = scores_of(verdicts)
        groups = [_verl_request(t, e, required=False) or k for k, (t, e) in enumerate(zip(truths, infos))]
        filled, _ = fill_abstentions(raw, groups)
        filled = np.where(np.isnan(filled), abstain_score, filled)
        return [_verl_dict(v, float(f)) for v, f in zip(verdicts, filled)]

    return compute_score


def _batch_length(**columns: Any) -> int:
    """The one length every given column of a verl batch has, or a one-line error naming them."""
    lengths = {name: len(value) for name, value in columns.items() if value is not None}
    if not lengths or "solution_strs" not in lengths and "solution_images" not in lengths:
        raise ValueError("verl batch: give solution_strs or solution_images")
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} {name}" for name, n in lengths.items())
        raise ValueError(f"verl batch: the columns differ in length ({shown}); give one entry per sample in each")
    return next(iter(lengths.values()))


async def _verl_verdicts(source: TextCompletions, texts, truths, infos, images) -> list[Verdict]:
    if source.generator is None and all(i is not None for i in images):  # an image generator's samples
        return await source.reward.ascore(list(images), [_verl_request(t, e) for t, e in zip(truths, infos)])
    requests = [_verl_request(t, e, required=source.generator is not None) for t, e in zip(truths, infos)]
    own = [_one_image((e or {}).get("image")) if i is None else i for i, e in zip(images, infos)]
    return await source.averdicts([t or "" for t in texts], requests, own)


def _verl_dict(verdict: Verdict, score: float) -> dict:
    checked = verdict.coverage[0].share if verdict.coverage else 0.0
    return {"score": float(score), "abstained": float(verdict.score is None), "checked": float(checked)}


def _verl_request(ground_truth: Any, extra_info: dict | None, required: bool = True) -> str | None:
    if isinstance(ground_truth, dict) and ground_truth.get("prompt"):
        return ground_truth["prompt"]
    if isinstance(ground_truth, str) and ground_truth:
        return ground_truth
    if extra_info and extra_info.get("prompt"):
        return extra_info["prompt"]
    if not required:
        return None
    raise ValueError(
        "verl ground_truth must be the prompt (or a dict with 'prompt'), or extra_info must carry 'prompt'"
    )
