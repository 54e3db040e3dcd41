"""Where things are and what they do: predicate adjectives, prepositions and actions bound to objects."""

from __future__ import annotations

from scrutiny.agents.scene.model import Entity, Relation
from scrutiny.agents.scene.nouns import (
    add_attribute,
    measured_entity,
    negated,
    of_object,
)
from scrutiny.agents.scene.pronouns import antecedent_of, beside_owner, body_owner, own_body
from scrutiny.agents.scene.words import (
    ACTION_PREPS,
    AIMED,
    BODY_PARTS,
    COLLECTIVE,
    COLOR_WORDS,
    COVERED,
    DOINGS,
    FRAME,
    GARMENTS,
    GENERIC_MEDIA,
    LETTERING,
    MADE,
    MAKING_MARKS,
    MEDIA,
    MOTION,
    NEAR_AGENT,
    NEAR_WORDS,
    NOT_SPATIAL,
    PLACING,
    POSITIONS,
    RELATIONS,
    SEEING,
    STATES,
    STATIVE,
    TEXT_NOUNS,
)


def is_placed(t) -> bool:
    """A medium's noun placed relative to another thing ("a painting on the top of a rabbit", "a
    photo next to a lamp"): a thing in the picture, not what the picture is. A photo *of* something
    is what the picture is: "a photo of a dog to the right of a teddy bear" places the dog (GenEval's
    form; the tagger hangs the relation on "photo")."""
    if t.lemma_.lower() in GENERIC_MEDIA and any(c.dep_ == "prep" and c.lower_ == "of" for c in t.children):
        return False
    for c in t.children:
        if c.dep_ == "prep" and c.text.lower() in PLACING:
            key, end = relation_words(c)
            if end is None or end.lemma_.lower() in FRAME | MEDIA:
                continue
            if end.text.lower() not in POSITIONS or key.endswith(" of"):
                return True
    return False


def _classified(possessor, by_index: dict[int, Entity]) -> Entity | None:
    """What a possessive that names no one classifies ("a chef's top": the top), or None."""
    if possessor.dep_ == "poss" and possessor.i not in by_index:
        return by_index.get(possessor.head.i)
    return None


def owner_of(t, by_index: dict[int, Entity]) -> Entity | None:
    """The entity a modifier or predicate adjective describes."""
    if t.dep_ == "amod" and (classified := _classified(t.head, by_index)) is not None:
        return classified
    if t.head.i in by_index and t.dep_ in ("amod", "compound", "nmod", "conj", "appos"):
        return by_index[t.head.i]
    if t.dep_ == "amod" and t.head.dep_ == "compound" and t.head.head.i in by_index:
        return by_index[t.head.head.i]  # "a green stop sign"
    head = t.head
    while head.dep_ == "conj" and head.head.i != head.i:
        if head.head.i in by_index:
            return by_index[head.head.i]
        head = head.head
    if t.dep_ in ("acomp", "attr", "oprd") or (t.dep_ == "conj" and _conjunct_root(t).dep_ in ("acomp", "attr")):
        verb = t.head if t.dep_ != "conj" else _conjunct_root(t).head
        return subject_of(verb, by_index)
    if (held := _in_colour(_conjunct_root(t))) is not None:  # "a car in red color", "the plate is in brown color"
        return by_index.get(held.i) or (subject_of(held, by_index) if held.pos_ in ("VERB", "AUX") else None)
    return made_thing(t.head, by_index) if t.dep_ == "pobj" else None


def _in_colour(t):
    """What "in <colour> colour" hangs on ("in black and white colors"), or None."""
    noun = t.head
    if t.dep_ != "amod" or noun.lemma_.lower() not in ("color", "colour") or noun.dep_ != "pobj":
        return None
    return noun.head.head if noun.head.lower_ == "in" else None


def made_thing(prep, by_index: dict[int, Entity]) -> Entity | None:
    """What "of" / "from" / "out of" after a verb of making makes ("a statue made of gold": the statue);
    None for any other preposition."""
    verb = prep.head.head if prep.lower_ == "of" and prep.head.lower_ == "out" else prep.head
    if prep.dep_ != "prep" or prep.lower_ not in ("of", "from") or verb.pos_ != "VERB" or denied(verb):
        return None
    if verb.lemma_.lower() not in MADE:
        return None
    if verb.tag_ != "VBN" and (made := next((c for c in verb.children if c.dep_ == "dobj"), None)) is not None:
        return by_index.get(made.i)  # "a machine that makes coffee from souls": the coffee
    return subject_of(verb, by_index) if verb.dep_ not in ("acl", "relcl") else by_index.get(verb.head.i)


