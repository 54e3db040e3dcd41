"""The offline policy: a deterministic planner from criteria to tools, and scores from evidence.

No model, no GPU, no network: it is the embedded default and a real, verifiable reward (the
OCR reward of Flow-GRPO is of this kind). Step by step, like a careful critic:
1. read (OCR), find (detect), measure colours and quality, compare with the source (diff);
2. look closer where the first look was not conclusive: zoom into text that did not read as
   expected, and measure the region an edit changed;
3. read the zoomed text again.
Every score is computed from the evidence and every rationale says what was seen. Criteria no
tool here can check score None.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import numpy as np

from scrutiny.agents.judge import JudgeState, Observation, Plan, Scores, ToolRequest
from scrutiny.agents.rubric import article as _article
from scrutiny.core.schema import (
    GATE_DIMENSIONS,
    AttributeCheck,
    Criterion,
    CriterionScore,
    EditCheck,
    GlobalCheck,
    ObjectCheck,
    QualityCheck,
    RelationCheck,
    TextCheck,
)
from scrutiny.tools.boxes import iou
from scrutiny.tools.coco import COCO_CLASSES, presence_from_confidence
from scrutiny.tools.detect import Detection
from scrutiny.tools.text_match import best_window, match_text, words

PRESENCE_SHARE = 0.02
"""A colour covering this share of the image counts as present (for objects no detector finds)."""
OBJECT_COLOR_SHARE = 0.3
"""A colour covering this share of the middle of a detected object's box makes it that colour."""
COLLATERAL_TOLERANCE = 0.1
"""Changed pixels outside an edit's region, as a share of that area, at which preservation is 0."""


def presence_score(share: float, full: float = PRESENCE_SHARE) -> float:
    """A colour covering `full` of the image (or more) is fully present."""
    return min(1.0, share / full)


def preservation_score(collateral: float, ssim: float, tolerance: float = COLLATERAL_TOLERANCE) -> float:
    """1 when nothing outside the edit changed; 0 once `tolerance` of it changed or structure is lost."""
    return float(np.clip(1 - collateral / tolerance, 0, 1) * np.clip((ssim - 0.5) / 0.5, 0, 1))


class Scored(NamedTuple):
    """One criterion's score from the evidence: the value (None abstains), what was seen, the observations used."""

    score: float | None
    rationale: str
    used: list[Observation]


