"""Cancelled judgments never take the store down with them (the writer thread survives)."""

import asyncio
import random

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import fitted_sign


@pytest.mark.slow
def test_cancelling_judgments_at_random_points_loses_nothing_later(store):
    judge = Judge(store=store, config=JudgeConfig(cache=False, concurrency=8))
    images = [fitted_sign(word) for word in ("OPEN", "SHUT", "SALE", "FREE")]
    rng = random.Random(0)

    async def storm():
        tasks = [asyncio.create_task(judge.ajudge(images[i % 4], f'The words "{i}"')) for i in range(60)]
        for _ in range(20):  # cancel some while they are anywhere: in tools, in the graph, waiting for the store
            await asyncio.sleep(rng.random() * 0.05)
            rng.choice(tasks).cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(storm())
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    assert 0 < cancelled < 60 and not [r for r in results if isinstance(r, Exception)]

    async def again():  # the writer is alive: later judgments finish (a hang fails the block_on)
        return await asyncio.wait_for(asyncio.gather(*(judge.ajudge(im, 'The words "OPEN"') for im in images)), 60)

    verdicts = asyncio.run(again())
    assert all(v.trace_id for v in verdicts)
    for v in verdicts:
        assert store.verdict(v.id).id == v.id  # stored


def test_a_cancelled_wait_still_stores_the_judgment(store):
    from scrutiny.core.schema import Task, Trace, Verdict

    task = Task(kind="score", prompt="x", candidates=["a" * 64])
    verdict = Verdict(task=task, scores=[0.5])
    done = store.submit_judgment(Trace(task=task, verdict_id=verdict.id), verdict, {}, None)
    done.cancel()  # the caller gave up; the write goes on
    later = store.submit_judgment(Trace(task=task), Verdict(task=task, scores=[0.1]), {}, None)
    later.result(timeout=30)  # the writer is alive (before the fix it died here and this waited forever)
    assert store.verdict(verdict.id).scores == [0.5]
