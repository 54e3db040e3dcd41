"""Rewards under training: nothing stops a batch, Flow-GRPO's names and callables, storage, the
reward's resolution, and alarms for a run being gamed."""

from __future__ import annotations

import json
import sqlite3
import sys

import numpy as np
import pytest
import torch

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.core.aio import block_on
from scrutiny.testing import hacks
from scrutiny.testing.scenes import grid, shapes, storefront
from scrutiny.trainers.monitor import GamingMonitor, image_statistics, reward_curve
from scrutiny.trainers.rewards import (
    JudgeReward,
    content_spread,
    flatten_unsignalled,
    flow_grpo_reward,
    group_advantages,
    multi_score,
)

PROMPT = "three red circles"


def batch(*images) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.asarray(im)).permute(2, 0, 1).float() / 255 for im in images])


def reward(store, **kw) -> JudgeReward:
    return JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit")), **kw)


def test_an_unreadable_sample_abstains_and_the_batch_goes_on(store, monkeypatch):
    from scrutiny.trainers import rewards

    monkeypatch.setitem(rewards.REWARD_FACTORIES, "scrutiny", lambda: reward(store))
    images = batch(shapes(grid(3, "circle", "red")), shapes(grid(2, "circle", "red")), shapes(grid(3, "circle", "red")))
    images[1] = float("nan")
    images[2, 0, 0, 0] = float("inf")

    def theirs(images, prompts, metadata):  # an upstream reward that cannot take a NaN either
        if not torch.isfinite(images).all():
            raise ValueError("NaN in the batch")
        return np.ones(len(prompts)), {}

    out, _ = multi_score("cpu", {"scrutiny": 1.0, theirs: 0.5})(images, [PROMPT] * 3, [{}] * 3)
    assert out["scrutiny_abstained"].tolist() == [0.0, 1.0, 1.0]
    assert out["theirs_abstained"].tolist() == [0.0, 1.0, 1.0]  # retried one by one: only the bad ones abstain
    assert out["scrutiny"][0] == 1.0 and np.isfinite(out["avg"]).all()

    def broken(images, prompts, metadata):  # fails on every readable sample too: a bug, not bad input
        raise KeyError("no such column")

    with pytest.raises(KeyError, match="no such column"):
        multi_score("cpu", {broken: 1.0})(images, [PROMPT] * 3, [{}] * 3)


def test_bad_batches_are_one_clear_error(store):
    fn = flow_grpo_reward(reward(store))
    with pytest.raises(ValueError, match="got 2 images but 1 prompts"):
        fn(batch(hacks.flat("red"), hacks.flat("red")), [PROMPT], [{}])
    with pytest.raises(ValueError, match="metadata"):
        fn(batch(hacks.flat("red")), [PROMPT], [{}, {}])
    scores, info = fn(torch.zeros(0, 3, 8, 8), [], [])
    assert scores.shape == (0,)
    one_dict, _ = fn(batch(shapes(grid(3, "circle", "red"))), [PROMPT], {})  # Flow-GRPO's examples pass one dict
    assert one_dict.tolist() == [1.0]


