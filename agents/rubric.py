"""Offline rubric synthesis: a prompt or an edit instruction → atomic, checkable criteria.

Deterministic. The prompt is parsed (`scene.parse`, spaCy's dependency parse) into the objects it
names, their counts and attributes, the relations between them, whole-image properties and the
text to render; each becomes a criterion with a typed `check`. Every object named becomes a
criterion, whether or not a tool here can see it: a criterion no offline tool can check is kept
with `checkable=False` (it abstains offline, never guesses). Edit instructions get the edit's
target plus "everything else is preserved".
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from scrutiny.agents.scene import COLOR_WORDS, NUMBER_WORDS, Entity, ParserMissing, Scene, parse, quoted_texts
from scrutiny.core.schema import (
    AttributeCheck,
    Check,
    Criterion,
    EditCheck,
    GlobalCheck,
    JudgmentCheck,
    ObjectCheck,
    QualityCheck,
    RelationCheck,
    TextCheck,
)
from scrutiny.tools import coco, hf
from scrutiny.tools.detect import DETECTORS, SHAPE_NAMES

__all__ = ["COLOR_WORDS", "NUMBER_WORDS", "ParserMissing", "edit_action", "load_rubric", "quoted_texts", "synthesize"]

SHAPE_SYNONYMS = {"dot": "circle", "disc": "circle", "disk": "circle", "oval": "ellipse", "ball": "circle"} | {
    s: s for s in SHAPE_NAMES if s != "blob"
}
FACE_WORDS = {"face", "person", "people", "man", "woman", "boy", "girl", "child", "kid", "human", "portrait"}
CHECKABLE_RELATIONS = {"left of", "right of", "above", "below", "on top of", "on", "next to"}
FRAME_PLACES = {"left", "right", "center", "top", "bottom"}
NON_OBJECTS = {"glass", "table"}
"""Words that name a COCO class only sometimes ("a glass building", "a table of numbers") unless the parse
says they are the object itself."""

EXACT = 1.0
"""Text, counts and colours of detected objects are met only when exactly right: one typo is a miss."""
EXTRA_TEXT_WEIGHT = 0.1
"""Unrequested text is a defect, but a lighter one than a misspelling of the text asked for: at this
weight a correct sign with a footer ("est. 1987") still beats a one-letter typo without one."""
QUALITY_MET = 0.6
"""No-reference quality is a soft signal: below this it is named in the critique."""


def detectable(noun: str) -> str | None:
    """How offline detection can find this object: a shape name, "face", a COCO class (when the
    COCO detector is installed), "background", "any", or None."""
    head = noun.split()[-1] if noun else ""
    if head in SHAPE_SYNONYMS:
        return SHAPE_SYNONYMS[head]
    if head in FACE_WORDS:  # a person is found whole by the COCO detector; Haar faces only where it is missing
        return "face" if head in ("face", "portrait") or not coco.available() else "person"
    if head in {"shape", "object", "thing", "item"}:
        return "any"
    if head == "background":
        return "background"
    if coco.available() and (cls := coco.coco_class(noun) or coco.coco_class(head)):
        return cls
    if "open" in DETECTORS:  # an open-vocabulary detector finds what its query names
        return f"open:{noun}"
    return None


def comparable() -> bool:
    """Whether an image-text model can check attributes, actions and whole-image properties by contrast."""
    return hf.scorer_available()


class _Builder:
    """Collects criteria with stable, readable ids (`text_1`, `count_1`, ...)."""

    def __init__(self) -> None:
        self.criteria: list[Criterion] = []

    def add(
        self,
        dimension: str,
        statement: str,
        tools: list[str],
        check: Check,
        *,
        checkable: bool = True,
        weight: float = 1.0,
        met: float | None = None,
    ) -> None:
        statement = re.sub(r"\s+", " ", statement).strip()
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
                check=check,
                met=met,
            )
        )


def article(phrase: str) -> str:
    """The indefinite article for a phrase."""
    return "an" if phrase[:1] in "aeiou" else "a"


def _be(e: Entity) -> str:
    return "are" if e.plural else "is"


def _name(e: Entity) -> str:
    """The object as a statement names it: singular, or plural as the prompt wrote it ("the doors")."""
    if not e.plural or not e.phrase:
        return e.noun
    return " ".join(e.noun.split()[:-1] + [e.phrase.split()[-1]])


# 1. text-to-image prompts


def _texts(b: _Builder, scene: Scene) -> None:
    for text in scene.texts:
        b.add(
            "text",
            f'The image shows the text "{text}", spelled exactly',
            ["ocr", "text_match", "zoom"],
            TextCheck(text=text),
            met=EXACT,
        )
    if scene.no_text:
        b.add("text", "The image contains no text", ["ocr"], TextCheck(text="", negated=True))
    elif scene.texts:  # text nobody asked for is its own (light) criterion, not a penalty on the requested text
        b.add(
            "text",
            "The image shows no text besides the requested",
            ["ocr"],
            TextCheck(text="", negated=True, allowed=scene.texts),
            weight=EXTRA_TEXT_WEIGHT,
        )


def _objects(b: _Builder, scene: Scene) -> None:
    """Each object: its presence (or absence), its count, its attributes."""
    for e in scene.entities:
        if e.noun == "background":
            continue
        kind = detectable(e.noun)
        if kind in ("any",) and not (e.count or e.negated):
            continue  # "an object", "a thing": nothing to look for
        # counting flat shapes counts those of the colour asked ("three red circles"); a colour is otherwise
        # its own criterion, checked on the object found
        color = e.color if kind in SHAPE_SYNONYMS.values() and (e.count is not None or e.negated) else None
        check = ObjectCheck(
            object=e.noun, phrase=e.phrase, detect=kind, count=e.count, quantity=e.quantity, color=color
        )
        if e.negated:
            b.add(
                "object",
                f"There {'are' if e.plural else 'is'} no {e.phrase}",
                ["detect"],
                check.model_copy(update={"negated": True, "count": None}),
                checkable=kind is not None,
            )
            continue
        if e.count is not None:
            plural = e.count != 1
            b.add(
                "count",
                f"There {'are' if plural else 'is'} exactly {e.count} {e.phrase}",
                ["detect"],
                check,
                checkable=kind is not None,
                met=EXACT,
            )
        elif e.quantity:
            verb = "are" if e.plural else "is"  # "a group of people", "a piece of paper"
            b.add("count", f"There {verb} {e.quantity} {e.phrase}", ["detect"], check, checkable=False)
        else:
            what = e.noun
            if e.plural:
                what = e.phrase.split()[-1] if e.phrase else what
                if " " in e.noun:
                    what = " ".join(e.noun.split()[:-1] + [what])
            statement = f"The image shows {what}" if e.plural or e.proper else f"The image shows {article(what)} {what}"
            b.add("object", statement, ["detect"], check, checkable=kind is not None)
        for attribute, value, word in e.attributes:
            if attribute == "color" and color is not None:
                continue  # counted (or looked for) by colour already
            if attribute == "color":
                seeable = kind is not None and kind != "any"
                b.add(
                    "color",
                    f"The {_name(e)} {_be(e)} {word}",
                    ["detect", "palette"] if seeable else ["similarity"],
                    AttributeCheck(
                        attribute="color", value=value, word=word, object=e.noun, phrase=e.phrase, detect=kind
                    ),
                    checkable=seeable or comparable(),
                    met=EXACT if kind in SHAPE_SYNONYMS.values() else None,
                )
            else:
                b.add(
                    "attribute",
                    f"The {_name(e)} {_be(e)} {word}",
                    ["similarity"],
                    AttributeCheck(attribute=attribute, value=value, word=word, object=e.noun, phrase=e.phrase),
                    checkable=comparable(),
                )
    background = next((e for e in scene.entities if e.noun == "background" and e.color), None)
    if background is not None:
        b.add(
            "color",
            f"The background is {background.attributes[0][2]}",
            ["detect", "palette"],
            AttributeCheck(
                attribute="color",
                value=background.color,
                word=background.attributes[0][2],
                object="background",
                phrase="background",
                detect="background",
            ),
        )
    for value, word in scene.colors:
        b.add(
            "color",
            f"The image contains {word}",
            ["palette"],
            AttributeCheck(attribute="color", value=value, word=word),
        )


def _relations(b: _Builder, scene: Scene) -> None:
    for r in scene.relations:
        s = r.subject
        s_kind = detectable(s.noun)
        if r.action and r.object is None:  # "chihuahuas running on the beach"
            verb = f"{_be(s)} {r.relation}" if r.verb == "VBG" else r.relation
            b.add(
                "action",
                f"The {s.phrase} {verb}",
                ["similarity"],
                RelationCheck(relation=r.relation, subject=s.noun, subject_phrase=s.phrase, action=True),
                checkable=comparable(),
            )
            continue
        if r.object is None:
            b.add(
                "position",
                f"The {s.phrase} {_be(s)} {'in' if r.relation in ('background', 'foreground') else 'at'} the "
                f"{r.relation} of the image",
                ["detect"],
                RelationCheck(
                    relation=r.relation,
                    subject=s.noun,
                    subject_phrase=s.phrase,
                    subject_color=s.color,
                    subject_detect=s_kind,
                ),
                checkable=r.relation in FRAME_PLACES and s_kind not in (None, "any", "background"),
            )
            continue
        o = r.object
        o_kind = detectable(o.noun)
        check = RelationCheck(
            relation=r.relation,
            subject=s.noun,
            subject_phrase=s.phrase,
            subject_color=s.color,
            subject_detect=s_kind,
            object=o.noun,
            object_phrase=o.phrase,
            object_color=o.color,
            object_detect=o_kind,
            action=r.action,
        )
        if r.action:
            verb = f"{_be(s)} {r.relation}" if r.verb == "VBG" else r.relation
            b.add("action", f"The {s.phrase} {verb} the {o.phrase}", ["similarity"], check, checkable=comparable())
            continue
        if r.relation == "without":
            continue  # the absent thing's own criterion says it
        if r.relation == "with":  # "a man with a hat", "a field with a tractor": they go together
            b.add(
                "position",
                f"The {s.phrase} {'have' if s.plural else 'has'} {article(o.phrase)} {o.phrase}",
                [],
                check,
                checkable=False,
            )
            continue
        seeable = {s_kind, o_kind}.isdisjoint({None, "any", "background"})
        b.add(
            "position",
            f"The {s.phrase} {_be(s)} {r.relation} the {o.phrase}",
            ["detect"],
            check,
            checkable=r.relation in CHECKABLE_RELATIONS and seeable,
        )


def _globals(b: _Builder, scene: Scene) -> None:
    for prop, value in scene.globals:
        statement = {
            "style": f"The image is in {value} style",
            "medium": f"The image is {article(value)} {value}",
            "lighting": f"The lighting is {value}",
            "tag": f'The image matches the prompt tag "{value}"',
        }[prop]
        b.add("style", statement, ["similarity"], GlobalCheck(property=prop, value=value), checkable=comparable())
    for clause in scene.negations:
        b.add("attribute", f"Not so: {clause}", [], JudgmentCheck(negated=True), checkable=False)


def _quality(b: _Builder, edit: bool = False) -> None:
    b.add(
        "quality",
        f"The {'edited ' if edit else ''}image is sharp, well exposed and free of "
        f"{'artefacts' if edit else 'noise and compression artefacts'}",
        ["quality"],
        QualityCheck(),
        weight=0.25,
        met=QUALITY_MET,
    )


def synthesize_t2i(prompt: str) -> list[Criterion]:
    scene = parse(prompt)
    b = _Builder()
    _texts(b, scene)
    _objects(b, scene)
    _relations(b, scene)
    _globals(b, scene)
    _quality(b)
    return b.criteria


# 2. edit instructions


def edit_action(instruction: str) -> str | None:
    """The kind of edit an instruction asks for, or None if it is not recognisably an edit."""
    lower = instruction.lower().strip()
    if re.search(
        r"\b(change|replace|rewrite|update)\b.*\b(text|word|words|sign|caption|title|label)\b", lower
    ) and quoted_texts(instruction):
        return "text"
    colour = "|".join(COLOR_WORDS)
    if re.search(rf"\b(colou?r of|to (?:be )?(?:{colour})\b)", lower) and re.search(
        r"\b(change|make|turn|paint|recolou?r|colou?r)\b", lower
    ):
        return "recolor"
    if re.search(rf"^(please )?(make|turn|paint|recolou?r|colou?r)\b.*\b({colour})[.!]?$", lower):
        return "recolor"  # "make the triangle orange", "paint the square blue"
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


def _edit_targets(instruction: str) -> list[Entity]:
    """The objects an instruction names, in order. The small English pipeline reads a capitalised
    imperative ("Remove the ...", "Paint the ...") as a proper noun, so the instruction is parsed as
    a polite request ("Please remove the ..."); a name the parser merged or missed ("recolour the
    triangle purple") is found word by word."""
    words = instruction.strip()
    if not re.match(r"(?i)please\b", words):
        words = "Please " + words[:1].lower() + words[1:]
    verbs = {v for vs in EDIT_VERBS.values() for v in vs} | {"make", "change", "edit", "instruction", "image"}
    found = [e for e in parse(words).entities if e.noun not in verbs]
    if any(detectable(e.noun) not in (None, "any") for e in found):
        return found
    named = []
    for word in re.findall(r"[a-z]+", words.lower()):
        noun = next(
            (w for w in (word, word.removesuffix("s")) if detectable(w) not in (None, "any", "background")), None
        )
        if noun and word not in verbs:
            named.append(Entity(noun=noun, phrase=noun))
    return named or found


def synthesize_edit(instruction: str) -> list[Criterion]:
    action = edit_action(instruction) or "other"
    lower = instruction.lower()
    b = _Builder()
    colors = [COLOR_WORDS[w] for w in re.findall(r"[a-z]+", lower) if w in COLOR_WORDS]
    targets = _edit_targets(instruction)
    target = targets[0] if targets else None
    head = target.noun if target else ""
    phrase = target.phrase if target else "the edited region"
    instruction_text = instruction.strip().rstrip(".")
    if action != "style":
        b.add(
            "object",
            f"The edit was applied: {instruction_text}",
            ["diff"],
            EditCheck(check="change_present", action=action, object=head, phrase=phrase),
        )
    if action == "text":
        texts = quoted_texts(instruction)
        b.add(
            "text",
            f'The edited image shows the text "{texts[-1]}", spelled exactly',
            ["ocr", "text_match"],
            TextCheck(text=texts[-1]),
            met=EXACT,
        )
        if len(texts) > 1 and re.search(r"\bfrom\b|\breplace\b", lower):
            b.add(
                "text",
                f'The old text "{texts[0]}" is gone',
                ["ocr", "text_match"],
                TextCheck(text=texts[0], negated=True),
            )
    elif action in ("add", "recolor", "replace") and colors:
        b.add(
            "color",
            f"The {'changed' if action != 'add' else 'added'} {head or 'object'} is {colors[-1]}",
            ["diff", "palette"],
            EditCheck(check="changed_region_color", action=action, object=head, phrase=phrase, color=colors[-1]),
        )
    # what the edit made, where the image changed: "add a red square" is not met by a red circle, and
    # "make the circle red" not by a red square
    made = targets[-1] if action == "replace" and targets else target
    if action in ("add", "recolor", "replace") and made is not None and detectable(made.noun) not in (None, "any"):
        new_color = colors[-1] if colors else None
        b.add(
            "object",
            f"Where the image changed there is {article(name := ' '.join(x for x in (new_color, made.noun) if x))} {name}",
            ["diff", "detect"],
            EditCheck(
                check="changed_object",
                action=action,
                object=made.noun,
                phrase=made.phrase,
                color=new_color,
                detect=detectable(made.noun),
            ),
        )
    if action == "remove" and detectable(head) not in (None, "any"):
        b.add(
            "object",
            f"No {phrase} remains",
            ["detect"],
            # "Remove the purple triangle": only a purple triangle left behind counts against the edit
            ObjectCheck(
                object=head,
                phrase=phrase,
                detect=detectable(head),
                negated=True,
                color=target.color if target else None,
            ),
        )
    if action in ("add", "replace", "move", "resize", "attribute", "other") and not colors:
        b.add(
            "object",
            f"The result matches the instruction: {instruction_text}",
            [],
            EditCheck(check="instruction", action=action, object=head, phrase=phrase),
            checkable=False,
        )
    if action == "style":
        b.add(
            "style",
            f"The image is restyled as asked: {instruction_text}",
            [],
            EditCheck(check="instruction", action=action),
            checkable=False,
        )
        b.add("preservation", "The layout and content of the source are kept", ["diff"], EditCheck(check="structure"))
    else:
        b.add(
            "preservation",
            "Everything outside the edited region is preserved",
            ["diff"],
            EditCheck(check="outside_region"),
        )
    _quality(b, edit=True)
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


def from_statement(statement: str, id: str) -> list[Criterion]:
    """A rubric's plain statement as typed criteria, read by the prompt parser.

    One thing checked ("The sign reads "OPEN"", "There are three cats") keeps the statement and id;
    several ("a red car left of a dog") become one criterion each (`id_1`, `id_2`, ...); nothing the
    parser recognises stays a judgment only a model can make. An object's mere presence is dropped
    when the statement says more about it.
    """
    found = [  # a statement about some text says nothing about other text
        c
        for c in synthesize_t2i(statement)
        if c.dimension != "quality" and not (isinstance(c.check, TextCheck) and c.check.allowed)
    ]
    specific = [
        c for c in found if not (isinstance(c.check, ObjectCheck) and c.check.count is None and not c.check.negated)
    ]
    if any(c.dimension == "text" for c in specific):
        found = specific
    else:
        named = {getattr(c.check, k, None) for c in specific for k in ("object", "subject")}
        found = [c for c in found if c in specific or c.check.object not in named]
    if not found:
        return [Criterion(id=id, statement=statement.strip(), origin="given", checkable=False)]
    if len(found) == 1:
        return [found[0].model_copy(update={"id": id, "statement": statement.strip(), "origin": "given"})]
    return [c.model_copy(update={"id": f"{id}_{n}", "origin": "given"}) for n, c in enumerate(found, 1)]


def load_rubric(path: str | Path) -> list[Criterion]:
    """Read a rubric file: a JSON or YAML list of criteria (strings or objects), marked `given`.

    A plain string is read by the same parser as prompts (`from_statement`): "The sign reads "OPEN""
    becomes a text criterion. An object may set any `Criterion` field (`id`, `statement`, `dimension`,
    `weight`, `check`, `met`; the version-1 `params` is read too).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rubric file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"rubric file {path} is not UTF-8 text; save it as UTF-8") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(
            f"rubric file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"rubric file {path} must hold a non-empty list of criteria")
    items, parsed = [], []
    for i, item in enumerate(data, 1):
        if isinstance(item, str) and item.strip():
            parsed += from_statement(item, f"given_{i}")
            continue
        if not isinstance(item, dict):
            raise ValueError(f"rubric file {path}: item {i} must be a non-empty string or an object")
        items.append({"id": f"given_{i}", "dimension": "custom", **item, "origin": "given"})
    try:
        return parsed + TypeAdapter(list[Criterion]).validate_python(items)
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(
            f"rubric file {path}: item {err['loc'][0] + 1}, {'.'.join(map(str, err['loc'][1:]))}: {err['msg']}"
        ) from None
