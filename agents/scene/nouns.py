"""The things a prompt names: which nouns are objects, their number, their attributes and their phrase."""

from __future__ import annotations

import functools
import re

from scrutiny.agents.scene.model import Entity, nlp
from scrutiny.agents.scene.words import (
    COLLECTIVE,
    COLOR_SHADES,
    COLOR_WORDS,
    MATERIALS,
    NOUN_ING,
    NUMBER_WORDS,
    POSITIONS,
    SIZES,
    STYLE_WORDS,
    VAGUE,
    WITHHELD,
)


def negated(t) -> bool:
    """Whether a token carries a "not" or "never" of its own ("not on the sofa", "is not black")."""
    return any(c.dep_ == "neg" for c in t.children)


def is_finite(t) -> bool:
    """A verb that makes the text a sentence: present tense or modal, or a past tense with a noun as its
    subject ("six fish swam"; but in "a white rose and ..." the tagger's "rose" has no noun subject)."""
    if t.tag_ in ("VBZ", "VBP", "MD"):
        return True
    verb = t.head if t.dep_ in ("aux", "auxpass") else t  # "a fox was running": the subject is the verb's
    subjects = ("nsubj", "nsubjpass") if verb is not t else ("nsubj",)
    return t.tag_ == "VBD" and any(c.dep_ in subjects and c.pos_ in ("NOUN", "PROPN", "PRON") for c in verb.children)


def participle_at(doc) -> int | None:
    """In a noun phrase read as "There is ...", where a participle that the tagger took for a noun
    follows its doer ("a horse galloping", "a kid playing football", "a baby crying"): the character
    offset to insert "that is " at; None where there is none."""
    for t in doc[1:]:
        word = t.text.lower()
        if not (word.endswith("ing") and len(word) > 5 and word not in NOUN_ING and t.tag_ in ("NN", "VBG")):
            continue
        if t.dep_ in ("acl", "relcl") or (t.tag_ == "VBG" and t.dep_ not in ("attr", "compound", "ROOT")):
            continue  # already read as what the thing does ("a bird flying")
        doer = doc[t.i - 1]
        if doer.tag_ not in ("NN", "NNS", "JJ") or doer.text.lower() in COLOR_WORDS:
            continue
        start = doer.i - 1
        while start > 0 and doc[start].tag_ == "JJ":
            start -= 1  # "a young boy running"
        if doc[start].tag_ not in ("DT", "CD") or _lemma_of_verb(word) == word:
            continue
        return t.idx
    return None


@functools.cache
def _lemma_of_verb(word: str) -> str:
    """The verb a participle comes from ("galloping": gallop), or the word itself if it is none."""
    return nlp()(f"they are {word}")[-1].lemma_.lower()


def number(token) -> int | None:
    text = token.text.lower().replace(",", "")
    if text.isdigit():
        return int(text) if 0 < int(text) < 1000 else None
    return NUMBER_WORDS.get(text)


def _noun(token) -> str:
    """The head noun, singular, with the compound nouns before it ("fire hydrant")."""
    if (name := token.doc.user_data.get("names", {}).get(token.idx)) is not None:
        return name  # a two-word name the parser saw as its last word ("fire hydrant")
    if token.pos_ == "PROPN":
        lemma = token.text
    else:
        lemma = token.lemma_.lower() if token.tag_ in ("NNS", "NNPS") else token.text.lower()
    parts = []
    for child in token.lefts:
        if (
            child.dep_ == "compound"
            and child.pos_ in ("NOUN", "PROPN")
            and child.text.lower() not in COLOR_WORDS
            and child.text.lower() not in MATERIALS
            and child.i >= token.i - 2
        ):
            parts.append(child.text.lower())
    return " ".join([*parts, lemma])


def adjacent_modifiers(t) -> list[str]:
    """The modifiers written right before a noun ("dramatic" in "8k, dramatic lighting"), not words
    the parser hung on it from across a comma."""
    mods, k = [], t.i - 1
    while k >= 0 and t.doc[k].head.i == t.i and t.doc[k].dep_ in ("amod", "compound", "nmod", "advmod"):
        mods.insert(0, t.doc[k].text.lower())
        k -= 1
    return mods


