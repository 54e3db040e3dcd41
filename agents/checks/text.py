"""Text checks: "the sign reads OPEN", "no text", "nothing but the requested text".

Planned: OCR on the candidate; a zoom on the lines read when they do not match, and a second look a
quarter of the image at a time when nothing was read. Scored: the mean of Flow-GRPO's OCR score and
the strict one, on folded glyphs (i, l, I and | as one), over the best of the readings.
"""

from __future__ import annotations

from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import JudgeState, Observation, ToolRequest
from scrutiny.core.schema import Criterion, TextCheck
from scrutiny.tools.text_match import best_window, match_text, words

TILES = 4
READ_FLOOR = 0.5
"""A reading that matches less than this of the asked text is other text, not the asked text misspelt:
it scores 0. Above it a score follows the letters read right; below it, which of two spellings a
stranger word is nearer to is chance ("EXIT" read where "I2R" was asked ranked a misspelling above it)."""


def steps(c: Criterion) -> list[str]:
    return ["ocr"]


def look_closer(state: JudgeState, i: int, ids: list[str], seen: dict[str, Observation]) -> list[ToolRequest]:
    """The second looks at text: a zoom on what was read when it is not what was asked, the four
    quarters when nothing was read, and OCR on what those looks produced."""
    requests = []
    read = seen.get("read")
    image = f"candidate_{i}"
    asked = [c for c in state["rubric"] if c.id in set(ids) and isinstance(c.check, TextCheck) and c.check.text]
    if read and read.result and read.result.lines and not all(best_text(c, [read.result.text]) >= 1.0 for c in asked):
        box = _union([line.box for line in read.result.lines], state["images"][image].size, pad=12)
        arguments = {"image": image, "box": list(box), "units": "pixel", "factor": 2.0}
        requests.append(ToolRequest("zoom", arguments, i, ids, "zoom on text"))
    if read and read.result is not None and not read.result.lines and asked:
        # text is expected and nothing was read: look again, a quarter of the image at a time (small
        # text in a large image falls below the reader's resolution when the whole image is shrunk)
        for k, box in enumerate(_quadrants(state["images"][image].size)):
            arguments = {"image": image, "box": list(box), "units": "pixel", "factor": 1.5}
            requests.append(ToolRequest("zoom", arguments, i, ids, f"tile {k + 1}"))
    for k in range(TILES):
        tile = seen.get(f"tile {k + 1}")
        if tile and tile.produced:
            requests.append(ToolRequest("ocr", {"image": next(iter(tile.produced))}, i, ids, f"read tile {k + 1}"))
    zoomed = seen.get("zoom on text")
    if zoomed and zoomed.produced:
        requests.append(ToolRequest("ocr", {"image": next(iter(zoomed.produced))}, i, ids, "read zoomed"))
    return requests


def best_text(c: Criterion, reads: list[str]) -> float:
    target = c.check.text
    return max(text_value(match(read, target)) for read in reads) if reads else 0.0


def text_value(found) -> float:
    """Mean of Flow-GRPO's OCR score (lenient to extra text) and the strict score (it is not)."""
    return 0.5 * (found.score + found.strict)


def fold(text: str, case_sensitive: bool = False) -> str:
    """Case-insensitive, and i, l, I and | as one glyph (one stroke in many sans-serif fonts), the
    same on both sides: "EXIT" read as "exit" or as "EXlT" is right. With `case_sensitive`, the
    text as written."""
    return text if case_sensitive else text.lower().replace("i", "l").replace("|", "l")


def match(read: str, target: str, case_sensitive: bool = False):
    """`match_text` on folded glyphs, reporting the text as read."""
    folded = match_text(fold(read, case_sensitive), fold(target, case_sensitive), case_sensitive=case_sensitive)
    return folded.model_copy(update={"read": read, "target": target})


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    check: TextCheck = c.check
    reads = [o for o in (seen.get("read"), seen.get("read zoomed")) if o and o.result is not None]
    if not reads:
        return Scored(None, "OCR did not run", [])
    texts = [" ".join(line.text for line in o.result.lines) for o in reads]
    tiles = [seen.get(f"read tile {k + 1}") for k in range(TILES)]
    tiles = [o for o in tiles if o and o.result is not None and o.result.lines]
    if tiles:  # the second look, a quarter at a time: what the tiles read, together
        reads.append(tiles[0])
        texts.append(" ".join(line.text for o in tiles for line in o.result.lines))
    target = check.text
    if not target and check.allowed:  # no text besides the requested
        return _score_extra_text(check, max(texts, key=len), reads[:1])  # the fullest reading
    if not target:  # "no text"
        found = texts[0].strip()
        return Scored((0.0 if found else 1.0), (f'OCR read "{found}"' if found else "OCR read no text"), reads[:1])
    return _score_target(check, reads, texts)


