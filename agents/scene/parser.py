"""`parse`: a prompt → its scene, in passes over spaCy's dependency parse."""

from __future__ import annotations

import re

from scrutiny.agents.scene.model import Entity, Scene, nlp
from scrutiny.agents.scene.nouns import (
    add_attribute,
    adjacent_modifiers,
    entity_of,
    is_counted,
    is_finite,
    is_fragment,
    is_in_as,
    mistagged_noun,
    number,
    of_object,
    participle_at,
)
from scrutiny.agents.scene.relations import (
    bind_predicates,
    is_placed,
    owner_of,
    relations_of,
)
from scrutiny.agents.scene.text import (
    PREFIX,
    for_the_tagger,
    mask_quotes,
    merge_names,
    plain,
    quoted_texts,
    split_tags,
    unescaped,
    unshouted,
    unwrap,
)
from scrutiny.agents.scene.words import (
    COLLECTIVE,
    COLOR_WORDS,
    CONTAINERS,
    FRAME,
    GARMENTS,
    GENERIC_MEDIA,
    LANGUAGES,
    LIGHT,
    LIGHTING_WORDS,
    MEDIA,
    NOT_THINGS,
    NUMBER_WORDS,
    PAIRED,
    POSITIONS,
    PRONOUNS,
    STYLE_WORDS,
    TEXT_NOUNS,
    TIMES,
    UNITS,
    WEATHER,
)


def parse(prompt: str) -> Scene:
    """The scene a prompt describes."""
    prompt = plain(unwrap(unescaped(prompt)))
    scene = Scene(texts=quoted_texts(prompt))
    lower = prompt.lower()
    scene.no_text = bool(re.search(r"\b(no|without) (text|words|letters|writing|captions?|watermarks?)\b", lower))
    masked, tags = split_tags(for_the_tagger(unshouted(mask_quotes(prompt))))
    scene.globals += [("tag", tag) for tag in tags]
    scene.words = len(re.findall(r"[A-Za-z]{2,}", masked))
    if not scene.words:
        return scene
    doc = _doc(masked)
    nouns = _Nouns()
    for t in doc:
        nouns.read(t, scene)
    scene.entities = nouns.entities()
    by_index = {e.index: e for e in scene.entities}
    _mark_lists(doc, by_index)
    _loose_colors_and_styles(doc, scene, by_index, nouns.media)
    bind_predicates(doc, by_index)
    scene.relations = relations_of(doc, by_index)
    _artists_and_styles(doc, masked, scene)
    for t in doc:
        if t.dep_ == "neg" and t.head.pos_ in ("VERB", "AUX"):
            clause = " ".join(w.text for w in t.head.subtree if not w.is_punct).strip()
            if clause:
                scene.negations.append(clause)
    seen: set[tuple[str, str]] = set()
    scene.globals = [g for g in scene.globals if g[1] and not (g in seen or seen.add(g))]
    return scene


def _mark_lists(doc, by_index: dict[int, Entity]) -> None:
    """Things listed together, each introduced by "a" or "an" ("a man and a woman", "a red car and a
    blue car"): several individuals, where "the man ... the woman" or "a man. A man ..." may be one."""
    for i, e in by_index.items():
        first = doc[i]
        while first.dep_ == "conj" or (first.dep_ == "appos" and first.conjuncts):  # "a man, a woman and a child"
            first = first.head
        listed = [t for t in (first, *first.conjuncts, *_listed_after(first)) if t.i in by_index and _introduced(t)]
        if len(listed) >= 2 and doc[i] in listed:
            e.listed = first.i


def _listed_after(t) -> list:
    """The rest of a comma list the tagger hung on its first item ("a man, a woman and a child")."""
    return [w for c in t.children if c.dep_ == "appos" and c.conjuncts for w in (c, *c.conjuncts)]


def _introduced(t) -> bool:
    return any(c.dep_ == "det" and c.lower_ in ("a", "an", "another") for c in t.children)


def _doc(masked: str):
    """The parse of the prompt: as a sentence, or, for a noun phrase, as "There is ..." (the tagger
    reads "a white rose and ..." alone with "rose" a verb), with "that is" before a participle that
    follows its doer ("a horse galloping"). Two-word names are merged first (`merge_names`)."""
    merged, names = merge_names(masked[:2000])
    doc = nlp()(merged)
    if (stranded := _stranded_verb(doc)) is not None:  # "a woman in a red dress looks at ...": "dress looks"
        at = stranded.idx
        doc = nlp()(merged[:at].rstrip() + ", " + merged[at:])
        names = {k + (1 if k >= at else 0): v for k, v in names.items()}
    if not any(is_finite(t) for t in doc) and doc[0].lower_ not in ("there", "this", "it"):
        doc = nlp()(PREFIX + merged)
        names = {k + len(PREFIX): v for k, v in names.items()}
        if (at := participle_at(doc)) is not None:  # "a horse galloping": "a horse that is galloping"
            text = doc.text[:at] + "that is " + doc.text[at:]
            doc = nlp()(text)
            names = {k + (len("that is ") if k >= at else 0): v for k, v in names.items()}
    doc.user_data["names"] = names
    return doc


