"""Offline rubric synthesis: a prompt or an edit instruction → atomic, checkable criteria.

Deterministic. The prompt is parsed (`scene.parse`, spaCy's dependency parse) into the objects it
names, their counts and attributes, the relations between them, whole-image properties and the
text to render; each becomes a criterion with a typed `check`. Every object named becomes a
criterion, whether or not a tool here can see it: a criterion no offline tool can check is kept
with `checkable=False` (it abstains offline, never guesses). Edit instructions get the edit's
target plus "everything else is preserved".
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from scrutiny.agents.scene import COLOR_WORDS, NUMBER_WORDS, Entity, ParserMissing, Scene, parse, quoted_texts
from scrutiny.agents.scene.text import unescaped
from scrutiny.agents.scene.words import plural
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
from scrutiny.tools import coco, open_vocab
from scrutiny.tools.detect import DETECTORS, SHAPE_NAMES

__all__ = ["COLOR_WORDS", "NUMBER_WORDS", "ParserMissing", "edit_action", "quoted_texts", "synthesize"]

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
    COCO detector is installed), "background", "any", "open" (the open-vocabulary detector, asked for
    the noun itself), or None."""
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
    if "open" in DETECTORS:  # an open-vocabulary detector finds what its query names: the noun itself
        return "open"
    return None


def comparable() -> bool:
    """Whether an image-text model can check attributes, actions and whole-image properties by contrast."""
    return open_vocab.scorer_available()


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
    """The indefinite article for a phrase, by its first sound: "a uniform", "a European", "an hour"."""
    word = phrase.lower()
    if re.match(r"(uni|use|usu|ute|eu|ewe|one\b|once\b)", word):
        return "a"  # a "yoo" or "w" sound
    if re.match(r"(hour|honest|honou?r|heir|8|11(?!\d)|18(?!\d))", word):
        return "an"  # "an hour", "an 8k photo"
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


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
    """Each object: its presence (or absence), its count, its attributes; the background's colour and
    colours of no object."""
    for e in scene.entities:
        if e.noun != "background":
            _object(b, e)
    _listed_together(b, scene)
    _scene_colors(b, scene)


def _listed_together(b: _Builder, scene: Scene) -> None:
    """ "a man and a woman" are at least two people, "a red car and a blue car" two cars: said once,
    "The image shows a person" was met by one."""
    groups: dict[tuple, list[Entity]] = {}
    for e in scene.entities:
        kind = detectable(e.noun)
        if e.listed is None or e.negated or e.plural or e.count or e.quantity or kind in (None, "any"):
            continue
        cls = kind if _kind(e, kind) else e.noun
        groups.setdefault((e.listed, cls, kind), []).append(e)
    for (_, cls, kind), members in groups.items():
        if len(members) >= 2:
            name = "people" if cls == "person" else plural(cls)
            check = ObjectCheck(object=cls, phrase=name, detect=kind, at_least=len(members))
            b.add("count", f"There are at least {len(members)} {name}", ["detect"], check)


def _object(b: _Builder, e: Entity) -> None:
    kind = detectable(e.noun)
    sort = _kind(e, kind)
    if sort and e.negated:
        kind = None  # "no women": people may be there, and who they are is not seen
    named, e = e, _as_class(e, kind) if sort and not e.negated else e
    if kind in ("any",) and not (e.count or e.negated):
        return  # "an object", "a thing": nothing to look for
    # counting flat shapes counts those of the colour asked ("three red circles"); a colour is otherwise
    # its own criterion, checked on the object found
    color = e.color if kind in SHAPE_SYNONYMS.values() and (e.count is not None or e.negated) else None
    check = ObjectCheck(object=e.noun, phrase=e.phrase, detect=kind, count=e.count, quantity=e.quantity, color=color)
    if e.negated:
        absent = check.model_copy(update={"negated": True, "count": None})
        b.add("object", f"There {_be(e)} no {e.phrase}", ["detect"], absent, checkable=kind is not None)
        return
    _presence(b, e, check, kind)
    if sort and e is not named:
        _type_criterion(b, named, e, sort)
    for attribute, value, word in e.attributes:
        if not (attribute == "color" and color is not None):  # counted (or looked for) by colour already
            _attribute(b, e, kind, attribute, value, word)


