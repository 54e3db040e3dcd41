"""Critiques say what was seen and no more: per kind of criterion, an image one step from right (a word
one letter off, a count off by one, a colour next door, two objects swapped, an edit in the wrong
colour) scores the criterion lower than the right image, and the critique's line for it says what was
seen, with the criterion's own score; the right image's critique does not list it."""

import re

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import Shape, fitted_sign, grid, shapes

pytestmark = pytest.mark.slow  # ten judgments: over 1 s

LEFT, RIGHT = (60, 200, 160, 300), (330, 200, 430, 300)
CASES = {
    # kind: (prompt, right image, near miss, the criterion's id prefix, what the line must say it saw)
    "text": ('A sign that says "TEST"', fitted_sign("TEST"), fitted_sign("BEST"), "text_1", 'OCR read "BEST"'),
    "count": (
        "four red circles",
        shapes(grid(4, "circle", "red")),
        shapes(grid(3, "circle", "red")),
        "count",
        "found 3",
    ),
    "colour": (
        "three red circles",
        shapes(grid(3, "circle", "red")),
        shapes(grid(3, "circle", "orange")),
        "count",
        "found 0 red circles",
    ),
    "relation": (
        "a red circle left of a blue square",
        shapes([Shape("circle", "red", LEFT), Shape("square", "blue", RIGHT)]),
        shapes([Shape("circle", "red", RIGHT), Shape("square", "blue", LEFT)]),
        "position",
        "red circle at [330, 200, 430, 300]",
    ),
}


def _line(critique: str, statement: str) -> str | None:
    return next((line for line in critique.splitlines() if line.startswith(f"- {statement}:")), None)


@pytest.mark.parametrize("kind", list(CASES))
def test_the_critique_says_what_was_seen_with_the_criterions_score(kind, store):
    prompt, right, near, prefix, seen = CASES[kind]
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    good, bad = judge.judge(right, prompt), judge.judge(near, prompt)
    criterion = next(c for c in bad.rubric if c.id.startswith(prefix))
    score = {s.criterion: s.score for s in bad.criterion_scores}[criterion.id]
    assert score < {s.criterion: s.score for s in good.criterion_scores}[criterion.id]
    line = _line(bad.critique, criterion.statement)
    assert line is not None and seen in line, bad.critique
    assert re.search(r"\(score (\d\.\d\d)\)$", line).group(1) == f"{score:.2f}"  # the line's score is the criterion's
    assert _line(good.critique, criterion.statement) is None  # met: not listed as a problem
    assert bad.score < good.score


def test_an_edit_in_the_wrong_colour_is_said_to_be_that_colour(store):
    source = shapes([Shape("circle", "red", LEFT)])
    right = shapes([Shape("circle", "red", LEFT), Shape("square", "green", RIGHT)])
    near = shapes([Shape("circle", "red", LEFT), Shape("square", "cyan", RIGHT)])
    verdict = Judge(store=store, config=JudgeConfig(cache=False)).edit(source, [right, near], "Add a green square")
    assert verdict.scores[0] > verdict.scores[1] and verdict.preferred == 0
    block = verdict.critique.split("candidate 1")[1]
    assert "there is cyan square" in block and "not a green square" in block
    assert "candidate 0 (score 1.00):\n- the 4 checked content criteria are met" in verdict.critique
