import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import ImageFilter

from scrutiny import Criterion, Judge, JudgeConfig
from scrutiny.core.images import image_hash
from scrutiny.testing.scenes import fitted_sign, grid, shapes, sign, storefront, tiled_text
from scrutiny.trainers.rewards import (
    JudgeReward,
    as_images,
    combine,
    fill_abstentions,
    flow_grpo_reward,
    multi_score,
    normalize,
    pair_schedule,
    rank_rewards,
    trl_reward,
    verl_batch_reward,
    verl_reward,
)

SIGN = 'The words "FRESH BREAD"'
UNCHECKABLE = [Criterion(id="c", statement="The bread looks tasty", checkable=False)]


@pytest.fixture
def reward(store):
    return JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False)))


@pytest.fixture
def signs():
    """Four signs; the first and last read the same but are drawn differently (a copy would be gated)."""
    drawn = [fitted_sign(t, size=(384, 192)) for t in ("FRESH BREAD", "FRESH BRAED", "STALE BREAD")]
    return drawn + [sign("FRESH BREAD", size=(384, 192), font_size=40, background=(225, 235, 250))]


def test_every_batch_format_gives_the_same_images(signs):
    arrays = np.stack([np.asarray(s) for s in signs])  # [B, H, W, 3] uint8
    uint8 = torch.from_numpy(arrays.copy()).permute(0, 3, 1, 2)  # [B, 3, H, W]
    floats = uint8.float() / 255.0
    expected = [image_hash(s) for s in signs]
    for batch in (signs, arrays, arrays.transpose(0, 3, 1, 2), uint8, floats, list(floats)):
        assert [image_hash(i) for i in as_images(batch)] == expected
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        as_images(torch.zeros(3, 8, 8))


@pytest.mark.slow
def test_scores_are_deterministic_and_nan_for_abstentions(reward, signs, store):
    first = reward.score(signs, [SIGN] * 4)
    again = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False))).score(signs, [SIGN] * 4)
    assert first.dtype == np.float64 and first.shape == (4,)
    np.testing.assert_array_equal(first, again)
    assert first[0] == first[3] > max(first[1], first[2])
    scenes = [storefront("FRESH BREAD"), storefront("FRESH BRAED", seed=1)]  # not text alone: the bread is asked
    abstaining = JudgeReward(judge=reward.judge, rubric=UNCHECKABLE).score(scenes, [SIGN] * 2)
    assert np.isnan(abstaining).all()


def test_fill_abstentions_uses_the_group_mean_never_zero():
    rewards = np.array([0.2, np.nan, 0.6, np.nan, np.nan, 0.9])
    groups = ["a", "a", "a", "b", "b", "c"]
    filled, rate = fill_abstentions(rewards, groups)
    np.testing.assert_allclose(filled, [0.2, 0.4, 0.6, 0.5666667, 0.5666667, 0.9], atol=1e-6)  # b: batch mean
    assert rate == pytest.approx(0.5)
    assert fill_abstentions(np.array([np.nan, np.nan]), ["a", "a"])[0].tolist() == [0.5, 0.5]


def test_normalize_gives_zero_mean_groups_and_zero_for_constant_groups():
    rewards = np.array([1.0, 0.0, 0.5, 0.7, 0.7, np.nan])
    advantages = normalize(rewards, ["a", "a", "a", "b", "b", "b"])
    assert advantages[:3].sum() == pytest.approx(0.0, abs=1e-9)
    assert advantages[3:] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)  # constant group (NaN filled with its mean)
    assert np.abs(normalize(np.array([0.0, 1.0]), ["a", "a"], clip=0.5)).max() == 0.5


def test_combine_modes():
    groups = ["a", "a"]
    rewards = {"big": np.array([10.0, 0.0]), "small": np.array([0.0, 0.1])}
    weights = {"big": 1.0, "small": 1.0}
    summed = combine(rewards, weights, groups, mode="sum_then_normalize")
    assert summed[0] > summed[1]  # the large-scale reward dominates the sum
    balanced = combine(rewards, weights, groups, mode="normalize_then_sum")
    np.testing.assert_allclose(balanced, [0.0, 0.0], atol=1e-2)  # each counts equally: they cancel
    with pytest.raises(ValueError, match="not given"):
        combine(rewards, {"other": 1.0}, groups)