def _kind(e: Entity, cls: str | None) -> str | None:
    """Which kind of its class an object is, where the prompt names one ("a bulldog", "a woman")."""
    head = e.noun.split()[-1]
    return head if cls is not None and " " not in e.noun and coco.kind_of(head) == cls else None


def _as_class(e: Entity, cls: str) -> Entity:
    """What a detector sees of a kind: its class, never a breed, model, gender, age or job ("two women"
    are two people, their count checked; who they are is `_type_criterion`'s)."""
    name = "people" if cls == "person" and e.plural else (plural(cls) if e.plural else cls)
    return dataclasses.replace(e, noun=cls, phrase=name)


def _type_criterion(b: _Builder, e: Entity, shown: Entity, kind: str) -> None:
    """Which kind the object is: an image-text model's to check, unchecked offline (never guessed)."""
    word = plural(kind) if e.plural else f"{article(kind)} {kind}"
    check = AttributeCheck(attribute="type", value=kind, word=word, object=shown.noun, phrase=e.phrase)
    b.add("attribute", f"The {shown.phrase} {_be(e)} {word}", ["similarity"], check, checkable=comparable())


def _presence(b: _Builder, e: Entity, check: ObjectCheck, kind: str | None) -> None:
    """An object's count ("exactly 3"), quantity ("a group of") or presence."""
    if e.count is not None:
        b.add(
            "count",
            f"There {'are' if e.count != 1 else 'is'} exactly {e.count} {e.phrase}",
            ["detect"],
            check,
            checkable=kind is not None,
            met=EXACT,
        )
    elif e.quantity:  # "a group of people", "a piece of paper"
        b.add("count", f"There {_be(e)} {e.quantity} {e.phrase}", ["detect"], check, checkable=False)
    else:
        what = e.noun
        if e.plural:
            what = e.phrase.split()[-1] if e.phrase else what
            if " " in e.noun:
                what = " ".join(e.noun.split()[:-1] + [what])
        statement = f"The image shows {what}" if e.plural or e.proper else f"The image shows {article(what)} {what}"
        b.add("object", statement, ["detect"], check, checkable=kind is not None)


def _attribute(b: _Builder, e: Entity, kind: str | None, attribute: str, value: str, word: str) -> None:
    """An object's colour (seen on the object a detector finds) or another attribute (an image-text model's)."""
    if attribute != "color":
        b.add(
            "attribute",
            f"The {_name(e)} {_be(e)} {word}",
            ["similarity"],
            AttributeCheck(attribute=attribute, value=value, word=word, object=e.noun, phrase=e.phrase),
            checkable=comparable(),
        )
        return
    seeable = kind is not None and kind != "any"
    b.add(
        "color",
        f"The {_name(e)} {_be(e)} {word}",
        ["detect", "palette"] if seeable else ["similarity"],
        AttributeCheck(attribute="color", value=value, word=word, object=e.noun, phrase=e.phrase, detect=kind),
        checkable=seeable or comparable(),
        met=EXACT if kind in SHAPE_SYNONYMS.values() else None,
    )


def _scene_colors(b: _Builder, scene: Scene) -> None:
    """The background's colour, and colours of no object ("red and blue")."""
    background = next((e for e in scene.entities if e.noun == "background" and e.color), None)
    if background is not None:
        word = background.attributes[0][2]
        check = AttributeCheck(
            attribute="color",
            value=background.color,
            word=word,
            object="background",
            phrase="background",
            detect="background",
        )
        b.add("color", f"The background is {word}", ["detect", "palette"], check)
    for value, word in scene.colors:
        b.add(
            "color",
            f"The image contains {word}",
            ["palette"],
            AttributeCheck(attribute="color", value=value, word=word),
        )


def _relations(b: _Builder, scene: Scene) -> None:
    for r in scene.relations:
        if r.object is None:
            _place(b, r)
        else:
            _between(b, r)


