import asyncio

import pytest

import scrutiny
from scrutiny import ImageError, Judge, JudgeConfig
from scrutiny.testing.scenes import fitted_sign

SIGN = 'The words "FRESH BREAD"'


def test_public_surface_is_small():
    assert {"Judge", "judge", "compare", "rank", "edit", "Verdict", "Criterion", "Store"} <= set(scrutiny.__all__)
    assert len(scrutiny.__all__) <= 20


def test_module_level_judge_uses_scrutiny_home(tmp_path, monkeypatch):
    scrutiny.api.default_judge.reset()  # made on first use, under this test's SCRUTINY_HOME
    try:
        verdict = scrutiny.judge(fitted_sign("FRESH BREAD"), SIGN)
        assert verdict.score > 0.9
        assert (tmp_path / "home" / "scrutiny.db").is_file()
    finally:
        scrutiny.api.default_judge.reset()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_second_identical_judgment_is_a_cache_hit(store):
    judge = Judge(store=store)
    first = judge.judge(fitted_sign("FRESH BREAD"), SIGN)
    second = judge.judge(fitted_sign("FRESH BREAD"), SIGN)
    assert not first.cached and second.cached
    assert second.id == first.id and second.scores == first.scores
    other_prompt = judge.judge(fitted_sign("FRESH BREAD"), 'A sign that says "FRESH BREAD!"')
    assert not other_prompt.cached
    no_cache = Judge(store=store, config=JudgeConfig(cache=False)).judge(fitted_sign("FRESH BREAD"), SIGN)
    assert not no_cache.cached and no_cache.id != first.id


def test_a_verdict_cached_by_other_scoring_code_is_not_served(store, monkeypatch):
    """The cache key holds a hash of the scoring code and data (agents, tools, the detector's
    calibration): after an upgrade that changes how a criterion is scored, the old verdict is stale."""
    import scrutiny.api

    judge = Judge(store=store)
    assert not judge.judge(fitted_sign("FRESH BREAD"), SIGN).cached
    assert judge.judge(fitted_sign("FRESH BREAD"), SIGN).cached
    monkeypatch.setattr(scrutiny.api, "scoring_fingerprint", lambda: "other scoring code")
    assert not judge.judge(fitted_sign("FRESH BREAD"), SIGN).cached


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_judge_many_keeps_order_and_checks_lengths(store):
    judge = Judge(store=store, config=JudgeConfig(concurrency=3))
    images = [fitted_sign(t) for t in ("FRESH BREAD", "FRESH BRAED", "STALE BREAD", "FRESH BREAD")]
    verdicts = judge.judge_many(images, SIGN)
    scores = [v.score for v in verdicts]
    assert scores[0] == scores[3] > max(scores[1], scores[2])
    with pytest.raises(ValueError, match="one prompt per image"):
        judge.judge_many(images, [SIGN])


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_async_twins_run_inside_a_running_loop(store):
    judge = Judge(store=store)

    async def main():
        a = judge.ajudge(fitted_sign("FRESH BREAD"), SIGN)
        b = judge.acompare(fitted_sign("FRESH BRAED"), fitted_sign("FRESH BREAD"), SIGN)
        return await asyncio.gather(a, b)

    single, pair = asyncio.run(main())
    assert single.score > 0.9 and pair.preferred == 1
    # the sync API also works when called from inside a running loop (e.g. a notebook)

    async def nested():
        return judge.judge(fitted_sign("FRESH BREAD"), SIGN)

    assert asyncio.run(nested()).cached


def test_bad_inputs_raise_clear_errors(store, tmp_path):
    judge = Judge(store=store)
    with pytest.raises(ValueError, match="prompt is empty"):
        judge.judge(fitted_sign("X"), "  ")
    with pytest.raises(ImageError, match="no such file"):
        judge.judge(tmp_path / "missing.png", SIGN)
    with pytest.raises(ValueError, match="at least 2 candidates"):
        judge.rank([fitted_sign("X")], SIGN)
    with pytest.raises(ValueError, match="max_steps"):
        JudgeConfig(max_steps=0)


def test_bounded_map_keeps_order_bounds_concurrency_and_stops_at_a_failure():
    from scrutiny.core.aio import bounded_map

    running, peak, started = 0, 0, []

    async def work(x):
        nonlocal running, peak
        started.append(x)
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (x % 3))
        running -= 1
        if x == 7:
            raise ValueError("seven")
        return x * x

    assert asyncio.run(bounded_map(work, [x for x in range(20) if x != 7], 4)) == [x * x for x in range(20) if x != 7]
    assert peak == 4
    started.clear()
    with pytest.raises(ValueError, match="seven"):
        asyncio.run(bounded_map(work, range(100), 4))
    assert len(started) < 100  # the rest was never started
    done = []
    assert asyncio.run(bounded_map(lambda x: asyncio.sleep(0, x + 1), range(50), 8, lambda: done.append(1))) == list(
        range(1, 51)
    )
    assert len(done) == 50
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        asyncio.run(bounded_map(work, range(3), 0))


@pytest.mark.slow  # two judgments of a large image: over 1 s
def test_a_large_image_is_judged_on_a_bounded_working_copy(store):
    from scrutiny.testing.scenes import storefront

    prompt = 'A storefront sign that says "OPEN"'
    small = storefront("OPEN", size=512)
    large = small.resize((2400, 2400))
    judge = Judge(store=store, config=JudgeConfig(cache=False, max_side=1024))
    verdict = judge.judge(large, prompt)
    assert verdict.score == pytest.approx(
        Judge(store=store, config=JudgeConfig(cache=False)).judge(small, prompt).score, abs=0.1
    )
    text = [s for s in verdict.criterion_scores if s.criterion.startswith("text")]
    assert text and all(s.score == 1.0 for s in text)  # the sign still reads on the copy
    events = [e for e in store.trace(verdict.trace_id).events if e.node == "intake"]
    assert events and events[0].data["working_copy"] == {"candidate_0": [2400, 2400, 1024, 1024]}
    lines = [line for e in verdict.evidence if e.tool == "ocr" for line in e.output["lines"]]
    assert lines and all(0 <= v <= 1024 for line in lines for v in line["box"])  # boxes in the copy's pixels
    with pytest.raises(ValueError, match="max_side"):
        JudgeConfig(max_side=10)