def _conjunct_root(t):
    """The first of a list joined by "and" or commas ("white, red, and black": white)."""
    while t.dep_ == "conj" and t.head.i != t.i:
        t = t.head
    return t


def bind_predicates(doc, by_index: dict[int, Entity]) -> None:
    """Predicate adjectives bind to their subject: "the sofa is red", "a cat that is black"."""
    for t in doc:
        if denied(_conjunct_root(t).head) or negated(t) or _next_to(t):
            continue  # "the cat is not black", "black, not white": nothing to bind (a "Not so" criterion says it)
        if t.dep_ in ("acomp", "oprd") or (t.dep_ == "conj" and _conjunct_root(t).dep_ in ("acomp", "oprd")):
            owner = owner_of(_conjunct_root(t) if t.dep_ == "conj" else t, by_index)
            if owner is not None and t.pos_ in ("ADJ", "NOUN", "VERB"):
                before = len(owner.attributes)
                add_attribute(owner, t)
                if len(owner.attributes) == before and t.text.lower() in COLOR_WORDS:
                    owner.attributes.append(("color", COLOR_WORDS[t.text.lower()], t.text.lower()))
        elif t.lower_ in COLOR_WORDS and t.i not in by_index and (t.dep_ == "pobj" or _in_colour(_conjunct_root(t))):
            owner = owner_of(t, by_index)  # "a statue made of gold", "the plate is in brown color"
            if owner is not None and not any(a[0] == "color" and a[2] == t.lower_ for a in owner.attributes):
                owner.attributes.append(("color", COLOR_WORDS[t.lower_], t.lower_))
        elif t.dep_ == "amod" and (owner := _classified(t.head, by_index)) is not None:
            add_attribute(owner, t)  # "a clean white chef's top": the top is white
        elif t.tag_ == "VBN" and t.dep_ == "ROOT" and any(c.dep_ == "auxpass" for c in t.children):
            if t.lemma_.lower() in MADE and any(
                c.dep_ == "prep" and c.lower_ in ("of", "from", "out") for c in t.children
            ):
                continue  # "the castle is made of ice": its material (`_material`), not "The castle is made"
            owner = subject_of(t, by_index)  # "the train is parked at a station"
            if owner is not None:
                add_attribute(owner, t)


def denied(verb) -> bool:
    """Whether a verb is negated ("is not", "does not wear"), or says what a negated verb was for ("did not
    look down to read a book": no reading): what it says is not asked for."""
    for _ in range(3):
        if verb.pos_ in ("VERB", "AUX") and negated(verb):
            return True
        if verb.dep_ not in ("xcomp", "advcl") or verb.head.i == verb.i:
            return False
        verb = verb.head
    return False


def subject_of(verb, by_index: dict[int, Entity]) -> Entity | None:
    """Who does what `verb` says: its subject, the noun it modifies, or the subject of the verb it is joined to."""
    for _ in range(4):
        subjects = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass", "expl")]
        for s in subjects:
            if s.i in by_index:
                return by_index[s.i]
            if s.text.lower() in ("that", "which", "who") and verb.dep_ == "relcl" and verb.head.i in by_index:
                return by_index[verb.head.i]  # "a sign that says ...": the sign
            if s.text.lower() in ("they", "he", "she", "it"):  # "... people skiing. They are holding poles"
                return antecedent_of(s, by_index, animate=verb.lemma_.lower() in DOINGS)
            if s.text.lower() in ("we", "i", "you", "one") and verb.lemma_.lower() in SEEING:
                seen = next((c for c in verb.children if c.dep_ in ("dobj", "attr") and c.i in by_index), None)
                if seen is not None:  # "in the background we can see railings": the railings
                    return by_index[seen.i]
            if s.dep_ == "expl":  # "there is a cat on the mat": the cat ("a stack of books": the books)
                for attr in (c for c in verb.children if c.dep_ in ("attr", "dobj")):
                    if (found := measured_entity(attr, by_index)) is not None:
                        return found
        if subjects:
            return None  # a pronoun or something not an object: never guess
        if verb.dep_ in ("acl", "relcl", "appos") and verb.head.i in by_index:
            return wearer(verb.head, by_index) or by_index[verb.head.i]
        if verb.dep_ in ("conj", "advcl", "xcomp", "pcomp") and verb.head.i != verb.i:
            verb = verb.head
            if verb.i in by_index:
                return by_index[verb.i]
            continue
        if verb.dep_ == "ROOT" and verb.pos_ in ("NOUN", "PROPN") and verb.i in by_index:
            return by_index[verb.i]
        return None
    return None