def _stranded_verb(doc):
    """A present-tense verb the parser hung in a noun phrase, in a sentence with no verb at its root:
    "a woman in a red dress looks at the camera" parses "dress looks" as one noun. A comma before the
    verb (", looks") parses it as the sentence's verb. None where there is none."""
    if any(t.dep_ == "ROOT" and t.pos_ in ("VERB", "AUX") for t in doc):
        return None
    for t in doc[2:]:
        if t.tag_ in ("VBZ", "VBP") and t.dep_ in ("pobj", "compound", "dobj", "appos") and doc[t.i - 1].pos_ == "NOUN":
            return t
    return None


OWNED_KINDS = GARMENTS | {"nest", "bowl", "bed", "toy", "kennel", "hive", "den", "web", "drawing", "knife"}
"""Things a possessive often only classifies: "a chef's hat" is a kind of hat, "a bird's nest" a nest."""


def _kind_of_owner(t) -> bool:
    """Whether a possessive says what kind of thing its head is, not who is there: "a chef's hat", "a
    bird's nest" (an article of its own or none, a common noun, a thing of `OWNED_KINDS`). "The man's
    hat" names a man; "a novice player's level is lower than ..." compares the player."""
    if t.dep_ != "poss" or t.pos_ != "NOUN" or t.head.lemma_.lower() not in OWNED_KINDS:
        return False
    article = next((c.lower_ for c in t.children if c.dep_ == "det"), None)
    return article in (None, "a", "an") and any(c.dep_ == "case" for c in t.children)


def _style_of(t) -> bool:
    """Whether a noun names whose style a picture is in ("in the style of van gogh", "in the manner of
    studio ghibli"): the object of an "of" that hangs on "style" or "manner"."""
    while t.dep_ in ("compound", "conj", "appos") and t.head.i != t.i:
        t = t.head
    return t.dep_ == "pobj" and t.head.lower_ == "of" and t.head.head.lemma_.lower() in ("style", "manner")


class _Nouns:
    """The first pass: each noun is an object, a medium ("an oil painting of ..."), lighting, a measure
    of another noun ("a stack of books"), or nothing to check ("the left", "a photo")."""

    def __init__(self) -> None:
        self.found: dict[int, Entity] = {}
        self.measured: dict[int, tuple[int | None, str | None]] = {}
        self.measure_colors: dict[int, list] = {}  # "a brown piece of paper": the paper is brown
        self.media: set[int] = set()

    def read(self, t, scene: Scene) -> None:
        if not _candidate(t):
            return
        word, lemma = t.text.lower(), t.lemma_.lower()
        of_obj = of_object(t)
        if self._medium_or_light(t, word, lemma, of_obj, scene):
            return
        if _artist(t):
            return  # "by Greg Rutkowski": an artist's style, not something in the picture
        if _style_of(t):
            return  # "in the style of Wes Anderson": a style (a global criterion), not someone in the picture
        if _kind_of_owner(t):
            return  # "a chef's hat", "a bird's nest": a kind of hat or nest, no chef or bird
        if lemma in LANGUAGES and t.dep_ == "pobj" and t.head.lower_ == "in":
            return  # "says in English": the language the words are in
        if lemma in FRAME and (mods := adjacent_modifiers(t)):
            scene.globals.append(("medium", " ".join([*mods, word])))  # "a vector image", "an aerial view"
            return
        named = any(c.dep_ == "compound" for c in t.lefts)  # "a counter top", "the table top": a thing
        if (
            lemma in FRAME
            or lemma in UNITS
            or lemma in TEXT_NOUNS
            or lemma in NOT_THINGS
            or (word in POSITIONS and word != "background" and not named)
        ):
            return
        if lemma in COLLECTIVE and of_obj is not None and self._measure(t, lemma, of_obj):
            return
        if word in COLOR_WORDS and t.dep_ in ("amod", "acomp") and t.head.pos_ in ("NOUN", "PROPN"):
            return  # "a red orange": a colour the tagger called a noun
        if t.dep_ in ("npadvmod",) and lemma in UNITS:
            return
        self.found[t.i] = entity_of(t)

    def _medium_or_light(self, t, word: str, lemma: str, of_obj, scene: Scene) -> bool:
        """A medium ("an oil painting of a fox") or lighting ("dramatic lighting"): a whole-image
        property, not an object."""
        if (
            lemma in MEDIA
            and not is_counted(t)
            and not is_placed(t)
            and (t.dep_ in ("ROOT", "appos", "attr", "dobj") or of_obj is not None or is_in_as(t) or is_fragment(t))
        ):
            self.media.add(t.i)
            mods = adjacent_modifiers(t)
            if mods or lemma not in GENERIC_MEDIA:  # "a photo of ..." is how prompts start, not a request
                scene.globals.append(("medium", " ".join([*mods, word])))
            return True
        if (lemma in TIMES or lemma in WEATHER) and t.dep_ == "pobj":  # "at night", "in the rain"
            scene.globals.append(("time" if lemma in TIMES else "weather", lemma))
            return True
        if lemma in LIGHT or (lemma == "light" and any(c.text.lower() in LIGHTING_WORDS for c in t.lefts)):
            if mods := adjacent_modifiers(t):
                scene.globals.append(("lighting", " ".join(mods)))
            return True
        return False

    def _measure(self, t, lemma: str, of_obj) -> bool:
        """A measure word ("a pair of shoes", "a group of dogs", "a plate of food"): the count or
        quantity of the noun after "of". True when the measure word is not an object itself."""
        n = NUMBER_WORDS.get(lemma) if lemma in ("pair", "couple", "dozen") else None
        vague = None if n else (f"a {lemma} of" if lemma not in CONTAINERS else None)
        counted = next((number(c) for c in t.lefts if c.dep_ == "nummod"), None)
        if lemma == "pair" and of_obj.lower_ in PAIRED:
            n = counted  # "a pair of scissors" is one thing; "two pairs of jeans", two
        elif n and counted:
            n *= counted
        self.measured[of_obj.i] = (n, vague)
        if lemma in CONTAINERS:
            return False  # a plate is a thing in the picture too
        self.measure_colors[of_obj.i] = [c for c in t.lefts if c.dep_ == "amod" and c.text.lower() in COLOR_WORDS]
        return True

    def entities(self) -> list[Entity]:
        """The objects, with the counts and colours their measure words gave them; a background only with a colour."""
        for i, (n, vague) in self.measured.items():
            if i in self.found:
                e = self.found[i]
                e.count = e.count or n
                if e.count is None:
                    e.quantity = e.quantity or vague
                for color in self.measure_colors.get(i, []):
                    add_attribute(e, color)
        return [e for e in self.found.values() if not (e.noun == "background" and not e.color)]