def _place(b: _Builder, r) -> None:
    """What one thing does ("chihuahuas running on the beach") or where it is in the frame."""
    s = r.subject
    if r.action:
        verb = f"{_be(s)} {r.relation}" if r.verb == "VBG" else r.relation
        check = RelationCheck(relation=r.relation, subject=s.noun, subject_phrase=s.phrase, action=True)
        b.add("action", f"The {s.phrase} {verb}", ["similarity"], check, checkable=comparable())
        return
    s_kind = detectable(s.noun)
    check = RelationCheck(
        relation=r.relation, subject=s.noun, subject_phrase=s.phrase, subject_color=s.color, subject_detect=s_kind
    )
    where = "in" if r.relation in ("background", "foreground") else "at"
    mutual = r.relation.endswith(" each other")  # "two skiers standing next to each other"
    said = r.relation if mutual else f"{where} the {r.relation} of the image"
    b.add(
        "position",
        f"The {s.phrase} {_be(s)} {said}",
        ["detect"],
        check,
        checkable=r.relation in FRAME_PLACES | {"next to each other"} and s_kind not in (None, "any", "background"),
    )


def _between(b: _Builder, r) -> None:
    """What one thing does to another, where it is relative to it, or that they go together ("with")."""
    s, o = r.subject, r.object
    s_kind, o_kind = detectable(s.noun), detectable(o.noun)
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
    elif r.relation == "with":  # "a man with a hat", "a field with a tractor": they go together
        has = "have" if s.plural else "has"
        what = o.phrase if o.plural else f"{article(o.phrase)} {o.phrase}"
        b.add("position", f"The {s.phrase} {has} {what}", [], check, checkable=False)
    elif r.relation == "made of":  # "a house made of candy": a material, which takes no article
        word = f"made of {o.phrase}"
        material = AttributeCheck(attribute="material", value=o.noun, word=word, object=s.noun, phrase=s.phrase)
        b.add("attribute", f"The {s.phrase} {_be(s)} {word}", ["similarity"], material, checkable=comparable())
    elif r.relation != "without":  # the absent thing's own criterion says it
        seeable = {s_kind, o_kind}.isdisjoint({None, "any", "background"})
        b.add(
            "position",
            f"The {s.phrase} {_be(s)} {'in' if r.relation == 'inside' else r.relation} the {o.phrase}",
            ["detect"],
            check,
            checkable=r.relation in CHECKABLE_RELATIONS and seeable,
        )