def worn(e: Entity) -> bool:
    """Whether an entity is something worn (`GARMENTS`: "a dress", "sunglasses")."""
    return e.noun in GARMENTS or e.phrase.split()[-1] in GARMENTS


def wearer(t, by_index: dict[int, Entity]) -> Entity | None:
    """Who wears the garment `t` names ("a man in a suit", "a man wearing a tie", "a man in a suit and
    a tie"), where a phrase after it hangs on the garment ("a man wearing a tie holding a beer": the man
    holds the beer); None for anything else."""
    if t.i not in by_index or not worn(by_index[t.i]):
        return None
    while t.dep_ == "conj" and t.head.i != t.i:
        t = t.head
        if t.i in by_index and not worn(by_index[t.i]):  # the tagger joins "a tie" to the man, not the suit
            wears = any(c.dep_ == "prep" and c.lower_ == "in" for c in t.children)
            return by_index[t.i] if wears else None
    if t.dep_ == "pobj" and t.head.lower_ == "in" and t.head.head.i in by_index:
        found = by_index[t.head.head.i]
        return None if worn(found) else found
    if t.dep_ == "dobj" and t.head.lemma_.lower() in ("wear", "dress"):
        found = subject_of(t.head, by_index)
        return None if found is None or worn(found) else found
    return None


def relation_words(prep) -> tuple[str, object]:
    """The relation a preposition starts, and the token it ends on: "to the left of the cat" →
    ("to left of", cat); "on the left" → ("on left", left)."""
    words = [prep.text.lower()]
    if prep.text.lower() in NEAR_WORDS:
        to = next((c for c in prep.children if c.dep_ == "prep"), None)
        if to is None:
            return " ".join(words), None
        prep, words = to, [*words, to.text.lower()]
    obj = next((c for c in prep.children if c.dep_ in ("pobj", "pcomp")), None)
    if obj is None:
        return " ".join(words), None
    if obj.text.lower() in POSITIONS and obj.text.lower() not in ("background",):
        sides = [c.text.lower() for c in obj.lefts if c.text.lower() in ("left", "right", "top", "bottom")]
        words.append(sides[-1] if sides and obj.text.lower() in ("side", "corner", "edge") else obj.text.lower())
        if any(c.text.lower() == "side" for c in obj.rights if c.dep_ == "compound"):
            words.append("side")
        of = next((c for c in obj.children if c.dep_ == "prep" and c.text.lower() == "of"), None)
        if of is not None:
            inner = next((c for c in of.children if c.dep_ == "pobj"), None)
            if inner is not None:
                return " ".join([*words, "of"]), inner
        return " ".join(words), obj
    return " ".join(words), obj


def relations_of(doc, by_index: dict[int, Entity]) -> list[Relation]:
    """Where things are (prepositions) and what they do (verbs), then the same place for the things
    joined to a subject by "and" or commas; none for a thing said to be absent ("there is no moat
    around the castle" asks for no moat, so never for one around it)."""
    out: list[Relation] = []
    for t in doc:
        out += _side_to(t, by_index) or _material(t, by_index) or _placement(t, by_index)
    for t in doc:  # actions: "an astronaut riding a horse", "chihuahuas running on the beach"
        if (action := _action(t, by_index) or _having(t, by_index)) is not None:
            out.append(action)
    found = out + _shared_places(out, doc, by_index)
    return [r for r in found if not (r.subject.negated or (r.object is not None and r.object.negated))]