def _candidate(t) -> bool:
    """A noun that may name something: not a noun modifying another ("a vintage photo"), not a colour
    ("a picture in red"), not a pronoun."""
    if t.pos_ not in ("NOUN", "PROPN") and not mistagged_noun(t):
        return False
    coordinated = any(c.dep_ == "cc" for c in t.children)  # "a red apple and yellow bananas"
    if t.dep_ == "compound" or (
        t.dep_ in ("amod", "nmod") and t.head.i > t.i and not mistagged_noun(t) and not coordinated
    ):
        return False
    word = t.text.lower()
    if word in COLOR_WORDS and not any(c.dep_ == "det" for c in t.children):
        return False
    return bool(re.fullmatch(r"[a-z][a-z'-]*", word)) and word not in PRONOUNS


def _loose_colors_and_styles(doc, scene: Scene, by_index: dict[int, Entity], media: set[int]) -> None:
    """Colours of no object ("red and blue", "mostly red") and style words not about a medium."""
    for t in doc:
        word = t.text.lower()
        if word in COLOR_WORDS and t.pos_ in ("ADJ", "NOUN") and t.i not in by_index:
            owner = owner_of(t, by_index)
            if owner is None and not any(word == w for *_, w in _all_attrs(scene)):
                if t.head.i not in media and t.dep_ != "compound":
                    value = COLOR_WORDS[word]
                    if (value, word) not in scene.colors:
                        scene.colors.append((value, word))
        if word in STYLE_WORDS and t.head.i not in media:
            scene.globals.append(("style", word))


STYLE_PHRASE = re.compile(
    r"\bstyle of ([\w\s.'-]{2,40}?)(?=[,.;]|$)|\bin (?:the |a |an )?(?!the\b|style\b)([\w\s-]{2,40}?) style\b|\b([\w-]+)-style\b",
    re.I,
)
"""'in the style of X', 'in X style', 'X-style'."""


WORKS = MEDIA | GENERIC_MEDIA | {"art", "artwork", "render", "poster", "cover", "print"}
"""What an artist's credit follows ("art by charles vess", "a photo by annie leibovitz")."""


def _artist(t) -> bool:
    """Whether a noun names who made the picture: "by Greg Rutkowski", or a credit after a comma or a
    work however it is cased (", by kyle thompson,", "illustration by james jean")."""
    if t.dep_ != "pobj" or t.head.lower_ != "by" or any(c.dep_ in ("det", "poss") for c in t.children):
        return False
    after = t.head.i > 0 and (t.doc[t.head.i - 1].text == "," or t.head.head.lemma_.lower() in WORKS)
    return t.pos_ == "PROPN" or (after and any(c.dep_ == "compound" for c in t.children))  # "art by charles vess"


def _artists_and_styles(doc, masked: str, scene: Scene) -> None:
    """'by Greg Rutkowski' (an artist's style) and the style phrases (`STYLE_PHRASE`)."""
    for t in doc:
        if t.text.lower() == "by" and t.dep_ in ("prep", "agent"):
            name = next((c for c in t.children if _artist(c)), None)
            if name is not None:
                words = [c.text for c in name.lefts if c.dep_ == "compound"] + [name.text]
                scene.globals.append(("style", "by " + " ".join(words)))
    for m in STYLE_PHRASE.finditer(masked):
        scene.globals.append(("style", next(g for g in m.groups() if g).strip().lower()))


def _all_attrs(scene: Scene):
    for e in scene.entities:
        yield from e.attributes
