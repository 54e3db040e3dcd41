"""The offline judge must prefer the better image of pairs whose answer is known (aim: >= 95%)."""

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import KINDS, preference_pairs


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_pairwise_accuracy(kind, store):
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    pairs = preference_pairs(kind, 10, seed=11)
    right = 0
    for k, pair in enumerate(pairs):
        flip = k % 2 == 1  # half the pairs show the worse image first
        a, b = (pair.worse, pair.better) if flip else (pair.better, pair.worse)
        verdict = judge.edit(pair.source, [a, b], pair.prompt) if pair.source else judge.compare(a, b, pair.prompt)
        right += verdict.preferred == (1 if flip else 0)
    assert right / len(pairs) >= 0.95