class OfflinePolicy:
    name = "offline"
    model = None

    # 1. planning

    async def rubric(self, state: JudgeState, synthesized: list[Criterion]) -> list[Criterion]:
        return []  # offline, the deterministic synthesizer is the whole rubric

    async def plan(self, state: JudgeState) -> Plan:
        done = {(o.request.tool, o.request.candidate, o.request.purpose) for o in state.get("observations", [])}
        requests = []
        for i in range(len(state["task"].candidates)):
            for request in self._plan_candidate(state, i):
                if (request.tool, request.candidate, request.purpose) not in done:
                    requests.append(request)
        return Plan(requests)

    def _plan_candidate(self, state: JudgeState, i: int) -> list[ToolRequest]:
        name = f"candidate_{i}"
        rubric = [c for c in state["rubric"] if c.checkable and c.dimension not in GATE_DIMENSIONS]
        by_tool: dict[str, list[str]] = defaultdict(list)
        for c in rubric:
            for hint in _tools_for(c):
                by_tool[hint].append(c.id)
        requests = []
        if "ocr" in by_tool:
            requests.append(ToolRequest("ocr", {"image": name}, i, by_tool["ocr"], "read"))
        if "detect" in by_tool:
            requests.append(ToolRequest("detect", {"image": name}, i, by_tool["detect"], "find shapes"))
        if "objects" in by_tool:
            requests.append(
                ToolRequest("detect", {"image": name, "detector": "coco"}, i, by_tool["objects"], "find objects")
            )
        if "open" in by_tool:
            query = ", ".join(_open_nouns(rubric, by_tool["open"]))
            requests.append(
                ToolRequest(
                    "detect", {"image": name, "detector": "open", "query": query}, i, by_tool["open"], OPEN_PURPOSE
                )
            )
        for cid in by_tool.get("similarity", []):
            c = next(c for c in rubric if c.id == cid)
            requests.append(
                ToolRequest("similarity", {"image": name, "texts": contrast(c)}, i, [cid], f"compare {cid}")
            )
        if "faces" in by_tool:
            requests.append(ToolRequest("detect", {"image": name, "query": "face"}, i, by_tool["faces"], "find faces"))
        if "palette" in by_tool:
            requests.append(ToolRequest("palette", {"image": name}, i, by_tool["palette"], "colours"))
        if "quality" in by_tool:
            requests.append(ToolRequest("quality", {"image": name}, i, by_tool["quality"], "quality"))
        if "diff" in by_tool and "source" in state["images"]:
            requests.append(ToolRequest("diff", {"image": name, "source": "source"}, i, by_tool["diff"], "changes"))
        return requests + self._look_closer(state, i, by_tool)

    def _look_closer(self, state: JudgeState, i: int, by_tool: dict[str, list[str]]) -> list[ToolRequest]:
        seen = _observations(state, i)
        requests = []
        read = seen.get("read")
        if (
            read
            and read.result
            and read.result.lines
            and not all(_best_text(c, [read.result.text]) >= 1.0 for c in _text_criteria(state, by_tool))
        ):
            box = _union([line.box for line in read.result.lines], state["images"][f"candidate_{i}"].size, pad=12)
            requests.append(
                ToolRequest(
                    "zoom",
                    {"image": f"candidate_{i}", "box": list(box), "units": "pixel", "factor": 2.0},
                    i,
                    by_tool["ocr"],
                    "zoom on text",
                )
            )
        if read and read.result is not None and not read.result.lines and _text_criteria(state, by_tool):
            # text is expected and nothing was read: look again, a quarter of the image at a time (small
            # text in a large image falls below the reader's resolution when the whole image is shrunk)
            size = state["images"][f"candidate_{i}"].size
            for k, box in enumerate(_quadrants(size)):
                requests.append(
                    ToolRequest(
                        "zoom",
                        {"image": f"candidate_{i}", "box": list(box), "units": "pixel", "factor": 1.5},
                        i,
                        by_tool["ocr"],
                        f"tile {k + 1}",
                    )
                )
        for k in range(4):
            tile = seen.get(f"tile {k + 1}")
            if tile and tile.produced:
                requests.append(
                    ToolRequest("ocr", {"image": next(iter(tile.produced))}, i, by_tool["ocr"], f"read tile {k + 1}")
                )
        zoomed = seen.get("zoom on text")
        if zoomed and zoomed.produced:
            crop_name = next(iter(zoomed.produced))
            requests.append(ToolRequest("ocr", {"image": crop_name}, i, by_tool["ocr"], "read zoomed"))
        changes = seen.get("changes")
        if changes and changes.result and changes.result.regions:
            box = list(changes.result.regions[0])
            requests.append(
                ToolRequest(
                    "diff",
                    {"image": f"candidate_{i}", "source": "source", "region": box, "units": "pixel"},
                    i,
                    by_tool["diff"],
                    "outside the edit",
                )
            )
            if "region_palette" in by_tool:
                for image in (f"candidate_{i}", "source"):
                    requests.append(
                        ToolRequest(
                            "palette",
                            {"image": image, "box": box, "units": "pixel"},
                            i,
                            by_tool["region_palette"],
                            f"colours of edit region in {image.split('_')[0]}",
                        )
                    )
        return requests

    # 2. scoring

    async def score(self, state: JudgeState) -> Scores:
        scores = []
        for i in range(len(state["task"].candidates)):
            seen = _observations(state, i)
            for c in state["rubric"]:
                if c.dimension in GATE_DIMENSIONS:  # the judge measures gates itself, for every policy
                    continue
                value, rationale, used = (
                    self._score_one(c, seen)
                    if c.checkable
                    else Scored(None, "not checkable offline; needs a vision-language judge", [])
                )
                scores.append(
                    CriterionScore(
                        criterion=c.id,
                        candidate=i,
                        score=None if value is None else round(float(value), 6),
                        evidence=[o.evidence.id for o in used],
                        rationale=rationale,
                        measures=_measures(c, used),
                    )
                )
        return Scores(scores)

    def _score_one(self, c: Criterion, seen: dict[str, Observation]) -> Scored:
        check = c.check
        if _by_contrast(c):
            return _score_contrast(c, seen)
        if isinstance(check, TextCheck):
            return _score_text(check, seen)
        if isinstance(check, QualityCheck):
            return _score_quality(check, seen)
        if isinstance(check, EditCheck):
            return _score_edit(check, seen)
        if isinstance(check, ObjectCheck) and check.negated:
            return _score_absent(check, seen)
        if isinstance(check, ObjectCheck) and check.count is not None:
            return _score_count(check, seen)
        if isinstance(check, ObjectCheck) and check.quantity is None:
            return _score_presence(check, seen)
        if isinstance(check, AttributeCheck) and check.attribute == "color":
            return _score_color(check, seen)
        if isinstance(check, RelationCheck) and not check.action:
            return _score_position(check, seen)
        return Scored(None, "no offline check for this criterion", [])


