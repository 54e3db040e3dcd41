"""Whom a pronoun or a possessive stands for ("behind him", "on its left", "in their hand"), and whose
body a place is on."""

from __future__ import annotations

from scrutiny.agents.scene.model import Entity, Relation
from scrutiny.agents.scene.words import BODY_PARTS, PERSONAL, POSSESSIVE_KIND


def antecedent_of(
    t, by_index: dict[int, Entity], besides: Entity | None = None, kind: str | None = None, animate: bool = False
) -> Entity | None:
    """What a pronoun ("him", "it", "them") most likely refers to: an object named before it of the
    same kind (a person for him/her, a plural for them, one other thing for it), the nearest that
    was a sentence's subject ("A plane near the sea. It is white": the plane; "there is a meter" names
    one too) or else the nearest; None when unsure. Never `besides`, the thing the pronoun is said
    of, nor what is listed with it: in "bushes and trees behind them", "them" is neither. `kind`
    ("person", "plural", "thing") stands in for what the pronoun says (for "its", "his", "their"); an
    `animate` pronoun (the doer of "wearing", "holding") is a person or an animal where one fits."""
    kind = kind or PERSONAL.get(t.text.lower())
    if kind is None:
        return None
    from scrutiny.tools.coco import calibration_group, coco_class  # persons by name ("man", "chef")

    local = set()
    if besides is not None:
        local = {besides.index, *(c.i for c in t.doc[besides.index].conjuncts)}
    fitting, doers = [], []
    for e in sorted((e for e in by_index.values() if e.index < t.i and e.index not in local), key=lambda e: -e.index):
        known = coco_class(e.noun.split()[-1])
        person = known == "person" or (e.proper and known is None)  # "playing frisbee": no person named Frisbee
        thing = kind == "thing" and not person and not e.plural  # "it" is one thing
        listed = t.lower_ == "them" and any(c.i in by_index for c in t.doc[e.index].conjuncts)  # "a man and a dog"
        plural = e.plural or listed  # (not "they": a subject's group is too often things listed in passing)
        if (kind == "person" and person) or (kind == "plural" and plural) or thing:
            fitting.append(e)
        elif kind == "person" and known is None and not e.plural and t.doc[e.index].dep_ in ("nsubj", "ROOT"):
            doers.append(e)  # "a philosopher stands on Mars, Jupiter behind him": a doer no table names
    if animate and (alive := [e for e in fitting if e.proper or calibration_group(coco_class(e.noun) or "")]):
        fitting = alive  # "there are bushes behind the people. They are wearing shirts": the people
    subjects = [e for e in fitting if _named_subject(t.doc[e.index])]
    placed = [e for e in fitting if e.proper and _in_a_place(t.doc[e.index]) and coco_class(e.noun) != "person"]
    strong = [e for e in fitting if e not in placed]  # "of Mars", "in Paris": a name there is more likely a place
    return (subjects or strong or doers or placed or [None])[0]


def _in_a_place(t) -> bool:
    """Whether a noun names where something is: the object of a preposition, or a name set beside one
    ("in Florence, Italy")."""
    if any(c.dep_ == "compound" and c.pos_ == "NOUN" for c in t.children):
        return False  # "the historical figure Napoleon": a title, so a person
    listed = t.dep_ in ("appos", "conj", "npadvmod") and t.head.dep_ == "pobj" and t.head.pos_ == "PROPN"
    return t.dep_ == "pobj" or listed  # "the figure Napoleon" names a person, "Florence, Italy" a place


def _named_subject(t) -> bool:
    """Whether a noun is what its sentence is about: its subject or root, or what "there is" names."""
    if t.dep_ in ("ROOT", "nsubj", "nsubjpass"):
        return True
    return t.dep_ == "attr" and any(c.dep_ == "expl" for c in t.head.children)


def body_owner(thing, by_index: dict[int, Entity], entity: Entity) -> Entity | None:
    """Whose body a thing is on, where the prompt says so ("with a hat on its head": what "its" stands
    for); None where it does not."""
    for prep in (c for c in thing.children if c.dep_ == "prep"):
        part = next((c for c in prep.children if c.dep_ == "pobj" and c.lemma_.lower() in BODY_PARTS), None)
        owner = next((c for c in part.children if c.dep_ == "poss" and c.pos_ == "PRON"), None) if part else None
        if owner is not None and owner.lower_ in POSSESSIVE_KIND:
            return possessor(owner, by_index, entity)
    return None


def possessor(owner, by_index: dict[int, Entity], besides: Entity) -> Entity | None:
    """Whom a possessive stands for: the thing named ("the dog's left") or what "its", "his", "their"
    refers to, never `besides`."""
    kind = POSSESSIVE_KIND.get(owner.lower_)
    return by_index.get(owner.i) or (antecedent_of(owner, by_index, besides, kind) if kind else None)


def beside_owner(end, subject: Entity, by_index: dict[int, Entity]) -> list[Relation]:
    """ "a bear, on its left a sapling": left of the bear as the picture shows it, not at the left of
    the picture; "on its side", "at its top": nothing (a part of it, or a side the picture may not show)."""
    owner = next((c for c in end.children if c.dep_ == "poss"), None)
    side = end.lower_ if end.lower_ in ("left", "right") else None
    if owner is None or side is None:
        return []
    found = possessor(owner, by_index, subject)
    return [] if found is None or found is subject else [Relation(subject, f"{side} of", found)]


def own_body(t, end, subject: Entity) -> bool:
    """Whether a place is on the subject's own body ("in their hand", "on his lap", "on its back"):
    there is what the subject holds, never the subject ("a person holding a donut in their hand" is not
    in the hand). The pronoun must fit the subject: in "an owl stands on his shoulder" it is someone
    else's shoulder; "with their hands" is how, not where."""
    if t.lower_ not in ("in", "on", "around", "between", "under", "over", "inside", "across"):
        return False
    if end.lemma_.lower() not in BODY_PARTS:
        return False
    owner = next((c.lower_ for c in end.children if c.dep_ == "poss" and c.pos_ == "PRON"), None)
    from scrutiny.tools.coco import coco_class

    person = subject.proper or coco_class(subject.noun.split()[-1]) == "person"
    fits = {"his": person, "her": person, "its": not person and not subject.plural, "their": subject.plural or person}
    return fits.get(owner, False)