def _side_to(t, by_index: dict[int, Entity]) -> list[Relation]:
    """ "a skateboard is right to a bird", "a cat left to a dog": right of, left of."""
    side = t.head
    if t.dep_ != "prep" or t.lower_ != "to" or side.lower_ not in ("left", "right"):
        return []
    end = next((c for c in t.children if c.dep_ == "pobj"), None)
    if side.dep_ in ("acl", "amod", "advmod") and side.head.i in by_index:
        subject = by_index[side.head.i]  # "a cat left to a dog"
    else:
        verb = side.head if side.dep_ in ("acomp", "advmod") else side if side.pos_ == "VERB" else None
        subject = subject_of(verb, by_index) if verb is not None else None  # "is left to bike": "left" a verb
    obj = by_index.get(end.i) if end is not None else None
    if subject is None or obj is None or obj is subject:
        return []
    return [Relation(subject, f"{side.lower_} of", obj)]


def _each_other(t, key: str, by_index: dict[int, Entity]) -> list[Relation]:
    """ "a cat and a dog next to each other": the first next to the others (it said nothing); things of
    one noun ("two dogs next to each other", "cups on top of each other") are so of each other. "with
    each other" ("gears mesh with each other") is no place."""
    subject = None if _said_of_a_pronoun(t) or key == "with" else _placed_subject(t, by_index)
    if subject is None:
        return []
    relation = _relation_named(key, t)
    others = [by_index[c.i] for c in t.doc[subject.index].conjuncts if c.i in by_index]
    return [Relation(subject, relation, o) for o in others] or (
        [Relation(subject, f"{relation} each other")] if subject.plural else []
    )


