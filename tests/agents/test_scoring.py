"""Content decides, quality qualifies: the overall score's formula, and counts."""

from __future__ import annotations

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.agents.judge import preference, score_parts
from scrutiny.core.schema import Criterion, CriterionScore, DegenerateCheck, ObjectCheck, QualityCheck
from scrutiny.testing.scenes import grid, shapes

RUBRIC = [
    Criterion(id="count", statement="three cats", dimension="count", check=ObjectCheck(object="cat", count=3)),
    Criterion(id="color", statement="red", dimension="color", weight=0.5),
    Criterion(id="sharp", statement="sharp", dimension="quality", check=QualityCheck(measure="sharpness"), met=0.6),
    Criterion(id="degenerate", statement="a picture", dimension="degenerate", check=DegenerateCheck(), met=0.5),
]


def parts(count, color, sharp=0.9, gate=1.0, unchecked="lower"):
    values = {"count": count, "color": color, "sharp": sharp, "degenerate": gate}
    return score_parts(
        RUBRIC, [CriterionScore(criterion=k, candidate=0, score=v) for k, v in values.items()], unchecked
    )


def test_nothing_asked_for_seen_scores_zero_however_good_the_image():
    assert parts(0.0, 0.0, sharp=1.0).overall == 0.0


def test_quality_above_its_bar_changes_nothing_and_below_it_only_lowers():
    assert parts(1.0, 1.0, sharp=0.6).overall == parts(1.0, 1.0, sharp=1.0).overall == 1.0
    low = parts(1.0, 1.0, sharp=0.3)
    assert (
        low.overall == pytest.approx(0.5) and low.parts.quality == pytest.approx(0.5) and low.parts.failed == ["sharp"]
    )
    assert parts(0.0, 1.0, sharp=0.3).overall == pytest.approx(1 / 3 * 0.5, abs=1e-6)  # content (0 + 0.5)/1.5, halved


def test_a_failed_gate_is_zero_even_where_no_content_was_checked():
    assert parts(1.0, 1.0, gate=0.0).overall == 0.0
    assert parts(None, None, gate=0.0).overall == 0.0
    assert parts(None, None, gate=1.0).overall is None  # nothing checked, nothing failed: abstain
    partial = parts(1.0, 1.0, gate=0.4)
    assert partial.overall == pytest.approx(0.4) and partial.parts.gate == pytest.approx(0.4)


def test_unchecked_content_follows_the_setting():
    assert parts(1.0, None).overall == pytest.approx(1 / 1.5)
    assert parts(1.0, None, unchecked="omit").overall == 1.0
    assert parts(1.0, None, unchecked="abstain").overall is None


def test_a_lead_that_quality_alone_makes_is_a_tie():
    a, b = parts(1.0, 1.0, sharp=0.59), parts(1.0, 1.0, sharp=0.6)
    assert preference([a.overall, b.overall], [a.content, b.content])[0] is None
    c = parts(1.0, 0.0)
    assert preference([a.overall, c.overall], [a.content, c.content])[0] == 0


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_wrong_count_scores_zero_by_default_and_a_right_one_never_below_it(store):
    image = shapes(grid(2, "circle", "red"))
    exact = Judge(store=store, config=JudgeConfig(cache=False))
    partial = Judge(store=store, config=JudgeConfig(cache=False, counts="partial"))
    right, wrong = (exact.judge(image, p).score for p in ("two red circles", "three red circles"))
    assert right == 1.0 and wrong == 0.0
    near = partial.judge(image, "three red circles")
    assert 0.5 < near.score < 1.0 and "found 2 red circles, expected 3" in near.critique
    for judge in (exact, partial):
        scores = {n: judge.judge(image, f"{n} red circles").score for n in ("one", "two", "three", "five")}
        assert scores["two"] == max(scores.values()) and all(scores["two"] > v for k, v in scores.items() if k != "two")
