"""The offline judge must prefer the better image of pairs whose answer is known (aim: >= 95%), on
the basic kinds and on the hard set of each measured failure class (`benchmarks/accuracy.py` runs
them larger)."""

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import HARD_KINDS, KINDS, preference_pairs


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS + HARD_KINDS)
def test_pairwise_accuracy(kind, store):
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    n = 10 if kind in KINDS else 4 if kind == "tiny_text" else 6  # tiny text is read a quarter at a time: slow
    pairs = preference_pairs(kind, n, seed=11)
    right = 0
    for k, pair in enumerate(pairs):
        flip = k % 2 == 1  # half the pairs show the worse image first
        a, b = (pair.worse, pair.better) if flip else (pair.better, pair.worse)
        verdict = judge.edit(pair.source, [a, b], pair.prompt) if pair.source else judge.compare(a, b, pair.prompt)
        right += verdict.preferred == (1 if flip else 0)
    assert right / len(pairs) >= 0.95