def _globals(b: _Builder, scene: Scene) -> None:
    for prop, value in scene.globals:
        statement = {
            "style": f"The image is in the style of {value[3:]}"
            if value.startswith("by ")
            else f"The image is in {value} style",
            "medium": f"The image is {article(value)} {value}",
            "lighting": f"The lighting is {value}",
            "tag": f'The image matches the prompt tag "{value}"',
            "time": f"The scene is set at {value}" if value != "daylight" else "The scene is in daylight",
            "weather": f"The scene shows {value}",
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


@dataclass
class _Edit:
    """An edit instruction read once: its action, the colours and targets it names, its text."""

    action: str
    colors: list[str]
    targets: list[Entity]
    instruction: str

    @property
    def target(self) -> Entity | None:
        return self.targets[0] if self.targets else None

    @property
    def head(self) -> str:
        return self.target.noun if self.target else ""

    @property
    def phrase(self) -> str:
        return self.target.phrase if self.target else "the edited region"

    @property
    def text(self) -> str:
        return self.instruction.strip().rstrip(".")


def synthesize_edit(instruction: str) -> list[Criterion]:
    instruction = unescaped(instruction)  # 'Change the sign to say &quot;OPEN&quot;'
    lower = instruction.lower()
    e = _Edit(
        action=edit_action(instruction) or "other",
        colors=[COLOR_WORDS[w] for w in re.findall(r"[a-z]+", lower) if w in COLOR_WORDS],
        targets=_edit_targets(instruction),
        instruction=instruction,
    )
    b = _Builder()
    if e.action != "style":
        b.add(
            "object",
            f"The edit was applied: {e.text}",
            ["diff"],
            EditCheck(aspect="change_present", action=e.action, object=e.head, phrase=e.phrase),
        )
    _edit_text_or_color(b, e, lower)
    _edit_made(b, e)
    if e.action in ("add", "replace", "move", "resize", "attribute", "other") and not e.colors:
        check = EditCheck(aspect="instruction", action=e.action, object=e.head, phrase=e.phrase)
        b.add("object", f"The result matches the instruction: {e.text}", [], check, checkable=False)
    if e.action == "style":
        check = EditCheck(aspect="instruction", action=e.action)
        b.add("style", f"The image is restyled as asked: {e.text}", [], check, checkable=False)
        b.add("preservation", "The layout and content of the source are kept", ["diff"], EditCheck(aspect="structure"))
    else:
        check = EditCheck(aspect="outside_region")
        b.add("preservation", "Everything outside the edited region is preserved", ["diff"], check)
    _quality(b, edit=True)
    return b.criteria


def _edit_text_or_color(b: _Builder, e: _Edit, lower: str) -> None:
    """The text an edit writes (and the text it replaces), or the colour of what it adds or changes."""
    if e.action == "text":
        texts = quoted_texts(e.instruction)
        statement = f'The edited image shows the text "{texts[-1]}", spelled exactly'
        b.add("text", statement, ["ocr", "text_match"], TextCheck(text=texts[-1]), met=EXACT)
        if len(texts) > 1 and re.search(r"\bfrom\b|\breplace\b", lower):
            gone = TextCheck(text=texts[0], negated=True)
            b.add("text", f'The old text "{texts[0]}" is gone', ["ocr", "text_match"], gone)
    elif e.action in ("add", "recolor", "replace") and e.colors:
        check = EditCheck(
            aspect="changed_region_color", action=e.action, object=e.head, phrase=e.phrase, color=e.colors[-1]
        )
        done = "changed" if e.action != "add" else "added"
        b.add("color", f"The {done} {e.head or 'object'} is {e.colors[-1]}", ["diff", "palette"], check)


def _edit_made(b: _Builder, e: _Edit) -> None:
    """What the edit made, where the image changed ("add a red square" is not met by a red circle, nor
    "make the circle red" by a red square), or that what it removed is gone."""
    made = e.targets[-1] if e.action == "replace" and e.targets else e.target
    if e.action in ("add", "recolor", "replace") and made is not None and detectable(made.noun) not in (None, "any"):
        new_color = e.colors[-1] if e.colors else None
        name = " ".join(x for x in (new_color, made.noun) if x)
        made_by = {"action": e.action, "object": made.noun, "phrase": made.phrase, "detect": detectable(made.noun)}
        check = EditCheck(aspect="changed_object", color=new_color, **made_by)
        b.add("object", f"Where the image changed there is {article(name)} {name}", ["diff", "detect"], check)
    if e.action == "remove" and detectable(e.head) not in (None, "any"):
        # "Remove the purple triangle": only a purple triangle left behind counts against the edit
        color = e.target.color if e.target else None
        check = ObjectCheck(object=e.head, phrase=e.phrase, detect=detectable(e.head), negated=True, color=color)
        b.add("object", f"No {e.phrase} remains", ["detect"], check)


# 3. the synthesizer


@functools.lru_cache(maxsize=4096)
def _cached(prompt: str, edit: bool, library_version: str) -> tuple[Criterion, ...]:
    return tuple(synthesize_edit(prompt) if edit else synthesize_t2i(prompt))


def synthesize(prompt: str, *, edit: bool = False, library_version: str = "") -> list[Criterion]:
    """Criteria for a prompt (or an edit instruction), cached per (prompt, library version).

    Each is a shallow copy of the cached one: criteria and their checks are changed only by copying
    (`model_copy(update=...)`, as `apply_skills` does), and a deep copy of a long rubric cost some
    10 ms a judgment."""
    if not prompt.strip():
        raise ValueError("the prompt is empty: give the text the image was generated from")
    return [c.model_copy() for c in _cached(prompt, edit, library_version)]