# 3. what each criterion needs, and how it is scored


def _tools_for(c: Criterion) -> list[str]:
    """Which planner steps a criterion needs (tool names, plus "objects", "faces" and "region_palette")."""
    check = c.check
    if isinstance(check, TextCheck):
        return ["ocr"]
    if isinstance(check, QualityCheck):
        return ["quality"]
    if isinstance(check, EditCheck):
        if check.check == "changed_object":
            return ["diff", _finder(check.detect)]
        return ["diff", "region_palette"] if check.check == "changed_region_color" else ["diff"]
    if _by_contrast(c):
        return ["similarity"]
    if isinstance(check, AttributeCheck) and not check.detect:
        return ["palette"]
    if isinstance(check, RelationCheck):
        return sorted({_finder(check.subject_detect), _finder(check.object_detect or check.subject_detect)})
    return [_finder(getattr(check, "detect", None))]


def _by_contrast(c: Criterion) -> bool:
    """Checked by an image-text model against alternatives: attributes other than a detected object's
    or the image's colour, actions, whole-image properties."""
    k = c.check
    if isinstance(k, AttributeCheck):
        return k.attribute != "color" or (k.object is not None and k.detect is None)
    return isinstance(k, GlobalCheck) or (isinstance(k, RelationCheck) and k.action)


def _finder(kind: str | None) -> str:
    """The planner step that finds objects of this kind."""
    if kind and kind.startswith("open:"):
        return "open"
    return "faces" if kind == "face" else "objects" if kind in COCO_CLASSES else "detect"


OPEN_PURPOSE = "find named objects"


def _open_nouns(rubric: list[Criterion], ids: list[str]) -> list[str]:
    """What the open-vocabulary detector is asked for: every "open:" object of these criteria."""
    nouns = []
    for c in rubric:
        if c.id in ids:
            for field in ("detect", "subject_detect", "object_detect"):
                kind = getattr(c.check, field, None)
                if kind and kind.startswith("open:") and kind[5:] not in nouns:
                    nouns.append(kind[5:])
    return nouns


CONTRAST_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
MEDIA_ALTERNATIVES = ("a photo", "a digital illustration", "a pencil sketch", "an oil painting", "a 3d render")


def contrast(c: Criterion) -> list[str]:
    """The texts an image-text model compares: the criterion as a caption first, then its alternatives."""
    k = c.check
    if isinstance(k, AttributeCheck) and k.attribute == "color":
        others = [x for x in CONTRAST_COLORS if x != k.value][:5]
        return [f"a photo of a {k.word} {k.object}"] + [f"a photo of a {x} {k.object}" for x in others]
    if isinstance(k, AttributeCheck):
        return [f"a photo of a {k.word} {k.object}", f"a photo of a {k.object}"]
    if isinstance(k, RelationCheck) and k.object is None:
        return [
            f"a photo of a {k.subject_phrase or k.subject} {k.relation}",
            f"a photo of a {k.subject_phrase or k.subject}",
        ]
    if isinstance(k, RelationCheck):
        return [
            f"a photo of a {k.subject_phrase or k.subject} {k.relation} a {k.object_phrase or k.object}",
            f"a photo of a {k.subject_phrase or k.subject} and a {k.object_phrase or k.object}",
        ]
    if k.property == "tag":
        return [f"an image, {k.value}", "an image"]
    if k.property == "lighting":
        return [f"a photo with {k.value} lighting", "a photo with plain, even lighting"]
    if k.property == "medium":
        return [k.value] + [m for m in MEDIA_ALTERNATIVES if k.value not in m]
    return [f"an image in {k.value} style", "an ordinary photo"]


