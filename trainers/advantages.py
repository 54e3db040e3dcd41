"""Rewards into advantages: abstentions filled by their group's mean, spreads that are not content
flattened, group-normalised advantages, and weighted mixes of rewards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

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
