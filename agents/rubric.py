"""Offline rubric synthesis: a prompt or an edit instruction → atomic, checkable criteria.

Deterministic and dependency-free. It finds quoted text (straight, single, curly and guillemet
quotes), counts (digits and number words), colours bound to their objects, spatial relations,
negations, styles, and — for edit instructions — the edit's target plus "everything else is
preserved". Each criterion carries tool hints and structured `params` for the planner; criteria
no offline tool can check are kept with `checkable=False` (they abstain offline, never guess).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from scrutiny.core.schema import Criterion
from scrutiny.tools import coco
from scrutiny.tools.detect import SHAPE_NAMES

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "a dozen": 12,
    "a pair of": 2,
    "a couple of": 2,
    "single": 1,
}
COLOR_WORDS = {
    "red": "red",
    "crimson": "red",
    "scarlet": "red",
    "maroon": "red",
    "orange": "orange",
    "yellow": "yellow",
    "golden": "yellow",
    "gold": "yellow",
    "green": "green",
    "emerald": "green",
    "mint": "green",
    "olive": "green",
    "blue": "blue",
    "navy": "blue",
    "azure": "blue",
    "cyan": "cyan",
    "teal": "cyan",
    "turquoise": "cyan",
    "purple": "purple",
    "violet": "purple",
    "lavender": "purple",
    "pink": "pink",
    "magenta": "pink",
    "brown": "brown",
    "tan": "brown",
    "black": "black",
    "white": "white",
    "ivory": "white",
    "gray": "gray",
    "grey": "gray",
    "silver": "gray",
    "khaki": "brown",
    "beige": "white",
    "cream": "white",
    "amber": "orange",
    "coral": "pink",
    "bronze": "brown",
    "copper": "orange",
    "indigo": "blue",
    "burgundy": "red",
    "ruby": "red",
    "sapphire": "blue",
    "jade": "green",
    "lime": "green",
    "aqua": "cyan",
    "fuchsia": "pink",
    "charcoal": "black",
    "ebony": "black",
    "vermilion": "red",
    "blond": "yellow",
    "blonde": "yellow",
    "peach": "orange",
    "rust": "brown",
    "chocolate": "brown",
}
SHAPE_SYNONYMS = {"dot": "circle", "disc": "circle", "disk": "circle", "oval": "ellipse", "ball": "circle"} | {
    s: s for s in SHAPE_NAMES if s != "blob"
}
FACE_WORDS = {"face", "person", "people", "man", "woman", "boy", "girl", "child", "kid", "human", "portrait"}
IRREGULAR = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "knives": "knife",
    "leaves": "leaf",
    "wolves": "wolf",
    "shelves": "shelf",
    "loaves": "loaf",
    "lives": "life",
}
VERBS = {
    "swam",
    "flew",
    "stuck",
    "sat",
    "stood",
    "ran",
    "lay",
    "hung",
    "grew",
    "ate",
    "drank",
    "rode",
    "fell",
    "slept",
    "sang",
    "went",
    "came",
    "held",
    "wore",
    "made",
    "saw",
    "gave",
    "took",
    "float",
    "floats",
    "sit",
    "sits",
    "stand",
    "stands",
    "run",
    "runs",
    "swim",
    "swims",
    "lie",
    "lies",
    "hang",
    "hangs",
    "hold",
    "holds",
    "look",
    "looks",
    "eat",
    "eats",
    "play",
    "plays",
    "rest",
    "rests",
    "grow",
    "grows",
    "wear",
    "wears",
    "fly",
    "walk",
    "walks",
    "appear",
    "appears",
    "seem",
    "seems",
    "can",
    "could",
    "will",
    "would",
    "should",
}
PRONOUNS = {"it", "him", "her", "them", "me", "us"}
UNCOUNTABLE_AFTER_NUMBER = {
    "years",
    "year",
    "hours",
    "hour",
    "minutes",
    "minute",
    "seconds",
    "days",
    "day",
    "times",
    "o'clock",
    "percent",
    "of",
    "another",
    "side",
    "half",
    "more",
    "by",
    "or",
    "and",
    "to",
}
BOUNDARY = {
    "and",
    "or",
    "with",
    "on",
    "in",
    "at",
    "of",
    "to",
    "from",
    "by",
    "for",
    "next",
    "near",
    "behind",
    "above",
    "below",
    "under",
    "over",
    "beside",
    "while",
    "that",
    "which",
    "who",
    "is",
    "are",
    "was",
    "were",
    "has",
    "have",
    "had",
    "the",
    "a",
    "an",
    "its",
    "their",
    "his",
    "her",
    "it",
    "they",
    "as",
    "but",
    "into",
    "onto",
    "against",
    "each",
    "both",
    "all",
    "there",
    "here",
    "than",
    "beneath",
    "underneath",
    "inside",
    "outside",
    "around",
    "between",
    "left",
    "right",
    "front",
    "top",
    "bottom",
    "middle",
    "center",
    "centre",
    ",",
    ".",
    ";",
    ":",
    "!",
    "?",
    "among",
    "across",
    "along",
    "through",
    "facing",
    "surrounded",
    "alongside",
    "like",
    "so",
    "then",
    "not",
    "no",
} | VERBS
RELATIONS = [
    ("to the left of", "left of"),
    ("on the left of", "left of"),
    ("on the left side of", "left of"),
    ("left of", "left of"),
    ("to the right of", "right of"),
    ("on the right of", "right of"),
    ("on the right side of", "right of"),
    ("right of", "right of"),
    ("on top of", "on top of"),
    ("on the top of", "on top of"),
    ("in front of", "in front of"),
    ("next to", "next to"),
    ("on side of", "next to"),
    ("beside", "next to"),
    ("near", "next to"),
    ("above", "above"),
    ("over", "above"),
    ("below", "below"),
    ("under", "below"),
    ("beneath", "below"),
    ("underneath", "below"),
    ("behind", "behind"),
    ("on the bottom of", "below"),
    ("at the bottom of", "below"),
    ("at the foot of", "below"),
    ("at the top of", "on top of"),
    ("in the center of", "in the center of"),
    ("in the middle of", "in the center of"),
    ("in the centre of", "in the center of"),
    ("on both sides of", "on both sides of"),
    ("between", "between"),
    ("among", "among"),
    ("around", "around"),
    ("surrounded by", "surrounded by"),
    ("inside", "inside"),
    ("across", "across"),
    ("along", "along"),
    ("facing", "facing"),
    ("against", "against"),
    ("alongside", "next to"),
    ("opposite", "opposite"),
    ("within", "inside"),
    ("surrounding", "around"),
    ("at the center of", "in the center of"),
    ("at the centre of", "in the center of"),
    ("at the edge of", "at the edge of"),
    ("on the edge of", "at the edge of"),
    ("in the corner of", "in the corner of"),
    ("in one corner of", "in the corner of"),
    ("encircles", "around"),
    ("encircling", "around"),
    ("shoulder to shoulder", "next to"),
    ("buried in", "inside"),
    ("onto", "on"),
    ("on", "on"),
]
ABSOLUTE = [
    ("(?:on|to) the left", "left"),
    ("(?:on|to) the right", "right"),
    ("in the center", "center"),
    ("in the centre", "center"),
    ("in the middle", "center"),
    ("at the top", "top"),
    ("at the bottom", "bottom"),
    ("in the foreground", "foreground"),
    ("in the background", "background"),
    ("in the distance", "background"),
    ("(?:on|to) (?:its|his|her|their) left", "left of it"),
    ("(?:on|to) (?:its|his|her|their) right", "right of it"),
    ("in front", "in front"),
    ("on top", "on top"),
    ("side by side", "side by side"),
    ("in the very center", "center"),
    ("in the lower part", "bottom"),
    ("at the center", "center"),
    ("in the top area", "top"),
    ("in one corner", "corner"),
    ("in the corner", "corner"),
    ("in the upper part", "top"),
    ("from behind", "behind"),
    ("directly above", "top"),
    ("opposite each other", "opposite"),
]
EDIT_VERBS = {
    "add": ["add", "insert", "put", "place", "include", "draw"],
    "remove": ["remove", "delete", "erase", "take out", "get rid of", "eliminate"],
    "replace": ["replace", "swap", "substitute", "turn", "transform"],
    "recolor": ["recolor", "recolour", "paint", "color", "colour"],
    "resize": ["enlarge", "shrink", "resize", "scale"],
    "move": ["move", "shift", "relocate"],
    "style": ["stylize", "stylise", "convert", "render"],
    "text": ["write", "rewrite"],
}

QUOTE_PATTERNS = [
    r'"([^"]+)"',
    r"“([^”]+)”",
    r"‘([^’]+)’",
    r"«([^»]+)»",
    r"„([^“”]+)[“”]",
    r"(?<![\w'])'([^'\s](?:[^']*[^'\s])?)'(?![\w])",
]


def quoted_texts(prompt: str) -> list[str]:
    """Every quoted span, in order of appearance, without duplicates."""
    found: list[tuple[int, str]] = []
    for pattern in QUOTE_PATTERNS:
        found += [(m.start(), m.group(1).strip()) for m in re.finditer(pattern, prompt)]
    spans, seen = [], set()
    for _, text in sorted(found):
        if text and text not in seen and not any(text in other for other in seen):
            seen.add(text)
            spans.append(text)
    return spans


def singular(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _phrase_after(words: list[str], start: int, limit: int = 5) -> list[str]:
    """The noun phrase starting at `start`: up to `limit` words, ending before a boundary word."""
    out = []
    for word in words[start : start + limit]:
        if (
            word in BOUNDARY
            or "'" in word
            or (word.endswith("ing") and out)
            or (word.endswith("ed") and out and len(word) > 4)
        ):
            break
        out.append(word)
    return out


def _phrase_before(words: list[str], end: int, limit: int = 4) -> list[str]:
    """The noun phrase ending just before `end` (skipping a copula such as "is")."""
    i = end
    while i > 0 and (
        words[i - 1] in VERBS | {"is", "are", "was", "were", "placed", "located", "just", "also", "still"}
        or words[i - 1].endswith("ing")
        or (words[i - 1].endswith("ed") and len(words[i - 1]) > 4)
    ):
        i -= 1
    out = []
    while (
        i > 0 and len(out) < limit and words[i - 1] not in BOUNDARY | {",", ".", ";", ":"} and "'" not in words[i - 1]
    ):
        out.insert(0, words[i - 1])
        i -= 1
    return out


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z']*|\d+|[,.;:!?]", text.lower())


def _unquoted(prompt: str) -> str:
    text = prompt
    for span in quoted_texts(prompt):
        text = text.replace(span, " ")
    return text


def _detectable(head: str) -> str | None:
    """How offline detection can find this object: a shape name, "face", a COCO class (when the
    COCO detector is installed), or None."""
    head = singular(head)
    if head in SHAPE_SYNONYMS:
        return SHAPE_SYNONYMS[head]
    if head in FACE_WORDS:
        return "face"
    if head in {"shape", "object", "thing", "item"}:
        return "any"
    if head == "background":
        return "background"
    if coco.available():
        return coco.coco_class(head)
    return None


def _coco_noun(words: list[str], i: int) -> tuple[str, str, int] | None:
    """The COCO object named at word i (two-word names first): (noun as written, class, words used)."""
    if i + 1 < len(words) and (cls := coco.coco_class(f"{words[i]} {singular(words[i + 1])}")):
        return f"{words[i]} {words[i + 1]}", cls, 2
    if words[i] in COLOR_WORDS or words[i] in NON_OBJECTS:
        return None  # "orange" is a colour here unless the colour rules said otherwise
    cls = coco.coco_class(singular(words[i]))
    return (words[i], cls, 1) if cls else None


class _Builder:
    """Collects criteria with stable, readable ids (`text_1`, `count_1`, ...)."""

    def __init__(self) -> None:
        self.criteria: list[Criterion] = []

    def add(
        self, dimension: str, statement: str, tools: list[str], checkable: bool = True, weight: float = 1.0, **params
    ) -> None:
        if any(c.statement == statement for c in self.criteria):
            return
        n = sum(c.dimension == dimension for c in self.criteria) + 1
        self.criteria.append(
            Criterion(
                id=f"{dimension}_{n}",
                statement=statement,
                dimension=dimension,
                weight=weight,
                tools=tools,
                origin="synthesized",
                checkable=checkable,
                params=params,
            )
        )


# 1. text-to-image prompts


def _texts(b: _Builder, prompt: str) -> None:
    for text in quoted_texts(prompt):
        b.add(
            "text",
            f'The image shows the text "{text}", spelled exactly',
            ["ocr", "text_match", "zoom"],
            text=text,
            met=EXACT,
        )
    if re.search(r"\b(no|without) (text|words|letters|writing|captions?|watermarks?)\b", prompt.lower()):
        b.add("text", "The image contains no text", ["ocr"], text="", negated=True)


def _counts(b: _Builder, words: list[str]) -> None:
    joined = " ".join(words)
    numbers = sorted(NUMBER_WORDS, key=len, reverse=True)
    pattern = r"\b(\d{1,3}|" + "|".join(re.escape(n) for n in numbers) + r")\b"
    for m in re.finditer(pattern, joined):
        if m.group(1) == "one" and joined[: m.start()].endswith(("no ", "any ", "every ", "each ")):
            continue
        start = len(joined[: m.end()].split())
        phrase = _phrase_after(words, start)
        if not phrase or phrase[0] in UNCOUNTABLE_AFTER_NUMBER or phrase[0].isdigit():
            continue
        count = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        head = singular(phrase[-1])
        color = next((COLOR_WORDS[w] for w in phrase if w in COLOR_WORDS), None)
        kind = _detectable(head)
        b.add(
            "count",
            f"There are exactly {count} {' '.join(phrase)}",
            ["detect"],
            checkable=kind is not None,
            count=count,
            object=head,
            phrase=" ".join(phrase),
            color=color,
            detect=kind,
            met=EXACT,
        )


EXACT = 1.0
"""Text, counts and colours of detected objects are met only when exactly right: one typo is a miss."""
QUALITY_MET = 0.6
"""No-reference quality is a soft signal: below this it is named in the critique."""

VAGUE_QUANTITIES = {
    "several": "several",
    "many": "many",
    "a few": "a few",
    "multiple": "multiple",
    "dozens of": "dozens of",
    "countless": "countless",
    "numerous": "numerous",
    "a group of": "a group of",
    "lone": 1,
    "solitary": 1,
    "only one": 1,
    "a single": 1,
    "a pair of": 2,
    "a couple of": 2,
}


def _vague_counts(b: _Builder, words: list[str]) -> None:
    joined = " ".join(words)
    for quantity, value in VAGUE_QUANTITIES.items():
        for m in re.finditer(rf"\b{quantity}\b", joined):
            phrase = _phrase_after(words, len(joined[: m.end()].split()))
            if not phrase or any(
                c.dimension == "count" and c.params.get("phrase") == " ".join(phrase) for c in b.criteria
            ):
                continue
            head = singular(phrase[-1])
            exact = isinstance(value, int)
            b.add(
                "count",
                f"There {'is' if value == 1 else 'are'} {'exactly ' + str(value) if exact else value} {' '.join(phrase)}",
                ["detect"],
                checkable=exact and _detectable(head) is not None,
                count=value if exact else None,
                quantity=str(value),
                object=head,
                phrase=" ".join(phrase),
                color=_color_of(phrase),
                detect=_detectable(head),
            )


def _colors(b: _Builder, words: list[str]) -> None:
    counted = {(c.params["color"], c.params["object"]) for c in b.criteria if c.dimension == "count"}
    for i, word in enumerate(words):
        if word not in COLOR_WORDS:
            continue
        if i > 0 and words[i - 1] in COLOR_WORDS and (i + 1 == len(words) or words[i + 1] in BOUNDARY):
            continue  # "a red orange": this word is the object, not a colour
        phrase = [
            w for w in _phrase_after(words, i + 1) if w not in {"color", "colour", "colored", "coloured", "toned"}
        ]
        if not all(w in COLOR_WORDS for w in phrase):
            phrase = [w for w in phrase if w not in COLOR_WORDS]
        if phrase and not phrase[-1].isdigit():
            target = " ".join(phrase)
        else:
            before = _phrase_before(words, i)
            target = " ".join(
                w for w in before if w not in COLOR_WORDS and w not in {"bright", "dark", "light", "pale", "deep"}
            )
        last = target.split()[-1] if target else ""
        head = singular(last)
        if (COLOR_WORDS[word], head) in counted:
            continue
        verb = "are" if last and head != last else "is"
        statement = f"The {target} {verb} {word}" if target else f"The image contains {word}"
        kind = _detectable(head) if target else None
        # a colour is checked on its object; an object no tool here can find leaves it unchecked
        seeable = not target or kind is not None
        b.add(
            "color",
            statement,
            ["detect", "palette"],
            checkable=seeable,
            color=COLOR_WORDS[word],
            color_word=word,
            object=head,
            phrase=target,
            detect=kind,
            **({"met": EXACT} if kind else {}),
        )


def _relations(b: _Builder, words: list[str]) -> None:
    joined = " " + " ".join(words) + " "
    for phrase, relation in RELATIONS:
        for m in re.finditer(rf" {re.escape(phrase)} ", joined):
            before = joined[: m.start()].split()
            after = [w for w in joined[m.end() :].split() if w not in {"the", "a", "an"}]
            subject = [w for w in _phrase_before(before, len(before)) if w not in {"the", "a", "an"}]
            while after and after[0] in {"its", "his", "her", "their"}:  # "above its head": the head is the object
                after = after[1:]
            obj = [after[0]] if after and after[0] in PRONOUNS else _phrase_after(after[:6], 0)
            if obj and not subject:
                # "Below a castle, a knight ..." / "behind it is a plane": the subject comes after.
                rest = after[len(obj) :]
                while rest and rest[0] in {",", "is", "are", "stands", "sits", "lies", "there", "was", "were"}:
                    rest = rest[1:]
                subject = _phrase_after(rest, 0)
            if not obj or (relation == "on" and obj[-1] in {"background", "backdrop"}):
                continue  # "on a white background" is the colour criterion's business
            if not subject:  # "In the center of a grand hall, ..." with no subject named nearby
                if relation in ("on", "onto", "over", "around", "inside"):
                    continue
                subject = ["main", "subject"]
            s_head, o_head = singular(subject[-1]), singular(obj[-1])
            checkable = relation in CHECKABLE_RELATIONS and _is_shape(s_head) and _is_shape(o_head)
            verb = "are" if singular(subject[-1]) != subject[-1] else "is"
            b.add(
                "position",
                f"The {' '.join(subject)} {verb} {relation} the {' '.join(obj)}",
                ["detect"],
                checkable=checkable,
                subject=s_head,
                subject_phrase=" ".join(subject),
                relation=relation,
                object=o_head,
                object_phrase=" ".join(obj),
                subject_color=_color_of(subject),
                object_color=_color_of(obj),
            )
            joined = joined[: m.start()] + " " + "_" * (len(phrase)) + " " + joined[m.end() :]
    for phrase, where in ABSOLUTE:
        for m in re.finditer(rf" {phrase}(?: side)?(?: of (?:the )?(?:picture|image|frame|scene))? ", joined):
            after = [w for w in joined[m.end() :].split() if w not in {"is", "are", "the", "a", "an", ",", "there"}]
            before = _phrase_before(joined[: m.start()].split(), len(joined[: m.start()].split()))
            target = [w for w in before if w not in {"the", "a", "an"}] or _phrase_after(after, 0)
            if target:
                b.add(
                    "position",
                    f"The {' '.join(target)} is at the {where} of the image",
                    ["detect"],
                    checkable=where in {"left", "right", "center", "top", "bottom"} and _is_shape(singular(target[-1])),
                    subject=singular(target[-1]),
                    subject_phrase=" ".join(target),
                    relation=where,
                    subject_color=_color_of(target),
                )


CHECKABLE_RELATIONS = {"left of", "right of", "above", "below", "on top of", "on", "next to"}


def _is_shape(head: str) -> bool:
    return singular(head) in SHAPE_SYNONYMS


def _color_of(phrase: list[str]) -> str | None:
    return next((COLOR_WORDS[w] for w in phrase if w in COLOR_WORDS), None)


def _negations(b: _Builder, prompt: str, words: list[str]) -> None:
    lower = prompt.lower()
    for m in re.finditer(r"\b(\w{3,}less)\b", lower):
        word = m.group(1)
        if word not in {
            "unless",
            "regardless",
            "nevertheless",
            "endless",
            "countless",
            "careless",
            "restless",
            "useless",
            "timeless",
            "seamless",
            "effortless",
        }:
            b.add(
                "attribute",
                f"Absent: {word.removesuffix('less')} ({word})",
                [],
                checkable=False,
                negated=True,
                phrase=word,
            )
    for m in re.finditer(r"\b(empty|deserted|nowhere to be seen|devoid of \w+)\b", lower):
        before = _phrase_before(_tokens(lower[: m.start()]), len(_tokens(lower[: m.start()])))
        target = " ".join(w for w in before if w not in {"the", "a", "an", "completely"}) or "scene"
        b.add(
            "attribute",
            f"The {target} is {m.group(1)}",
            [],
            checkable=False,
            negated=True,
            phrase=f"{target} {m.group(1)}",
        )
    for m in re.finditer(
        r"\b(no|without|none of|neither|nor|not|never|instead of|cannot|n't)\b", lower.replace("n't", " n't")
    ):
        after = _tokens(lower.replace("n't", " n't")[m.end() :])
        clause = []
        for w in after:
            if w in {",", ".", ";", ":"} or (clause and w in {"and", "but", "while"}):
                break
            clause.append(w)
        if not clause:
            continue
        clause_text = " ".join(clause[:8])
        if m.group(1) in {"no", "without"}:
            objs = [w for w in clause if w not in {"any", "other", "a", "an", "the"}]
            head = singular(_phrase_after(objs, 0)[-1]) if _phrase_after(objs, 0) else singular(objs[0]) if objs else ""
            if head in {"text", "word", "letter", "writing", "caption", "watermark"}:
                continue  # handled by the text extractor
            kind = _detectable(head) if head else None
            b.add(
                "object",
                f"There is no {clause_text}",
                ["detect"],
                checkable=kind is not None,
                negated=True,
                object=head,
                phrase=clause_text,
                detect=kind,
            )
        else:
            b.add(
                "attribute",
                f"Not: {m.group(1).replace('n' + chr(39) + 't', 'not')} {clause_text}".replace("Not: not ", "Not: "),
                [],
                checkable=False,
                negated=True,
                phrase=clause_text,
            )


def _objects(b: _Builder, words: list[str]) -> None:
    """A presence criterion for every object the prompt names that a detector knows (COCO classes),
    unless a count already asks for it or the prompt asks for its absence."""
    counted = {c.params.get("object") for c in b.criteria if c.dimension == "count"}
    i = 0
    while i < len(words):
        found = _coco_noun(words, i)
        if found is None:
            i += 1
            continue
        noun, cls, used = found
        negated = any(w in {"no", "without", "not"} for w in words[max(0, i - 3) : i])
        if not negated and singular(noun.split()[-1]) not in counted and cls not in counted:
            article = "an" if noun[0] in "aeiou" else "a"
            b.add(
                "object",
                f"The image shows {article} {singular(noun) if used == 1 else noun}",
                ["detect"],
                checkable=coco.available(),
                object=cls,
                phrase=noun,
                detect=cls,
                presence=True,
            )
        i += used


NON_OBJECTS = {"glass", "table"}
"""Words that name a COCO class only sometimes ("a glass building", "a table of numbers")."""


def _style(b: _Builder, prompt: str) -> None:
    pattern = r"\bstyle of ([\w\s.'-]{2,40}?)(?=[,.;]|$)|\bin (?:the |a |an )?(?!the\b|style\b)([\w\s-]{2,40}?) style\b|\b([\w-]+)-style\b"
    for m in re.finditer(pattern, prompt, re.I):
        style = next(g for g in m.groups() if g).strip()
        b.add("custom", f"The image is in {style} style", [], checkable=False, style=style)


def synthesize_t2i(prompt: str) -> list[Criterion]:
    b = _Builder()
    _texts(b, prompt)
    words = _tokens(_unquoted(prompt))
    _counts(b, words)
    _vague_counts(b, words)
    _colors(b, words)
    _relations(b, words)
    _objects(b, words)
    _negations(b, _unquoted(prompt), words)
    _style(b, _unquoted(prompt))
    b.add(
        "quality",
        "The image is sharp, well exposed and free of noise and compression artefacts",
        ["quality"],
        weight=0.25,
        met=QUALITY_MET,
    )
    return b.criteria


# 2. edit instructions


def edit_action(instruction: str) -> str | None:
    """The kind of edit an instruction asks for, or None if it is not recognisably an edit."""
    lower = instruction.lower().strip()
    if re.search(
        r"\b(change|replace|rewrite|update)\b.*\b(text|word|words|sign|caption|title|label)\b", lower
    ) and quoted_texts(instruction):
        return "text"
    if re.search(r"\b(colou?r of|to (?:be )?(?:" + "|".join(COLOR_WORDS) + r")\b)", lower) and re.search(
        r"\b(change|make|turn|paint|recolou?r|colou?r)\b", lower
    ):
        return "recolor"
    if re.search(r"\b(bigger|larger|smaller|taller|shorter|wider|thinner)\b", lower) or re.search(
        r"\b(enlarge|shrink|resize)\b", lower
    ):
        return "resize"
    if re.search(r"\bstyle\b", lower) or re.search(
        r"\b(convert|turn|transform|render)\b.*\b(into|to|as) (a |an )?[\w\s-]*(painting|sketch|cartoon|anime|drawing|watercolou?r|photo)",
        lower,
    ):
        return "style"
    if re.search(r"\b(replace|swap|substitute)\b|\b(change|turn|transform)\b.+\b(into|to|with)\b", lower):
        return "replace"
    for action, verbs in EDIT_VERBS.items():
        if any(re.search(rf"^(please )?{re.escape(v)}\b|\b{re.escape(v)}\b", lower) for v in verbs):
            return action
    if re.search(r"\bmake\b", lower):
        return "attribute"
    return None


def synthesize_edit(instruction: str) -> list[Criterion]:
    action = edit_action(instruction) or "other"
    lower = instruction.lower()
    words = _tokens(_unquoted(instruction))
    b = _Builder()
    colors = [COLOR_WORDS[w] for w in words if w in COLOR_WORDS]
    verb_at = next(
        (
            i
            for i, w in enumerate(words)
            if any(w == v.split()[0] for vs in EDIT_VERBS.values() for v in vs) or w in {"change", "make"}
        ),
        0,
    )
    rest = words[verb_at + 1 :]
    if "of" in rest[:3] and rest[0] in {"color", "colour", "size", "position", "shape"} | {"the"}:
        rest = rest[rest.index("of") + 1 :]
    skip = {"the", "a", "an", "some", "bigger", "larger", "smaller", "taller", "shorter", "wider", "thinner"}
    phrase = _phrase_after([w for w in rest if w not in skip], 0)
    target = " ".join(phrase) or "the edited region"
    head = singular(phrase[-1]) if phrase else ""
    if action != "style":
        b.add(
            "object",
            f"The edit was applied: {instruction.strip().rstrip('.')}",
            ["diff"],
            action=action,
            object=head,
            phrase=target,
            check="change_present",
        )
    if action == "text":
        texts = quoted_texts(instruction)
        new_text = texts[-1]
        b.add(
            "text",
            f'The edited image shows the text "{new_text}", spelled exactly',
            ["ocr", "text_match"],
            text=new_text,
            met=EXACT,
        )
        if len(texts) > 1 and re.search(r"\bfrom\b|\breplace\b", lower):
            b.add("text", f'The old text "{texts[0]}" is gone', ["ocr", "text_match"], text=texts[0], negated=True)
    elif action in ("add", "recolor", "replace") and colors:
        b.add(
            "color",
            f"The {'changed' if action != 'add' else 'added'} {head or 'object'} is {colors[-1]}",
            ["diff", "palette"],
            color=colors[-1],
            object=head,
            check="changed_region_color",
        )
    elif action == "remove" and _detectable(head) not in (None, "any"):
        b.add("object", f"No {target} remains", ["detect"], negated=True, object=head, detect=_detectable(head))
    if action in ("add", "replace", "move", "resize", "attribute", "other") and not colors:
        b.add(
            "object",
            f"The result matches the instruction: {instruction.strip().rstrip('.')}",
            [],
            checkable=False,
            action=action,
            object=head,
        )
    if action == "style":
        b.add("custom", f"The image is restyled as asked: {instruction.strip().rstrip('.')}", [], checkable=False)
        b.add("preservation", "The layout and content of the source are kept", ["diff"], check="structure")
    else:
        b.add("preservation", "Everything outside the edited region is preserved", ["diff"], check="outside_region")
    b.add(
        "quality",
        "The edited image is sharp, well exposed and free of artefacts",
        ["quality"],
        weight=0.25,
        met=QUALITY_MET,
    )
    return b.criteria


# 3. the synthesizer and rubric files


@functools.lru_cache(maxsize=4096)
def _cached(prompt: str, edit: bool, library_version: str) -> tuple[Criterion, ...]:
    return tuple(synthesize_edit(prompt) if edit else synthesize_t2i(prompt))


def synthesize(prompt: str, *, edit: bool = False, library_version: str = "") -> list[Criterion]:
    """Criteria for a prompt (or an edit instruction), cached per (prompt, library version)."""
    if not prompt.strip():
        raise ValueError("the prompt is empty: give the text the image was generated from")
    return [c.model_copy(deep=True) for c in _cached(prompt, edit, library_version)]


def load_rubric(path: str | Path) -> list[Criterion]:
    """Read a rubric file: a JSON or YAML list of criteria (strings or objects), marked `given`.

    A plain string becomes a criterion with that statement that no offline tool checks; an
    object may set any `Criterion` field (`id`, `statement`, `dimension`, `weight`, `params`, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rubric file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(
            f"rubric file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"rubric file {path} must hold a non-empty list of criteria")
    items = []
    for i, item in enumerate(data, 1):
        if isinstance(item, str):
            item = {"statement": item, "checkable": False}
        if not isinstance(item, dict):
            raise ValueError(f"rubric file {path}: item {i} must be a string or an object")
        items.append({"id": f"given_{i}", "dimension": "custom", **item, "origin": "given"})
    try:
        return TypeAdapter(list[Criterion]).validate_python(items)
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(
            f"rubric file {path}: item {err['loc'][0] + 1}, {'.'.join(map(str, err['loc'][1:]))}: {err['msg']}"
        ) from None