def test_flow_grpo_names_resolve_to_its_own_rewards(tmp_path, monkeypatch):
    package = tmp_path / "flow_grpo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rewards.py").write_text(
        "import numpy as np\n"
        "def jpeg_compressibility():\n"
        "    def _fn(images, prompts, metadata):\n"
        "        return np.full(len(prompts), 0.25), {}\n"
        "    return _fn\n"
        "def geneval_score(device):\n"
        "    assert device == 'cuda:3'\n"
        "    def _fn(images, prompts, metadata, only_strict):\n"
        "        s = np.full(len(prompts), 0.5)\n"
        "        return s, s, s, {}, {}\n"
        "    return _fn\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        fn = multi_score("cuda:3", {"jpeg_compressibility": 1.0, "geneval": 2.0})
        out, _ = fn(torch.rand(2, 3, 8, 8), ["a", "b"], [{}, {}])
        with pytest.raises(ValueError, match="flow_grpo.rewards has no pickscore_score"):
            multi_score("cpu", {"pickscore": 1.0})
    finally:  # the stand-in must not outlive the test
        sys.modules.pop("flow_grpo.rewards", None)
        sys.modules.pop("flow_grpo", None)
    assert out["jpeg_compressibility"].tolist() == [0.25, 0.25] and out["avg"].tolist() == [1.25, 1.25]
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        multi_score("cpu", {"nope": 1.0})


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_copies_within_a_group_score_zero(store):
    a, b = storefront("OPEN 24 HOURS", seed=0), storefront("OPEN 24 HOURS", seed=9)
    prompt, other = 'A storefront sign that says "OPEN 24 HOURS"', 'A sign that says "OPEN 24 HOURS"'
    verdicts = block_on(reward(store).ascore([a, b, a, a], [prompt, prompt, prompt, other]))
    assert verdicts[1].score > 0.5 and verdicts[0].score == verdicts[2].score == 0.0  # copies in one group
    assert "a near-copy of sample 0 of its group" in verdicts[2].critique and verdicts[2].parts[0].gate == 0
    assert verdicts[3].score > 0.5  # the same image under another prompt is no copy
    off = reward(store, duplicates=False).score([a, a], [prompt, prompt])
    assert off[0] == off[1] > 0.5


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_sampled_storage_keeps_compact_verdicts_and_whole_judgments_within_a_budget(tmp_path):
    store = Store(home=tmp_path / "home")
    judge = Judge(store=store, config=JudgeConfig(cache=False, keep="sampled", trace_budget_mb=0.3))
    images = [storefront(f"OPEN {k}", seed=k) for k in range(6)]
    verdicts = judge.judge_many(images, [f'A sign that says "OPEN {k}"' for k in range(6)])
    store.close()
    db = sqlite3.connect(tmp_path / "home" / "scrutiny.db")
    assert db.execute("select count(*) from verdicts").fetchone()[0] == 6
    assert db.execute("select count(*) from traces").fetchone()[0] == 1  # the first; the budget holds no more
    compact = [r[0] for r in db.execute("select data_json from verdicts where trace_id is null")]
    assert len(compact) == 5 and max(map(len, compact)) < 1500
    rows = [json.loads(c) for c in compact]  # scores by criterion id, without what was seen
    assert all(s["score"] is not None and not s.get("rationale") for r in rows for s in r["criterion_scores"][:1])
    assert sum(v.trace_id is not None for v in verdicts) == 1
    nothing = Judge(store=Store(home=tmp_path / "none"), config=JudgeConfig(keep="none"))
    assert nothing.judge(images[0], 'A sign that says "OPEN 0"').trace_id is None
    assert (
        sqlite3.connect(tmp_path / "none" / "scrutiny.db").execute("select count(*) from verdicts").fetchone()[0] == 0
    )
    with pytest.raises(ValueError, match="keep must be"):
        JudgeConfig(keep="some")


def test_a_spread_from_quality_alone_gets_advantage_zero():
    groups = ["a"] * 3 + ["b"] * 3
    rewards = np.array([0.9, 0.89, 0.91, 0.2, 0.6, 1.0])
    signal = np.array([1.0, 1.0, 1.0, 0.2, 0.6, 1.0])  # group a: the same content, quality jitter
    assert content_spread(signal, groups).tolist() == [0, 0, 0, 1, 1, 1]
    for per in ("group", "batch"):
        plain = group_advantages(rewards, groups, per=per)
        assert np.abs(plain.values[:3]).max() > (0.5 if per == "group" else 0.01)  # the jitter becomes signal
        resolved = group_advantages(rewards, groups, per=per, signal=signal)
        assert (resolved.values[:3] == 0).all() and (resolved.values[3:] == plain.values[3:]).all()
        assert resolved.unsignalled_groups == 0.5
    flat = flatten_unsignalled(rewards, signal, groups)
    assert np.ptp(flat[:3]) == 0 and flat[:3].mean() == pytest.approx(0.9) and (flat[3:] == rewards[3:]).all()
    assert group_advantages(rewards, groups, resolution=0.05).unsignalled_groups == 0.5


def test_flow_grpo_reward_reports_content_and_can_flatten(store):
    sharp = shapes(grid(3, "circle", "red"))
    blurred = sharp.resize((64, 64)).resize((512, 512))
    fn = flow_grpo_reward(reward(store, guards=True, duplicates=False), resolution=0.02)  # a blur is a near-copy
    scores, info = fn(batch(sharp, blurred), [PROMPT] * 2, [{}, {}])
    assert info["signal"].tolist() == [1.0, 1.0] and info["content_spread"].tolist() == [0.0, 0.0]
    assert info["raw"][0] > info["raw"][1] and scores[0] == scores[1]  # the blur's spread is not signal
    assert "count_1" in info["criteria"] and "degenerate" in info["criteria"]


def test_the_monitor_alarms_when_reward_rises_on_something_else(tmp_path):
    history = []
    monitor = GamingMonitor(window=3)
    for step in range(12):
        rising = step >= 6
        history.append(
            {
                "step": step,
                "reward_mean": 0.5 + (0.05 * (step - 5) if rising else 0.0),
                "content_mean": 0.5 - (0.05 * (step - 5) if rising else 0.0),
                "image/sharpness": 0.5 + (0.04 * (step - 5) if rising else 0.001 * step),
            }
        )
        found = monitor.update(history)
        if step < 6:
            assert found == []
    texts = [a["alarm"] for a in monitor.alarms]
    assert any("reward rose" in t and "content signal fell" in t for t in texts)
    assert any(t.startswith("sharpness drifted") for t in texts)
    path = reward_curve(history, tmp_path / "curve.png", alarms=monitor.alarms)
    assert path.stat().st_size > 0


def test_image_statistics_see_copies_and_flat_images():
    pixels = np.stack([np.asarray(hacks.flat("gray"))] * 2 + [np.asarray(hacks.uniform_noise())] * 2)
    stats = image_statistics(pixels, ["p"] * 4, np.array([np.nan, 0.2, np.nan, np.nan]))
    assert stats["duplicate_rate"] == 0.5 and stats["text_area"] == pytest.approx(0.2)
    assert 0.6 < stats["sharpness"] < 0.8 and 0.0 < stats["entropy"] < 1.0  # flat 0.41 (its faint noise), noise 1