def _score_target(check: TextCheck, reads: list[Observation], texts: list[str]) -> Scored:
    """The requested text against the best of the readings (or, negated, its absence)."""
    target = check.text
    matches = [match(t, target, check.case_sensitive) for t in texts]
    best = max(range(len(matches)), key=lambda k: text_value(matches[k]))
    found, used = matches[best], [reads[best]]
    value = text_value(found)
    if check.negated:
        return Scored(1.0 - found.score, f'OCR read "{found.read}"; the old text "{target}" should be gone', used)
    if not found.read:
        return Scored(0.0, f'OCR read no text, expected "{target}"', used)
    if value < READ_FLOOR:
        return Scored(0.0, f'OCR read "{found.read}", not "{target}" (too unlike it to be the text misspelt)', used)
    where = {"read zoomed": " (after zooming in)"}.get(reads[best].request.purpose, "")
    if reads[best].request.purpose.startswith("read tile"):
        where = " (on a second look, a quarter of the image at a time)"
    if value >= 1.0:
        return Scored(value, f'OCR read "{found.read}"{where}, as expected', used)
    return Scored(value, f'OCR read "{found.read}"{where}, expected "{target}"', used)


def _score_extra_text(check: TextCheck, text: str, used: list[Observation]) -> Scored:
    """The share of the characters read that belong to no requested text. The words at each requested
    text's best-matching window, even misspelled, are the requested text's, not extra; where no
    requested text was read at all, the criterion is not met (at most `UNREAD`): that nothing else
    stands beside it is not seen."""
    read = text.split()
    folded = [" ".join(words(fold(w))) for w in read]
    extra = [i for i, w in enumerate(folded) if w]
    seen = _take_requested(check, folded, extra)
    letters = sum(len(w) for w in folded)
    share = sum(len(folded[i]) for i in extra) / letters if letters else 0.0
    shown = " ".join(read[i] for i in extra[:8])
    if not seen:
        said = f'OCR read "{shown}" and not the requested text' if extra else "OCR read no text at all"
        return Scored(min(UNREAD, 1.0 - share), said, used)
    if not extra:
        return Scored(1.0, f'OCR read no other text (the requested text read as "{" / ".join(seen)}")', used)
    return Scored(1.0 - share, f'{share:.0%} of the text read was not asked for ("{shown}")', used)


UNREAD = 0.5


def _take_requested(check: TextCheck, folded: list[str], extra: list[int]) -> list[str]:
    """The readings of each requested text (its best-matching window, when it is near enough to be it),
    whose words are taken out of `extra`."""
    seen = []
    for asked in check.allowed:
        window = best_window(" ".join(folded[i] for i in extra), fold(asked))
        if not window or text_value(match(window, asked)) < READ_FLOOR:
            continue
        seen.append(window)
        for w in window.split():
            hit = next((i for i in extra if folded[i] == w), None)
            if hit is not None:
                extra.remove(hit)
    return seen


def restate(c: Criterion) -> str | None:
    k: TextCheck = c.check
    if not k.text:
        return "Show no text or lettering anywhere."
    return (
        f'The text must read exactly "{k.text}", letter by letter.' if not k.negated else f'Remove the text "{k.text}".'
    )


def _quadrants(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Four overlapping quarters of an image (each 60% of its width and height)."""
    w, h = size
    tw, th = round(w * 0.6), round(h * 0.6)
    return [(x, y, x + tw, y + th) for y in (0, h - th) for x in (0, w - tw)]


def _union(boxes: list[tuple[int, int, int, int]], size: tuple[int, int], pad: int) -> tuple[int, int, int, int]:
    x1 = max(0, min(b[0] for b in boxes) - pad)
    y1 = max(0, min(b[1] for b in boxes) - pad)
    x2 = min(size[0], max(b[2] for b in boxes) + pad)
    y2 = min(size[1], max(b[3] for b in boxes) + pad)
    return x1, y1, x2, y2
