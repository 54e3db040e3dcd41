"""`text_match`: does the image say the target text? Flow-GRPO's OCR score and a strict variant.

Flow-GRPO's score (https://arxiv.org/abs/2505.05470, `flow_grpo/ocr.py`): remove spaces and
lower-case both strings; if the target is contained in the OCR text the score is 1 (extra text
is not penalised); otherwise `1 - min(levenshtein(ocr, target), len(target)) / len(target)`.

The strict score is exact about the words: both strings are lower-cased, reduced to words of
letters and digits joined by single spaces, and scored `1 - levenshtein(read, target) /
max(len(read), len(target))` on the run of words read that best matches the target (`best_window`),
so other text in the scene does not count against the requested text (the judge checks extra text
as a criterion of its own). Reading "OPNE 24 HOURS" for "OPEN 24 HOURS" scores 11/13 under both.

Every function takes `case_sensitive` (default False, as Flow-GRPO): with it, case is kept and
"Exit" read for "EXIT" costs three letters.
"""

from __future__ import annotations

import re

from pydantic import Field

from scrutiny.tools.base import ImageArg, ToolError, ToolResult, tool
from scrutiny.tools.ocr import ocr


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def flow_grpo_target(prompt: str) -> str | None:
    """The target text of a Flow-GRPO OCR prompt: its first `"..."` span (None if there is none)."""
    parts = prompt.split('"')
    return parts[1] if len(parts) >= 3 else None


def ocr_score(read: str, target: str, case_sensitive: bool = False) -> float:
    """Flow-GRPO's OCR reward for text `read` from an image against `target`."""
    read, target = read.replace(" ", ""), target.replace(" ", "")
    if not case_sensitive:
        read, target = read.lower(), target.lower()
    if not target:
        raise ValueError("target text is empty")
    if target in read:
        return 1.0
    distance = min(levenshtein(read, target), len(target))
    return 1.0 - distance / len(target)


def words(text: str, case_sensitive: bool = False) -> list[str]:
    return re.findall(r"[^\W_]+", text if case_sensitive else text.lower())


def strict_score(read: str, target: str, case_sensitive: bool = False) -> float:
    """Like `ocr_score` but extra and missing words cost too (see the module docstring)."""
    read_n, target_n = " ".join(words(read, case_sensitive)), " ".join(words(target, case_sensitive))
    if not target_n:
        raise ValueError("target text has no letters or digits")
    return 1.0 - levenshtein(read_n, target_n) / max(len(read_n), len(target_n))


def best_window(read: str, target: str, case_sensitive: bool = False) -> str:
    """The run of words of `read` that best matches `target` (as long as the target, give or take a
    word), so other text in a scene does not count against it: "WHY" read in "WHY PAY FOR NOTHING?"
    is the window "why". The whole read when it is no longer than the target."""
    read_w, n = words(read, case_sensitive), len(words(target))
    if len(read_w) <= n:
        return " ".join(read_w)
    spans = [(i, k) for k in (n - 1, n, n + 1) if k >= 1 for i in range(len(read_w) - k + 1)]

    def fit(span: tuple[int, int]) -> tuple[float, int]:
        return strict_score(" ".join(read_w[span[0] : span[0] + span[1]]), target, case_sensitive), -span[1]

    best = max(spans, key=fit)
    return " ".join(read_w[best[0] : best[0] + best[1]])


class TextMatchResult(ToolResult):
    target: str
    read: str
    score: float = Field(description="Flow-GRPO OCR score in [0, 1]; containment scores 1.")
    strict: float = Field(
        description="Strict score in [0, 1] on the best-matching run of words read; missing and misspelled words cost."
    )
    missing_words: list[str]
    extra_words: list[str]


def match_text(read: str, target: str, case_sensitive: bool = False) -> TextMatchResult:
    """Score already-read text against a target (the OCR-free half of `text_match`)."""
    if not words(target):
        raise ToolError("target text is empty: give the exact text the image should show")
    read_words, target_words = words(read, case_sensitive), words(target, case_sensitive)
    window = best_window(read, target, case_sensitive)
    return TextMatchResult(
        target=target,
        read=read,
        score=round(max(ocr_score(read, target, case_sensitive), ocr_score(window, target, case_sensitive)), 6),
        strict=round(strict_score(window, target, case_sensitive), 6),
        missing_words=[w for w in target_words if w not in read_words],
        extra_words=[w for w in read_words if w not in target_words],
    )


@tool
def text_match(image: ImageArg, target: str, min_confidence: float = 0.5) -> TextMatchResult:
    """Read the image and score how exactly it shows the target text.

    Args:
        image: Name of the image to read.
        target: The exact text the image should show.
        min_confidence: OCR lines below this confidence are ignored.
    """
    return match_text(" ".join(line.text for line in ocr(image, min_confidence=min_confidence).lines), target)