def _said_of_a_pronoun(t) -> bool:
    """Whether the verb a preposition hangs on, or the verb it is joined to, has a pronoun for its
    subject ("they are lying next to each other"): too unsure a guess for a relation between two."""
    verb = t.head
    for _ in range(4):
        if subjects := [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")]:
            return subjects[0].pos_ == "PRON"
        if verb.dep_ not in ("conj", "advcl", "xcomp") or verb.head.i == verb.i:
            return False
        verb = verb.head
    return False


def _material(t, by_index: dict[int, Entity]) -> list[Relation]:
    """ "a house made of candy", "a fox carved from crystal", "a dress made out of flowers": what a thing
    is made of (it read "The fox is from the crystal", or nothing)."""
    subject = made_thing(t, by_index)
    end = next((c for c in t.children if c.dep_ == "pobj" and c.i in by_index), None)
    if end is None or subject is None:
        return []
    return [Relation(subject, "made of", by_index[c.i]) for c in (end, *end.conjuncts) if c.i in by_index]


def _having(t, by_index: dict[int, Entity]) -> Relation | None:
    """ "a person has a hat", "the road has a bus": the two go together, as "a person with a hat"."""
    if t.lemma_.lower() != "have" or t.pos_ not in ("VERB", "AUX") or t.dep_ == "aux" or denied(t):
        return None
    obj = next((by_index[c.i] for c in t.children if c.dep_ == "dobj" and c.i in by_index), None)
    subject = subject_of(t, by_index) if obj is not None else None
    return None if subject is None or subject is obj else Relation(subject, "with", obj)


def _placement(t, by_index: dict[int, Entity]) -> list[Relation]:
    """The relations a preposition makes: a place in the frame ("on the left") or a place relative to
    another object ("to the left of the cat"), for each object it joins ("on a table and a chair")."""
    if not _says_a_place(t):
        return []
    key, end = relation_words(t)
    subject = None
    if end is None and (fronted := _fronted_pronoun(t, by_index)) is not None:
        subject, end = fronted
    if end is None or _is_backdrop(key, end):
        return []
    if end.lower_ == "other" and any(c.lower_ == "each" for c in end.children):
        return _each_other(t, key, by_index)
    subject = subject or _placed_subject(t, by_index)
    if subject is not None and t.head.pos_ in ("VERB", "AUX") and own_body(t, end, subject):
        if end.lower_ in POSITIONS:
            return []  # "carrying a library on its back": no place in the frame
        held = next((c for c in t.head.children if c.dep_ == "dobj" and c.i in by_index), None)
        subject = by_index[held.i] if held is not None else None  # "holding a donut in their hand": the donut
    if subject is None:
        return []
    if end.text.lower() in POSITIONS or end.lemma_.lower() in FRAME or end.lemma_.lower() in MEDIA:
        if any(c.dep_ == "poss" for c in end.children):
            return beside_owner(end, subject, by_index)
        where = _frame_place(key, end)
        return [] if where is None else [Relation(subject, where)]
    if end.i not in by_index and (inner := of_object(end)) is not None and end.lemma_.lower() in COLLECTIVE:
        end = inner  # "in front of a pile of books": the books
    obj = by_index.get(end.i) or antecedent_of(end, by_index, besides=subject)
    if obj is None or obj is subject or obj.phrase == subject.phrase:
        return []
    relation = _relation_named(key, t)
    if relation == "to":
        return []  # "a portal to another dimension", "walking to the house" (an action): no place
    side = next((c for c in t.children if c.dep_ == "pobj" and c.lemma_.lower() == "side"), None)
    if side is not None and any(c.lower_ in ("other", "far", "opposite") for c in side.children):
        return []  # "on the other side of the bus": beyond it, not on it
    if key == "with" and (owner := body_owner(end, by_index, obj)) is not None:
        subject = owner  # "a cactus in front of the pyramid with a hat on its head": the cactus's hat
    if relation == "on" and obj.noun == "background":
        return []
    if key == "in" and worn(obj) and not worn(subject):  # "a woman in a red dress": she wears it
        also = [*end.conjuncts, *(c for c in end.doc[subject.index].conjuncts if c.i > end.i)]  # "and a tie"
        garments = [obj] + [by_index[c.i] for c in also if c.i in by_index and worn(by_index[c.i])]
        return [Relation(subject, "wearing", g, action=True, verb="VBG") for g in garments]
    joined = any(c.dep_ == "cc" for w in (end, *end.conjuncts) for c in w.children)
    others = [by_index[c.i] for c in end.conjuncts if c.i in by_index] if joined else []
    if end.i not in by_index and end.lower_ in ("them", "they"):  # "a man and a dog. a cat next to them": both
        others = [by_index[c.i] for c in end.doc[obj.index].conjuncts if c.i in by_index and c.i != subject.index]
    if relation == "between" and not others and (cc := next((c for c in end.children if c.dep_ == "cc"), None)):
        others = [by_index[k] for k in range(cc.i + 1, min(cc.i + 5, len(end.doc))) if k in by_index][:1]
    if relation == "between" and others:  # "between a dog and a bed": next to each (one object cannot say it)
        relation = "next to"
    # "on a table and a chair"; not "in the air, Kodak, IMAX", a list of tags
    return [Relation(subject, relation, o) for o in (obj, *others)]


def _says_a_place(t) -> bool:
    """Whether a preposition can say where a thing is, before what it joins is looked at."""
    if t.dep_ not in ("prep", "agent") and not _next_to(t):
        return False
    if t.text.lower() in NOT_SPATIAL or (t.dep_ == "prep" and t.head.text.lower() in NEAR_WORDS):
        return False
    if t.dep_ == "agent" and t.head.tag_ == "VBN" and t.head.lemma_.lower() not in NEAR_AGENT:
        return False  # "illuminated by the sun": who does it, not where ("standing by a car" is a place)
    if t.lower_ == "at" and t.head.pos_ == "VERB" and t.head.lemma_.lower() in AIMED:
        return False  # "looking at a ball": an action (below), not a place
    covered = t.head.lemma_.lower() in COVERED and t.i > t.head.i  # not "In the room, the walls are covered …"
    if t.lower_ == "in" and (_state(t) or end_word(t) in LETTERING or covered):
        return False  # "a car in motion", "staring in awe", "written in calligraphy", "covered in soot"
    if t.text.lower() in MOTION and t.head.pos_ == "VERB":
        return False  # "crashing into a skyscraper": an action (below), not a place
    if t.lower_ in ("on", "onto", "across") and _marking(t.head):
        return False  # "writing 'hello' on a blackboard": the word is there, not the writer
    return not (negated(t) or denied(t.head))  # "the cat is not on the sofa": a place denied is never asked for


def _relation_named(key: str, t) -> str:
    """The relation a preposition's words name ("to the left of": left of)."""
    if key == "over" and any(c.lower_ == "all" for c in t.lefts):
        return "on"  # "scattered all over the ground": on it, not above it
    return RELATIONS.get(key, RELATIONS.get(key.replace(" side", ""), key))


def _next_to(t) -> bool:
    """ "next to" / "close to", however the tagger hangs it: "a cat next to a dog", "the dog is next to
    the cat" (there "next" is the verb's complement, which is a place, not a quality of the dog)."""
    return (
        t.dep_ in ("advmod", "acomp", "amod")
        and t.lower_ in NEAR_WORDS
        and any(c.dep_ == "prep" and c.lower_ == "to" for c in t.children)
    )


def end_word(prep) -> str:
    """The lemma of a preposition's object ("in gold calligraphy": calligraphy); "" where it has none."""
    return next((c.lemma_.lower() for c in prep.children if c.dep_ == "pobj"), "")


def _state(prep) -> bool:
    """ "in motion", "in tears", "in full bloom": how a thing is (`STATES`), said without an article."""
    end = next((c for c in prep.children if c.dep_ == "pobj"), None)
    return end is not None and end.lemma_.lower() in STATES and not any(c.dep_ in ("det", "poss") for c in end.children)


def _marking(verb) -> bool:
    """An active verb of writing or drawing ("a robot writing on a board"): its place is the work's.
    Passive ("runes engraved on the gate") places what was written."""
    return verb.pos_ == "VERB" and verb.lemma_.lower() in MAKING_MARKS and verb.tag_ != "VBN"


def _is_backdrop(key: str, end) -> bool:
    """ "on a white background": what the background is (a colour), not where the thing is; nor is
    "on fire" a place ("a house on fire": it burns)."""
    if key == "on" and end.lemma_.lower() == "fire" and not any(c.dep_ in ("det", "amod") for c in end.children):
        return True
    return end.lower_ in ("background", "backdrop") and key.split()[0] in ("on", "against", "over")


def _placed_subject(t, by_index: dict[int, Entity]) -> Entity | None:
    """What a preposition places: the noun it hangs on, what a text is on, a fronted noun, or what a
    place put first is ("on the left is a dog": the dog)."""
    if (inverted := _inverted(t, by_index)) is not None:
        return inverted
    head = t.head
    if head.pos_ == "PRON" and head.dep_ in ("dobj", "attr", "pobj") and head.head.pos_ in ("VERB", "AUX"):
        head = head.head  # 'a sign that says "HI" above a square': what the text is on
    if head.i not in by_index and head.lemma_.lower() in GENERIC_MEDIA | MEDIA and (inner := of_object(head)):
        head = inner  # "a photo of a dog to the right of a teddy bear": the dog
    aimed = head.pos_ == "VERB" and head.lemma_.lower() in AIMED and t.lower_ in PLACING | {"in", "inside"}
    aimed = aimed and end_word(t) not in BODY_PARTS  # "looked at the stars with sorrow on his face"
    if aimed and (seen := _aimed_at(head, t, by_index)) is not None:
        return seen  # "looking at the moon in the night sky": the moon is in the sky
    subject = measured_entity(head, by_index) or subject_of(head, by_index)
    fronted = next((c for c in t.children if c.dep_ == "npadvmod" and c.i in by_index), None)
    if fronted is not None:  # "person below traffic light": the tagger hangs the person on "below"
        subject = by_index[fronted.i]
    return subject


def _aimed_at(verb, place, by_index: dict[int, Entity]) -> Entity | None:
    """What a look is aimed at, where a place follows it ("looked up at the moon in the sky")."""
    at = next((c for c in verb.children if c.dep_ == "prep" and c.lower_ == "at" and c.i < place.i), None)
    end = next((c for c in at.children if c.dep_ == "pobj"), None) if at is not None else None
    return by_index.get(end.i) if end is not None else None


def _inverted(t, by_index: dict[int, Entity]) -> Entity | None:
    """The thing a fronted place is said of, "PLACE is THING" ("on the left side of the picture is an
    erupting volcano", "in the distance was the sea"): the complement of the "be" right after the
    place, where that "be" has no subject of its own."""
    after = t.right_edge.i + 1
    if after >= len(t.doc) or (t.i > t.head.i and t.head.lemma_ != "be"):
        return None
    be = t.doc[after]
    if be.lemma_ != "be" or any(c.dep_ in ("nsubj", "nsubjpass", "expl") and not _parted(c, t) for c in be.children):
        return None
    return next((measured_entity(c, by_index) for c in be.children if c.dep_ == "attr"), None)


def _parted(subject, place) -> bool:
    """Whether a comma parts a verb's subject from a place put before the verb: "a dog on a suitcase,
    next to it is a cat", where the tagger makes the dog the subject of "is"."""
    return subject.i < place.i and any(w.text in (",", ";") for w in subject.doc[subject.right_edge.i : place.i])


def _fronted_pronoun(t, by_index: dict[int, Entity]):
    """ "behind it is a plane": the tagger makes "it" the subject of "is" and leaves "behind" without
    an object. The thing after "is", and the pronoun the place is relative to; None for anything else."""
    after = t.right_edge.i + 1
    if after + 1 >= len(t.doc):
        return None
    pronoun, be = t.doc[after], t.doc[after + 1]
    if pronoun.pos_ != "PRON" or pronoun.dep_ != "nsubj" or pronoun.head.i != be.i or be.lemma_ != "be":
        return None
    thing = next((measured_entity(c, by_index) for c in be.children if c.dep_ == "attr"), None)
    return None if thing is None else (thing, pronoun)


def _frame_place(key: str, end) -> str | None:
    """The place in the frame a preposition names ("on the left": left), or None ("the left of ...")."""
    where = POSITIONS.get(end.text.lower(), "center")
    if end.text.lower() in ("side", "corner", "edge"):  # "on the right side": right
        where = next((POSITIONS[w] for w in key.split() if w in POSITIONS and w != end.text.lower()), where)
    if end.text.lower() in POSITIONS and key.split()[-1] == "of":
        return None
    if end.lemma_.lower() in FRAME | MEDIA:
        return next((POSITIONS[w] for w in key.split() if w in POSITIONS), None)
    return None if where == "side" else where  # "arm down to the side", "on either side": no side of the picture


def _action(t, by_index: dict[int, Entity]) -> Relation | None:
    """What a verb says someone does, to what ("riding a horse", "waiting for a coffee")."""
    reading = t.lemma_.lower() == "read" and any(
        c.dep_ == "dobj" and c.i in by_index and c.pos_ == "NOUN" and c.lemma_.lower() not in TEXT_NOUNS
        for c in t.children
    )
    looking = t.lemma_.lower() == "look" and any(c.dep_ == "prep" and c.lower_ == "at" for c in t.children)
    if t.pos_ != "VERB" or (t.lemma_.lower() in STATIVE and not (reading or looking)) or t.tag_ == "VBN" or denied(t):
        return None  # "a sign that reads ..." says something; "a man reading a newspaper" does something
    dobjs = [c for c in t.children if c.dep_ == "dobj"]  # "wearing a pair of sunglasses": the sunglasses
    obj = next((found for c in dobjs if (found := measured_entity(c, by_index))), None)
    if obj is None and any(c.dep_ in ("dobj", "ccomp", "xcomp") for c in t.children):
        return None  # its object is not a thing in the picture ("says something", "seems to")
    if obj is None and any(made_thing(c, by_index) for c in t.children):
        return None  # "a statue made from marble": what it is made of (`_material`), not a deed
    verb = " ".join([t.lower_] + [c.lower_ for c in t.children if c.dep_ == "prt"])  # "taking off", "staring out"
    if obj is None:  # "waiting for a coffee", "looking at the sky": the verb and its preposition
        for prep in (c for c in t.children if c.dep_ == "prep" and c.text.lower() in ACTION_PREPS):
            pobj = next((c for c in prep.children if c.dep_ == "pobj" and c.i in by_index), None)
            if pobj is not None:
                obj, verb = by_index[pobj.i], f"{verb} {prep.text.lower()}"
                break
    subject = subject_of(t, by_index)
    if subject is None or subject is obj or t.lemma_.lower() in SEEING:
        return None
    return Relation(subject, verb, obj, action=True, verb=t.tag_)


def _shared_places(found: list[Relation], doc, by_index: dict[int, Entity]) -> list[Relation]:
    """Where one of several things joined by "and" or commas is, the others are too ("a wall, a pole
    and trees in the background"; "a man and a dog next to a car", where the tagger hangs the place on
    the dog): those listed before the place's object, not those after it ("a man on a horse and a dog")."""
    out = []
    for r in found:
        if r.action:
            continue
        token = next((t for t in doc if t.i == r.subject.index), None)
        for conj in token.conjuncts if token is not None else ():
            if r.object is None:
                listed = conj.i > token.i
            else:  # an object named before the list ("behind them") is behind all of it
                listed = conj.i < r.object.index or r.object.index < token.i
            if conj.i in by_index and listed and by_index[conj.i] is not r.object:
                if worn(by_index[conj.i]) and not worn(r.subject):
                    continue  # "a man in a suit and a tie next to a car": the tie is his, not placed
                out.append(Relation(by_index[conj.i], r.relation, r.object))
    return out