def mistagged_noun(t) -> bool:
    """A word with an article of its own ("an *oven* next to ...", "an *oven*, two dogs") is a noun the small
    tagger called an adjective: an adjective's article belongs to its noun."""
    if t.pos_ not in ("ADJ", "VERB", "ADV") or t.text.lower() in COLOR_WORDS:
        return False
    if any(c.dep_ == "det" and c.text.lower() in ("a", "an", "the") and c.i < t.i for c in t.children):
        return True
    # "an oven, two dogs": a comma, then a new phrase of the head's own (a number or an article); but
    # "a sleek, modern backdrop" is a list of adjectives
    if t.dep_ != "amod" or t.head.i <= t.i:
        return False
    commas = [w.i for w in t.doc[t.i + 1 : t.head.i] if w.text == ","]
    return bool(commas) and any(
        w.dep_ in ("nummod", "det") and w.head.i == t.head.i for w in t.doc[commas[-1] + 1 : t.head.i]
    )


def is_counted(t) -> bool:
    """`t` is plural or counted ("three paintings"): objects, not the medium of the image."""
    return t.tag_ in ("NNS", "NNPS") or any(c.dep_ == "nummod" for c in t.children)


def is_fragment(t) -> bool:
    """`t` heads a phrase set off by a comma ("a fox in a forest, *oil painting*")."""
    start = t.left_edge.i
    return (
        t.dep_ in ("conj", "appos", "npadvmod", "dobj", "dep")
        and start > 0
        and t.doc[start - 1].text in (",", ";", ":", "-")
    )


def of_object(t):
    """The noun after "of" that `t` heads ("a group of *dogs*", "a painting of a *fox*")."""
    for child in t.rights:
        if child.dep_ == "prep" and child.text.lower() == "of":
            obj = next((c for c in child.children if c.dep_ == "pobj"), None)
            if obj is not None and obj.pos_ in ("NOUN", "PROPN"):
                return obj
    return None


def measured_entity(t, by_index: dict[int, Entity]) -> Entity | None:
    """The entity a token names: itself, or for a measure word the noun it measures ("a stack of
    *books*", "a piece of *paper*")."""
    if t.i in by_index:
        return by_index[t.i]
    if t.lemma_.lower() in COLLECTIVE and (inner := of_object(t)) is not None:
        return by_index.get(inner.i)
    return None


def is_in_as(t) -> bool:
    """`t` is the object of "as a" / "in" a medium ("rendered as a watercolor", "in oil painting")."""
    return t.dep_ == "pobj" and t.head.text.lower() in ("as", "in") and t.head.head.pos_ in ("VERB", "AUX", "NOUN")


def _done_by_another(child) -> bool:
    """A verb in -ing the tagger hung on the noun after it, right after another noun: what that noun
    does to this one, never this one's state."""
    before = child.doc[child.i - 1] if child.i > 0 else None
    return child.tag_ == "VBG" and child.dep_ == "amod" and before is not None and before.pos_ in ("NOUN", "PROPN")


def entity_of(t) -> Entity:
    """The object a noun names: its head, number, count or quantity, negation, attributes and phrase."""
    e = Entity(
        noun=_noun(t),
        phrase="",
        plural=t.tag_ in ("NNS", "NNPS"),
        proper=t.pos_ == "PROPN",
        index=t.i,
    )
    modifiers = []
    for child in t.lefts:
        if _done_by_another(child):
            continue  # "a panda chewing bamboo": the panda chews; the bamboo is not "chewing"
        if not mistagged_noun(child) and not _counts_or_negates(e, child):  # a noun of its own ("an oven, two dogs")
            modifiers += _modifiers(e, child)
    if (e.count or 0) > 1 or e.quantity:
        e.plural = True  # "three chihuahuas", which the tagger may call singular
    if t.head.text.lower() == "without" and t.dep_ == "pobj":
        e.negated = True
    if t.head.text.lower() == "of" and t.head.head.text.lower() in ("none", "neither"):
        e.negated = True
    before = t.left_edge.i - 1
    if before >= 0 and t.doc[before].dep_ == "neg" and t.doc[before + 1].lower_ not in ("only", "just", "merely"):
        e.negated = True  # "a dog on the grass, not a cat"
    if t.dep_ == "dobj" and t.head.lemma_.lower() in WITHHELD and negated(t.head):
        e.negated = True  # "a man who is not wearing a hat": no hat
    if t.dep_ == "pobj" and t.head.lower_ == "of" and t.head.i > 0 and t.doc[t.head.i - 1].lower_ == "instead":
        e.negated = True  # "butterflies instead of musical notes": the notes are not there
    for child in t.rights:
        if child.dep_ == "amod" and child.text.lower() in COLOR_WORDS:  # "a car, red"
            add_attribute(e, child)
    compounds = set(e.noun.split()[:-1])
    words = [c.text.lower() for c in modifiers if c.text.lower() not in STYLE_WORDS]
    words += [c.text.lower() for c in t.lefts if c.dep_ == "compound" and c.text.lower() in compounds]
    head = t.text if t.pos_ == "PROPN" else t.text.lower()
    if (name := t.doc.user_data.get("names", {}).get(t.idx)) is not None:
        head = " ".join([*name.split()[:-1], head])  # "fire hydrants"
    e.phrase = " ".join([*dict.fromkeys(words), head])
    return e


