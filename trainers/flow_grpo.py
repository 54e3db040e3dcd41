"""Flow-GRPO's calling convention: `_fn(images, prompts, metadata, only_strict=True) -> (scores, info)`,
and its `multi_score(device, score_dict)` mixing scrutiny's rewards with its own."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from scrutiny.core.aio import block_on
from scrutiny.core.calls import call_shape
from scrutiny.trainers.advantages import RESOLUTION, content_spread, fill_abstentions, flatten_unsignalled
from scrutiny.trainers.rewards import JudgeReward, as_items, criteria_of, scores_of, signal_of, text_area_of


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
        verdicts = block_on(reward.ascore(images, prompts, metadata))
        raw, signal = scores_of(verdicts), signal_of(verdicts)
        filled, rate = fill_abstentions(raw, prompts)
        if resolution is not None:
            filled = flatten_unsignalled(filled, signal, prompts, resolution)
        return filled.astype(np.float32), _info(verdicts, prompts, raw, rate, signal, resolution or RESOLUTION)

    _fn.__name__ = reward.name
    return _fn


def _info(verdicts, prompts, raw: np.ndarray, rate: float, signal: np.ndarray, resolution: float) -> dict:
    """What a Flow-GRPO reward reports beside its scores: raw scores, the abstain rate and errors, the
    content signal and spread, each criterion's scores, the text area."""
    return {
        "raw": raw,
        "abstain_rate": rate,
        "errors": {i: v.error for i, v in enumerate(verdicts) if v.error},
        "signal": signal,
        "content_spread": content_spread(signal, prompts, resolution),
        "criteria": criteria_of(verdicts),
        "text_area": text_area_of(verdicts),
    }


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
    shape = call_shape(fn)
    if shape is None or shape.takes_keyword("only_strict"):
        return "keyword"
    return "positional" if shape.takes_positional(4) else "none"