def _observations(state: JudgeState, i: int) -> dict[str, Observation]:
    """This candidate's observations by purpose (the latest wins)."""
    return {o.request.purpose: o for o in state.get("observations", []) if o.request.candidate == i}


def _text_criteria(state: JudgeState, by_tool: dict[str, list[str]]) -> list[Criterion]:
    ids = set(by_tool.get("ocr", []))
    return [c for c in state["rubric"] if c.id in ids and isinstance(c.check, TextCheck) and c.check.text]


def _best_text(c: Criterion, reads: list[str]) -> float:
    target = c.check.text
    return max(_text_value(_match(read, target)) for read in reads) if reads else 0.0


def _text_value(match) -> float:
    """Mean of Flow-GRPO's OCR score (lenient to extra text) and the strict score (it is not)."""
    return 0.5 * (match.score + match.strict)


def _fold(text: str, case_sensitive: bool = False) -> str:
    """Case-insensitive, and i, l, I and | as one glyph (one stroke in many sans-serif fonts), the
    same on both sides: "EXIT" read as "exit" or as "EXlT" is right. With `case_sensitive`, the
    text as written."""
    return text if case_sensitive else text.lower().replace("i", "l").replace("|", "l")


def _match(read: str, target: str, case_sensitive: bool = False):
    """`match_text` on folded glyphs, reporting the text as read."""
    folded = match_text(_fold(read, case_sensitive), _fold(target, case_sensitive), case_sensitive=case_sensitive)
    return folded.model_copy(update={"read": read, "target": target})


def _score_quality(check: QualityCheck, seen: dict[str, Observation]) -> Scored:
    q = seen.get("quality")
    if not q or not q.result:
        return Scored(None, "quality was not measured", [])
    r = q.result
    if check.measure != "overall":
        values = r.model_dump(exclude={"overall", "raw"})
        if check.measure not in values:
            return Scored(None, f"unknown quality measure {check.measure!r}; known: {', '.join(values)}", [q])
        return Scored(values[check.measure], f"{check.measure} {values[check.measure]:.2f}", [q])
    return Scored(
        r.overall,
        (
            f"sharpness {r.sharpness:.2f}, exposure {r.exposure:.2f}, noise {r.noise:.2f}, "
            f"blockiness {r.blockiness:.2f}, colourfulness {r.colorfulness:.2f}"
        ),
        [q],
    )


def _score_text(check: TextCheck, seen: dict[str, Observation]) -> Scored:
    reads = [o for o in (seen.get("read"), seen.get("read zoomed")) if o and o.result is not None]
    if not reads:
        return Scored(None, "OCR did not run", [])
    texts = [" ".join(line.text for line in o.result.lines) for o in reads]
    tiles = [seen.get(f"read tile {k + 1}") for k in range(4)]
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
    matches = [_match(t, target, check.case_sensitive) for t in texts]
    best = max(range(len(matches)), key=lambda k: _text_value(matches[k]))
    match, used = matches[best], [reads[best]]
    value = _text_value(match)
    if check.negated:
        return Scored(1.0 - match.score, f'OCR read "{match.read}"; the old text "{target}" should be gone', used)
    if not match.read:
        return Scored(0.0, f'OCR read no text, expected "{target}"', used)
    where = {"read zoomed": " (after zooming in)"}.get(reads[best].request.purpose, "")
    if reads[best].request.purpose.startswith("read tile"):
        where = " (on a second look, a quarter of the image at a time)"
    if value >= 1.0:
        return Scored(value, f'OCR read "{match.read}"{where}, as expected', used)
    return Scored(value, f'OCR read "{match.read}"{where}, expected "{target}"', used)


def _score_extra_text(check: TextCheck, text: str, used: list[Observation]) -> Scored:
    """The share of the characters read that belong to no requested text. The words at each requested
    text's best-matching window, even misspelled, are the requested text's, not extra."""
    read = text.split()
    folded = [" ".join(words(_fold(w))) for w in read]
    extra = [i for i, w in enumerate(folded) if w]
    for asked in check.allowed:
        window = best_window(" ".join(folded[i] for i in extra), _fold(asked)).split()
        for w in window:
            hit = next((i for i in extra if folded[i] == w), None)
            if hit is not None:
                extra.remove(hit)
    letters = sum(len(w) for w in folded)
    if not letters:
        return Scored(1.0, "OCR read no text", used)
    if not extra:
        return Scored(1.0, "OCR read only the requested text", used)
    share = sum(len(folded[i]) for i in extra) / letters
    shown = " ".join(read[i] for i in extra[:8])
    return Scored(1.0 - share, f'{share:.0%} of the text read was not asked for ("{shown}")', used)


