"""The text room on what OCR read: a stranger word ranks no spelling, and "nothing but the requested
text" is met only where the requested text was read."""

import itertools

import pytest

from scrutiny.agents.checks.text import READ_FLOOR, score
from scrutiny.agents.state import Observation, ToolRequest
from scrutiny.core.schema import Criterion, Evidence, TextCheck
from scrutiny.tools.ocr import OcrLine, OcrResult


def _read(*lines: str) -> dict[str, Observation]:
    result = OcrResult(
        lines=[OcrLine(text=t, confidence=0.9, box=(0, 20 * k, 100, 20 * k + 18)) for k, t in enumerate(lines)],
        text=" ".join(lines),
    )
    return {"read": Observation(ToolRequest("ocr", {}, 0, ["text_1"], "read"), Evidence(tool="ocr"), result, {})}


def _asked(text: str, seen) -> float:
    return score(Criterion(id="text_1", statement="s", check=TextCheck(text=text)), seen).score


def _only(asked: str, seen):
    check = TextCheck(text="", negated=True, allowed=[asked])
    return score(Criterion(id="text_2", statement="s", check=check), seen)


@pytest.mark.parametrize(("read", "right"), [("EXIT", "I2R"), ("STOP", "OPEN"), ("CAFE", "BAR"), ("HOTEL", "BANK")])
def test_a_misspelling_never_outscores_the_right_word_when_ocr_read_another(read, right):
    """OCR read a word that is neither: every one-letter misspelling of the asked word ties with it."""
    seen = _read(read)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    wrongs = {right[:k] + c + right[k + 1 :] for k, c in itertools.product(range(len(right)), letters)} - {right}
    assert all(_asked(w, seen) <= _asked(right, seen) for w in wrongs)
    assert _asked(right, seen) == 0.0


def test_a_reading_close_to_the_asked_text_keeps_its_partial_score():
    seen = _read("OPNE 24 HOURS")
    assert READ_FLOOR < _asked("OPEN 24 HOURS", seen) < 1.0
    assert _asked("OPEN 24 HOURS", _read("OPEN 24 HOURS")) == 1.0


def test_nothing_but_the_requested_text_is_met_only_where_it_was_read():
    met = _only("BEST", _read("BEST"))
    assert met.score == 1.0 and "no other text" in met.rationale
    near = _only("BEST", _read("TEST"))  # the asked word, misspelt: no other text, and it says so
    assert near.score == 1.0 and '"test"' in near.rationale.lower()
    extra = _only("BEST", _read("BEST", "SALE 50% OFF"))
    assert 0 < extra.score < 1.0 and "not asked for" in extra.rationale
    unread = _only("BEST", _read("HOTEL"))
    assert unread.score <= 0.5 and "not the requested text" in unread.rationale
    blank = _only("BEST", _read())
    assert blank.score <= 0.5 and "no text" in blank.rationale