def test_pair_schedules():
    assert len(pair_schedule(6, "all")) == 15
    assert len(pair_schedule(6, "round_robin")) == 6 and len(pair_schedule(2, "round_robin")) == 1
    assert pair_schedule(6, 4, seed=1) == pair_schedule(6, 4, seed=1) and len(pair_schedule(6, 4)) == 4
    with pytest.raises(ValueError, match="pairs must be"):
        pair_schedule(4, "some")


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_group_win_rate_judges_both_orders(store):
    reward = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, counts="partial")))
    images = [shapes(grid(n, "circle", "red", cell=90)) for n in (1, 3, 2, 3)]
    result = asyncio.run(reward.ascore_group("three red circles", images))
    assert len(result.verdicts) == 2 * 6  # every pair in both orders
    assert result.rewards[1] == result.rewards[3] > result.rewards[2] > result.rewards[0]
    assert result.wins[1, 3] == 0.5  # equally good: a tie
    mask = ~np.isnan(result.wins)
    np.testing.assert_allclose((result.wins + result.wins.T)[mask], 1.0)
    sparse = asyncio.run(reward.ascore_group("three red circles", images, pairs="round_robin"))
    assert len(sparse.verdicts) == 2 * 4


def test_rank_rewards():
    np.testing.assert_allclose(rank_rewards([0.2, 0.9, 0.5]), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(rank_rewards([0.5, 0.5, 0.1]), [0.75, 0.75, 0.0])
    out = rank_rewards([None, 0.3, 0.7])
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 1.0]


@pytest.mark.slow
def test_flow_grpo_contract_from_a_thread_pool(reward, signs):
    fn = flow_grpo_reward(reward)
    images = torch.from_numpy(np.stack([np.asarray(s) for s in signs])).permute(0, 3, 1, 2).float() / 255.0
    prompts = [SIGN] * 4
    with ThreadPoolExecutor(max_workers=2) as pool:  # Flow-GRPO submits rewards from worker threads
        futures = [pool.submit(fn, images, prompts, [{}] * 4, only_strict=True) for _ in range(2)]
        results = [f.result() for f in futures]
    for scores, info in results:
        assert isinstance(scores, np.ndarray) and scores.dtype == np.float32 and scores.shape == (4,)
        assert info["abstain_rate"] == 0.0
    np.testing.assert_array_equal(results[0][0], results[1][0])