def _detections(seen: dict[str, Observation], kind: str | None) -> tuple[list[Detection], Observation | None]:
    purpose = {"faces": "find faces", "objects": "find objects", "open": OPEN_PURPOSE}.get(_finder(kind), "find shapes")
    obs = seen.get(purpose)
    if obs is None or obs.result is None:
        return [], None
    return obs.result.detections, obs


def _matches(d: Detection, kind: str | None, color: str | None) -> bool:
    if kind and kind.startswith("open:"):
        return d.label == kind[5:]
    if kind == "face":
        return d.label == "face"
    if kind not in (None, "any") and d.label != kind:
        return False
    return color is None or d.color == color


def _confident(d: Detection) -> bool:
    """A find that counts as one object: any shape or face; a COCO detection from `COUNT_CONFIDENCE` on."""
    return d.detector in ("shapes", "faces") or d.score >= COUNT_CONFIDENCE


def _score_presence(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    """Is the object there? A COCO object is as present as the detector is confident of its best find;
    a shape or a face is there when the detector found one."""
    dets, obs = _detections(seen, check.detect)
    if obs is None:
        return Scored(None, "object detection did not run", [])
    found = [d for d in dets if _matches(d, check.detect, check.color)]
    if not found:
        others = ", ".join(sorted({d.label for d in dets})) or "nothing it knows"
        return Scored(0.0, f"found no {check.phrase or check.object} (found {others})", [obs])
    best = max(found, key=lambda d: d.score)
    if best.detector not in ("shapes", "faces"):  # a learned detector: presence follows its confidence
        value = presence_from_confidence(best.score)
        seen = f"found {check.object} (confidence {best.score:.2f}) at {list(best.box)}"
        rival = max(
            (d for d in dets if d.label != best.label and iou(d.box, best.box) > RIVAL_IOU),
            key=lambda d: d.score,
            default=None,
        )
        if rival is not None and rival.score >= RIVAL_SHARE * best.score:
            value = min(value, CONTESTED)
            seen += f", which the detector also calls a {rival.label} ({rival.score:.2f})"
        return Scored(value, seen, [obs])
    return Scored(1.0, f"found {counted(len(found), check)} (the first at {list(best.box)})", [obs])


RIVAL_IOU, RIVAL_SHARE, CONTESTED = 0.6, 0.8, 0.8
"""A find whose box the detector also gives another label (overlap above `RIVAL_IOU`, confidence at
least `RIVAL_SHARE` of the find's) is contested: its presence stays below met (at most `CONTESTED`).
SSD-MobileNet calls a bulldog seen from behind a cat at 0.76 and a dog at 0.70."""


def _score_absent(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    dets, obs = _detections(seen, check.detect)
    if obs is None:
        return Scored(None, "detection did not run", [])
    found = [d for d in dets if _matches(d, check.detect, check.color) and _confident(d)]
    return Scored(
        (1.0 if not found else 0.0),
        (f"found {counted(len(found), check)}" if found else f"found no {check.phrase or check.object}"),
        [obs],
    )


def counted(n: int, check: ObjectCheck) -> str:
    """ "1 red circle", "3 red circles": the prompt's phrase with its head word in the right number."""
    phrase = check.phrase or check.object
    words = phrase.split()
    if not words or not check.object:
        return f"{n} {phrase}"
    head = check.object.split()[-1]
    words[-1] = head if n == 1 else plural(head)
    return f"{n} {' '.join(words)}"


def plural(noun: str) -> str:
    """English plural of a singular noun, by the common rules (enough for object names)."""
    irregular = {"person": "people", "man": "men", "woman": "women", "child": "children", "mouse": "mice"}
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


COUNT_CONFIDENCE = 0.5
"""A COCO detection counts as one object from this confidence on (below it, it only hints at presence)."""


def _score_count(check: ObjectCheck, seen: dict[str, Observation]) -> Scored:
    dets, obs = _detections(seen, check.detect)
    if obs is None:
        return Scored(None, "detection did not run", [])
    found = sum(_matches(d, check.detect, check.color) and _confident(d) for d in dets)
    expected = check.count
    value = max(0.0, 1.0 - abs(found - expected) / max(expected, 1)) if check.partial else float(found == expected)
    return Scored(value, f"found {counted(found, check)}, expected {expected}", [obs])


def _score_color(check: AttributeCheck, seen: dict[str, Observation]) -> Scored:
    color = check.value
    if check.detect == "background":
        dets, obs = _detections(seen, "shapes")
        if obs is None:
            return Scored(None, "detection did not run", [])
        bg = obs.result.background
        return Scored((1.0 if bg == color else 0.0), f"the background is {bg}", [obs])
    if check.detect:
        dets, obs = _detections(seen, check.detect)
        if obs is None:
            return Scored(None, "detection did not run", [])
        candidates = [d for d in dets if _matches(d, check.detect, None)]
        if not candidates:
            return Scored(0.0, f"found no {check.object} to check its colour", [obs])
        if candidates[0].detector != "shapes":  # a photo's object is many colours
            share = max(d.colors.get(color, 0.0) for d in candidates)
            seen_colors = ", ".join(f"{k} {v:.0%}" for k, v in candidates[0].colors.items())
            return Scored(
                presence_score(share, OBJECT_COLOR_SHARE),
                f"found {len(candidates)} {check.object}; {color} covers {share:.0%} of its middle "
                f"(the first one: {seen_colors})",
                [obs],
            )
        # by area: a speck the shape detector splits off a ragged shape is not a shape of its own colour
        share = sum(d.area for d in candidates if d.color == color) / max(sum(d.area for d in candidates), 1)
        colours = ", ".join(sorted({d.color or "?" for d in candidates}))
        return Scored(
            share, f"found {len(candidates)} {check.object} coloured {colours} ({share:.0%} {color} by area)", [obs]
        )
    pal = seen.get("colours")
    if pal is None or pal.result is None:
        return Scored(None, "colours were not measured", [])
    share = pal.result.shares.get(color, 0.0)
    return Scored(
        presence_score(share, check.share or PRESENCE_SHARE), f"{color} covers {share:.1%} of the image", [pal]
    )


def _score_contrast(c: Criterion, seen: dict[str, Observation]) -> Scored:
    """An image-text model's probability for the criterion against its alternatives, rescaled so that
    chance (1 / number of texts) is 0 and certainty is 1."""
    obs = seen.get(f"compare {c.id}")
    if obs is None or obs.result is None:
        return Scored(None, "no image-text model compared the image with this statement", [])
    texts, probs = obs.result.texts, obs.result.probabilities
    chance = 1 / len(texts)
    value = float(np.clip((probs[0] - chance) / (1 - chance), 0, 1))
    top = int(np.argmax(probs))
    return Scored(
        value, f'"{texts[0]}": {probs[0]:.2f} against {len(texts) - 1} alternatives (best: "{texts[top]}")', [obs]
    )


def _centre(d: Detection) -> tuple[float, float]:
    return (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2


def _best(dets: list[Detection], kind: str | None, color: str | None, exclude: Detection | None = None):
    """The most salient find of a kind: the most confident for COCO objects, the largest otherwise."""
    found = [d for d in dets if _matches(d, kind, color) and _confident(d) and d is not exclude]
    if not found:
        return None
    return max(found, key=lambda d: (d.area, d.score) if d.detector == "shapes" else (d.score, d.area))


def _score_position(check: RelationCheck, seen: dict[str, Observation]) -> Scored:
    """Where things are, from their boxes: in the frame (thirds), or relative to each other."""
    s_kind = None if check.subject_detect == "any" else check.subject_detect
    s_dets, obs = _detections(seen, s_kind)
    if obs is None:
        return Scored(None, "detection did not run", [])
    s = _best(s_dets, s_kind, check.subject_color)
    if s is None:
        return Scored(0.0, f"found no {check.subject_phrase or check.subject}", [obs])
    sx, sy = _centre(s)
    if check.object is None:  # absolute position in the frame
        w, h = obs.result.width, obs.result.height
        ok = {
            "left": sx < w / 3,
            "right": sx > 2 * w / 3,
            "center": w / 3 <= sx <= 2 * w / 3 and h / 3 <= sy <= 2 * h / 3,
            "top": sy < h / 3,
            "bottom": sy > 2 * h / 3,
        }.get(check.relation)
        if ok is None:
            return Scored(None, f"'{check.relation}' is not checkable offline", [obs])
        return Scored(float(ok), f"{check.subject_phrase} centre at ({sx:.0f}, {sy:.0f}) in a {w}x{h} image", [obs])
    o_kind = None if check.object_detect == "any" else check.object_detect
    o_dets, o_obs = _detections(seen, o_kind)
    if o_obs is None:
        return Scored(None, "detection did not run", [obs])
    o = _best(o_dets, o_kind, check.object_color, exclude=s)
    used = [obs] if o_obs is obs else [obs, o_obs]
    if o is None:
        return Scored(0.0, f"found no {check.object_phrase or check.object}", used)
    ox, oy = _centre(o)
    overlap_x = min(s.box[2], o.box[2]) - max(s.box[0], o.box[0]) > 0
    gap = max(o.box[0] - s.box[2], s.box[0] - o.box[2], o.box[1] - s.box[3], s.box[1] - o.box[3], 0)
    span = max(s.box[2] - s.box[0], s.box[3] - s.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1])
    checks = {
        "left of": sx < ox,
        "right of": sx > ox,
        "above": sy < oy,
        "below": sy > oy,
        "on top of": sy < oy and overlap_x,
        "on": sy < oy and overlap_x,
        "next to": gap <= span,
    }
    if check.relation not in checks:
        return Scored(None, f"'{check.relation}' is not checkable offline", used)
    seen_text = (
        f"{check.subject_phrase} at {list(s.box)} (centre {sx:.0f}, {sy:.0f}), "
        f"{check.object_phrase} at {list(o.box)} (centre {ox:.0f}, {oy:.0f})"
    )
    return Scored(float(checks[check.relation]), seen_text, used)


def _score_edit(check: EditCheck, seen: dict[str, Observation]) -> Scored:
    first = seen.get("changes")
    if first is None or first.result is None:
        return Scored(None, "the edit was not compared with its source", [])
    r = first.result
    whole = _frame_share(r) >= WHOLE_FRAME and _is_local(check)
    if whole and check.check in ("change_present", "changed_region_color"):
        # "add a red square" is not done by painting the whole picture red
        return Scored(
            0.0,
            f"the whole image changed ({r.changed_fraction:.0%} of its pixels), not one {check.object or 'object'}",
            [first],
        )
    if check.check == "change_present":
        if not r.regions:
            return Scored(0.0, "diff found no change from the source", [first])
        return Scored(
            1.0,
            f"diff found a change at {list(r.regions[0])} ({r.changed_fraction:.1%} of the image changed)",
            [first],
        )
    if check.check == "structure":
        value = float(np.clip((r.preserved_ssim - 0.3) / 0.7, 0, 1))
        return Scored(value, f"structural similarity to the source {r.preserved_ssim:.2f}", [first])
    if check.check == "instruction":
        return Scored(None, "whether the result matches the instruction is not checkable offline", [])
    if check.check == "changed_object":
        return _score_changed_object(check, r, first, seen)
    if not r.regions:
        if check.check == "changed_region_color":
            return Scored(0.0, "no changed region to check the colour of", [first])
        return Scored(1.0, "nothing changed, so everything is preserved", [first])
    outside = seen.get("outside the edit")
    frame = _frame_share(r)
    if check.check == "outside_region" and frame >= WHOLE_FRAME:
        # the edit touched (nearly) the whole image: there is no "outside" left to be preserved
        value = float(np.clip(1 - r.changed_fraction / WHOLE_FRAME_CHANGED, 0, 1))
        return Scored(
            value,
            f"the edit changed the whole image: its changed region {list(r.regions[0])} covers {frame:.0%} of the "
            f"frame and {r.changed_fraction:.0%} of the pixels changed, so nothing outside the edit was kept",
            [first],
        )
    if check.check == "outside_region":
        if outside is None or outside.result is None:
            return Scored(None, "the area outside the edit was not measured", [first])
        o = outside.result
        collateral = o.outside_changed_fraction or 0.0
        value = preservation_score(collateral, o.preserved_ssim, check.collateral_tolerance or COLLATERAL_TOLERANCE)
        return Scored(
            value,
            (
                f"outside the edited region {list(r.regions[0])}, {collateral:.1%} of pixels changed "
                f"and structural similarity is {o.preserved_ssim:.3f}"
            ),
            [first, outside],
        )
    after, before = seen.get("colours of edit region in candidate"), seen.get("colours of edit region in source")
    if after is None or before is None or after.result is None or before.result is None:
        return Scored(None, "the colours of the edited region were not measured", [first])
    color = check.color or ""
    gain = after.result.shares.get(color, 0.0) - before.result.shares.get(color, 0.0)
    value = float(np.clip(gain / 0.15, 0, 1))
    return Scored(
        value,
        f"{color} in the edited region went from {before.result.shares.get(color, 0.0):.0%} to "
        f"{after.result.shares.get(color, 0.0):.0%}",
        [first, after, before],
    )


def _score_changed_object(check: EditCheck, r, first: Observation, seen: dict[str, Observation]) -> Scored:
    """Whether the object the edit made is where the image changed, with the asked colour."""
    name = " ".join(x for x in (check.color, check.object) if x)
    if not r.regions:
        return Scored(0.0, f"diff found no change, so no {name} was made", [first])
    found, obs = _detections(seen, check.detect)
    if obs is None:
        return Scored(None, f"no detector looked for the {check.object}", [first])
    changed = r.regions
    inside = [d for d in found if any(_within(d.box, region) for region in changed)]
    right = [d for d in inside if _matches(d, check.detect, check.color if d.color else None)]
    if right:
        d = right[0]
        return Scored(1.0, f"{_article(name)} {name} at {list(d.box)}, where the image changed", [first, obs])
    if inside:
        seen_there = ", ".join(f"{d.color + ' ' if d.color else ''}{d.label} at {list(d.box)}" for d in inside[:3])
        return Scored(0.0, f"where the image changed there is {seen_there}, not {_article(name)} {name}", [first, obs])
    return Scored(0.0, f"no {name} found where the image changed ({list(changed[0])})", [first, obs])


def _within(box, region, share: float = 0.5) -> bool:
    """Whether at least `share` of `box` lies inside `region`."""
    x1, y1 = max(box[0], region[0]), max(box[1], region[1])
    x2, y2 = min(box[2], region[2]), min(box[3], region[3])
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return max(0, x2 - x1) * max(0, y2 - y1) / area >= share


LOCAL_ACTIONS = {"add", "remove", "recolor", "replace", "move", "resize", "text"}
WHOLE_IMAGE_NOUNS = {"", "background", "image", "picture", "photo", "scene", "everything"}


def _is_local(check: EditCheck) -> bool:
    """Whether the edit asks to change one object (so a change of the whole frame is not it): not a
    restyle, and not the background or the image as a whole."""
    return check.action in LOCAL_ACTIONS and check.object.split(" ")[-1] not in WHOLE_IMAGE_NOUNS


WHOLE_FRAME = 0.9
"""A changed region covering this share of the frame is a whole-image change."""
WHOLE_FRAME_CHANGED = 0.3
"""With a whole-image change, preservation is 0 once this share of the pixels changed."""


def _frame_share(r) -> float:
    """How much of the frame the largest changed region covers."""
    if not r.regions or getattr(r, "mask", None) is None:
        return 0.0
    x1, y1, x2, y2 = r.regions[0]
    width, height = r.mask.size
    return (x2 - x1) * (y2 - y1) / max(width * height, 1)


def _measures(c: Criterion, used: list[Observation]) -> dict[str, float]:
    """What the thresholded criteria measured (see `CriterionScore.measures`)."""
    check = c.check
    for o in used:
        if o.result is None:
            continue
        if isinstance(check, AttributeCheck) and not check.detect and o.request.purpose == "colours":
            return {"share": o.result.shares.get(check.value, 0.0)}
        if isinstance(check, EditCheck) and check.check == "outside_region" and o.request.purpose == "outside the edit":
            return {"collateral": o.result.outside_changed_fraction or 0.0, "ssim": o.result.preserved_ssim}
    return {}


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
