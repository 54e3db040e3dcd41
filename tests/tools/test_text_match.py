import pytest

from scrutiny.testing.scenes import sign
from scrutiny.tools import ToolError, match_text, ocr_score, strict_score, text_match
from scrutiny.tools.text_match import flow_grpo_target, levenshtein


@pytest.mark.parametrize(("a", "b", "d"), [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("opne", "open", 2)])
def test_levenshtein(a, b, d):
    assert levenshtein(a, b) == d == levenshtein(b, a)


@pytest.mark.parametrize(
    ("read", "target", "expected"),
    [
        ("OPEN 24 HOURS", "OPEN 24 HOURS", 1.0),
        ("open24hours", "OPEN 24 HOURS", 1.0),  # spaces and case do not count
        ("BIG OPEN 24 HOURS SALE", "OPEN 24 HOURS", 1.0),  # containment scores 1: extra text is free
        ("OPNE 24 HOURS", "OPEN 24 HOURS", 1 - 2 / 11),  # "open24hours" has 11 characters
        ("OPEN 24", "OPEN 24 HOURS", 1 - 5 / 11),
        ("", "OPEN", 0.0),
        ("completely different text", "OPEN", 0.0),  # distance is capped at len(target)
    ],
)
def test_flow_grpo_score_by_hand(read, target, expected):
    assert ocr_score(read, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("read", "target", "expected"),
    [
        ("OPEN 24 HOURS", "open 24 hours!", 1.0),
        ("OPEN 24 HOURS SALE", "OPEN 24 HOURS", 13 / 18),  # extra word costs 5 edits of 18 chars
        ("OPEN HOURS", "OPEN 24 HOURS", 10 / 13),  # missing "24 " costs 3 of 13
        ("OPNE 24 HOURS", "OPEN 24 HOURS", 11 / 13),
    ],
)
def test_strict_score_by_hand(read, target, expected):
    assert strict_score(read, target) == pytest.approx(expected)


def test_match_reports_missing_and_extra_words():
    result = match_text("OPEN HOURS SALE", "OPEN 24 HOURS")
    assert result.missing_words == ["24"] and result.extra_words == ["sale"]


def test_empty_target_is_a_tool_error():
    with pytest.raises(ToolError, match="target text is empty"):
        match_text("anything", " !! ")


def test_flow_grpo_target_is_the_first_double_quoted_span():
    assert flow_grpo_target('A sign that says "OPEN 24 HOURS" and "CLOSED"') == "OPEN 24 HOURS"
    assert flow_grpo_target("no quotes here") is None


def test_text_match_reads_the_image():
    good = text_match(sign("OPEN 24 HOURS"), "OPEN 24 HOURS")
    bad = text_match(sign("OPNE 24 HOURS"), "OPEN 24 HOURS")
    assert good.score == 1.0 and good.strict == 1.0
    assert bad.read == "OPNE 24 HOURS" and bad.score == pytest.approx(1 - 2 / 11)