def test_flow_grpo_fills_abstentions_with_the_prompt_mean(store, signs):
    rubric_reward = JudgeReward(judge=Judge(store=store), rubric=UNCHECKABLE)
    scenes = [storefront("FRESH BREAD"), storefront("FRESH BRAED", seed=1)]  # not text alone: the bread is asked
    scores, info = flow_grpo_reward(rubric_reward)(scenes, [SIGN] * 2, [{}, {}])
    assert not np.isnan(scores).any() and info["abstain_rate"] == 1.0 and np.isnan(info["raw"]).all()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_multi_score_mixes_judges_with_named_rewards(signs, monkeypatch, store):
    from scrutiny.trainers import rewards as module

    monkeypatch.setitem(module.REWARD_FACTORIES, "scrutiny", lambda: JudgeReward(judge=Judge(store=store)))
    seen = {}

    def brightness(images, prompts, metadata, only_strict=True):
        seen["type"] = type(images)
        return images.float().mean(dim=(1, 2, 3)).numpy(), {}

    fn = multi_score("cpu", {"scrutiny": 0.7, "brightness": 0.3}, extra={"brightness": brightness})
    batch = torch.from_numpy(np.stack([np.asarray(s) for s in signs])).permute(0, 3, 1, 2)
    out, info = fn(batch, [SIGN] * 4, [{}] * 4, only_strict=True)
    again, _ = fn(batch, [SIGN] * 4, [{}] * 4)
    assert set(out) == set(again) == {"scrutiny", "scrutiny_abstained", "brightness", "brightness_abstained", "avg"}
    assert seen["type"] is torch.Tensor  # extra rewards get the batch as the trainer passed it
    for value in out.values():
        assert value.shape == (4,) and value.dtype == np.float32 and np.isfinite(value).all()
    np.testing.assert_allclose(out["avg"], 0.7 * out["scrutiny"] + 0.3 * out["brightness"], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown reward"):
        multi_score("cpu", {"pick_score": 1.0})
    with pytest.raises(ValueError, match="one of Flow-GRPO's rewards, and flow_grpo is not importable"):
        multi_score("cpu", {"pickscore": 1.0})


def sign_writer(prompt: str, seed: int):
    """A toy text-to-image model: it draws the first quoted text of the prompt it is given, on a sign in a scene."""
    parts = prompt.split('"')
    return storefront(parts[1] if len(parts) >= 3 else "", size=384)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_trl_judges_text_completions_as_prompts_rendered_or_as_captions(reward, signs):
    # 1. a prompt writer: each completion is rendered, and the image judged against the request
    fn = trl_reward(JudgeReward(judge=reward.judge, name="scrutiny_ocr"), generator=sign_writer)
    assert fn.__name__ == "scrutiny_ocr" and inspect.iscoroutinefunction(fn)
    logged, metrics = {}, {}
    prompts = [[{"role": "user", "content": SIGN}], SIGN]
    completions = ['a bakery sign, "FRESH BREAD"', [{"role": "assistant", "content": 'a sign: "FRESH BRAED"'}]]
    out = asyncio.run(
        fn(
            prompts,
            completions,
            completion_ids=None,
            trainer_state=None,
            log_extra=lambda k, v: logged.update({k: v}),
            log_metric=lambda k, v: metrics.update({k: v}),
        )
    )
    assert len(out) == 2 and all(isinstance(x, float) for x in out) and out[0] > out[1]
    assert "OCR read" in logged["scrutiny_ocr_critique"][1] and metrics["scrutiny_ocr/abstain_rate"] == 0.0
    # 2. captions: an `images` column (a list per example) holds the image each completion describes
    captions = trl_reward(reward)
    images = [[signs[0]], [signs[0]]]
    scored = asyncio.run(captions(["Describe the sign"] * 2, [SIGN, 'The words "STALE BREAD"'], images=images))
    assert scored[0] > scored[1]
    abstain = trl_reward(JudgeReward(judge=reward.judge, rubric=UNCHECKABLE), generator=sign_writer)
    assert asyncio.run(abstain([SIGN], [SIGN])) == [None]
    with pytest.raises(ValueError, match="give generator="):
        asyncio.run(captions([SIGN], ["some text"]))  # text completions and no image to judge them against


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_verl_is_called_by_keyword_and_never_gets_nan(reward, signs, tmp_path):
    path = tmp_path / "sign.png"
    signs[0].save(path)
    # NaiveRewardManager's call: the image of the sample in extra_info, the completion describes it
    compute_score = verl_reward(reward)
    right = compute_score(data_source="ocr", solution_str=SIGN, ground_truth="", extra_info={"image": str(path)})
    wrong = compute_score(
        data_source="ocr", solution_str='The words "STALE BREAD"', ground_truth="", extra_info={"image": str(path)}
    )
    assert (
        right["score"] > wrong["score"]
        and right["abstained"] == 0.0
        and set(right) == {"score", "abstained", "checked"}
    )
    # a prompt writer: the completion is rendered and judged against the request
    writer = verl_reward(reward, generator=sign_writer)
    made = writer(data_source="ocr", solution_str='"FRESH BREAD"', ground_truth={"prompt": SIGN}, extra_info={})
    assert made["score"] > 0.9
    # an image generator's output, judged against the request
    assert compute_score(data_source="ocr", solution_image=signs[0], ground_truth=SIGN)["score"] > 0.9
    # an abstention is a number verl can use, never NaN
    abstaining = verl_reward(
        JudgeReward(judge=reward.judge, rubric=UNCHECKABLE), generator=sign_writer, abstain_score=0.25
    )
    result = abstaining(data_source="ocr", solution_str=SIGN, ground_truth=SIGN, extra_info=None)
    assert result["score"] == 0.25 and result["abstained"] == 1.0
    # BatchRewardManager's call
    batch = verl_batch_reward(reward, generator=sign_writer)(
        data_sources=["ocr"] * 2,
        solution_strs=['"FRESH BREAD"', '"FRESH BRAED"'],
        ground_truths=[SIGN] * 2,
        extra_infos=[{}, {}],
    )
    assert batch[0]["score"] > batch[1]["score"] and all(np.isfinite(r["score"]) for r in batch)
    with pytest.raises(ValueError, match="ground_truth must be the prompt"):
        writer(data_source="ocr", solution_str="x", ground_truth=None, extra_info={})


@pytest.mark.slow
def test_reward_hacks_do_not_outscore_a_faithful_image(store):
    target = "OPEN 24 HOURS"
    prompt = f'A storefront sign that says "{target}"'
    faithful = storefront(target)
    hacks = {
        "blank canvas": fitted_sign(target, size=(512, 512)),
        "blurred": faithful.filter(ImageFilter.GaussianBlur(3)),
        "tiled": tiled_text(target),
    }
    guarded = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False)), guards=True)
    scores = guarded.score([faithful, *hacks.values()], [prompt] * 4)
    for name, score in zip(hacks, scores[1:]):
        assert scores[0] > score + 0.1, name


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_long_prompts_unchecked_nouns_do_not_shrink_the_reward(store):
    """Twenty nouns no tool can see are left out of the reward (the default reward judge omits
    them), so a correct sign scores near the top of the range and its typo visibly lower."""
    prompt = (
        'A weathered wooden sign that says "FRESH BREAD" hangs above a rustic bakery door, with baskets of '
        "loaves, a chalkboard menu, flower pots and warm morning light on cobblestones"
    )
    reward = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit")))
    right, typo = reward.score([storefront("FRESH BREAD"), storefront("FRESH BRAED", seed=1)], [prompt] * 2)
    assert right > 0.7 and right - typo > 0.05
    default = JudgeReward()
    assert default.judge.config.unchecked == "omit"