def _counts_or_negates(e: Entity, child) -> bool:
    """A number ("three"), "no"/"neither" or a vague quantity ("several") before the noun, set on the
    entity; False for any other word."""
    word = child.text.lower()
    if child.dep_ == "nummod" or (child.dep_ in ("amod", "quantmod", "nmod") and number(child) is not None):
        n = number(child)
        hyphened = not child.whitespace_ and child.i + 1 < len(child.doc) and child.doc[child.i + 1].text == "-"
        if n is not None and not hyphened and not any(g.text.lower() in ("o'clock",) for g in child.rights):
            e.count = n  # not "an eight-ball", "a two-story house": a kind of thing, not how many
        return True
    if (child.dep_ == "det" and word in ("no", "neither")) or (child.dep_ == "neg" and word in ("not", "never")):
        e.negated = True  # "no cat", "a dog, not a cat"
        return True
    if child.dep_ in ("det", "amod") and word in VAGUE:
        e.quantity = "a few" if word == "few" else word
        return True
    return False


def _modifiers(e: Entity, child) -> list:
    """The attributes a word before the noun gives it ("light blue", "a green stop sign"), and the
    words of the noun's phrase it contributes."""
    word = child.text.lower()
    modifiers = []
    for grand in child.children:  # "light blue", "bright red and white"
        if grand.dep_ == "conj" and grand.text.lower() in COLOR_WORDS:
            add_attribute(e, grand)
        elif child.dep_ == "compound" and grand.i < child.i and _describes(grand):
            add_attribute(e, grand)  # "a green stop sign": the colour is the sign's
            modifiers.append(grand)
            for conj in grand.conjuncts:  # "black and white floor tiles": both the tiles'
                if conj.text.lower() in COLOR_WORDS:
                    add_attribute(e, conj)
                    modifiers.append(conj)
    if child.dep_ in ("amod", "compound", "nmod", "npadvmod") or (child.dep_ == "advmod" and word in COLOR_WORDS):
        add_attribute(e, child)
        if child.dep_ != "compound" or word in COLOR_WORDS or word in MATERIALS:
            modifiers.append(child)
    return modifiers


def _describes(t) -> bool:
    """An adjective, or a colour the tagger took for a noun, before a compound ("grey counter top")."""
    return t.dep_ == "amod" or (t.dep_ == "compound" and t.text.lower() in COLOR_WORDS)


def add_attribute(e: Entity, token) -> None:
    word = token.text.lower()
    if word in COLOR_SHADES and token.nbor(1).text.lower() not in COLOR_WORDS and token.head.pos_ in ("NOUN", "PROPN"):
        e.attributes.append(("state", word, word))  # "a dark forest" (but "dark red" is a colour's shade)
        return
    if word in COLOR_SHADES or word in STYLE_WORDS or word in POSITIONS or token.pos_ in ("DET", "NUM", "PRON", "ADP"):
        return
    if word in COLOR_WORDS:
        e.attributes.append(("color", COLOR_WORDS[word], word))
    elif word in MATERIALS:
        e.attributes.append(("material", word, word))
    elif word in SIZES:
        e.attributes.append(("size", word, word))
    elif token.pos_ in ("ADJ", "VERB") and token.dep_ != "compound" and re.fullmatch(r"[a-z][a-z-]+", word):
        e.attributes.append(("state", word, word))
