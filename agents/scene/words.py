"""The English the parser knows: number and colour words, materials, sizes, media, positions, relations."""

from __future__ import annotations

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

LETTERING = {"cursive", "calligraphy", "handwriting", "font", "typeface", "script", "lettering", "typography"}
LANGUAGES = {"english", "chinese", "japanese", "korean", "french", "spanish", "german", "italian", "latin"}
LANGUAGES |= {"arabic", "russian", "greek", "hindi", "portuguese", "dutch", "hebrew"}
LETTERING |= LANGUAGES
"""How words are written: "in calligraphy" or "says in English" is no place ('a card with "Hi" in gold
calligraphy')."""

COVERED = {"cover", "coat", "smear", "splatter", "cake", "encrust", "plaster", "drench"}
"""Verbs after which "in" says what is on a thing, not what it is inside ("covered in soot")."""


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


TIMES = {
    "night", "nighttime", "daytime", "daylight", "dusk", "dawn", "sunset", "sunrise", "twilight", "morning",
    "evening", "afternoon", "noon", "midnight", "midday",
}  # fmt: skip
"""When a scene is set ("a street at night"): a property of the whole image, not a thing in it."""
WEATHER = {"rain", "snow", "fog", "mist", "haze", "storm", "snowfall", "drizzle", "blizzard", "thunderstorm", "weather"}
"""The weather a scene is in ("a woman in the rain")."""
NOT_THINGS = {"position", "pose", "posture", "stance", "way", "manner", "style", "mood", "atmosphere", "vibe"}
"""Nouns of how something is or looks ("in a standing position"), never a thing to find."""


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
    "work",  # "a photographic work", "at work"
    "other",  # "one holding a heart, the other holding a bolt": the hand named before
    "others",
}


PAIRED = {"scissors", "pants", "trousers", "jeans", "shorts", "glasses", "spectacles", "sunglasses", "goggles"}
PAIRED |= {"binoculars", "tongs", "pliers", "tweezers", "shears", "leggings", "tights", "pajamas", "pyjamas"}
"""Things that are one, named in the plural: "a pair of scissors" is one pair, not two scissors."""


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
    "adjacent to": "next to",
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
    "on side of": "on",
    "at side of": "next to",
    "by side of": "next to",
}
"""Prepositions as written (without articles) → the relation they name."""


GARMENTS = {"dress", "gown", "shirt", "t-shirt", "tshirt", "blouse", "sweater", "jumper", "hoodie", "cardigan", "suit"}
GARMENTS |= {"tuxedo", "coat", "overcoat", "raincoat", "jacket", "blazer", "vest", "uniform", "costume", "outfit"}
GARMENTS |= {"robe", "kimono", "sari", "cloak", "cape", "apron", "overalls", "jeans", "pants", "trousers", "skirt"}
GARMENTS |= {"shorts", "bikini", "swimsuit", "pajamas", "pyjamas", "armor", "armour", "hat", "cap", "helmet", "hood"}
GARMENTS |= {"scarf", "tie", "bowtie", "glasses", "sunglasses", "goggles", "mask", "boots", "shoes", "sneakers"}
GARMENTS |= {"gloves", "mittens", "socks", "clothes", "clothing", "attire", "leather", "denim", "plaid", "sweatshirt"}
"""What a person wears: "a woman in a red dress" wears the dress (she is not inside it), and what a
phrase after the garment does ("a man in a suit standing by a car") the wearer does."""


WITHHELD = {"wear", "have", "hold", "carry"}
"""Verbs whose object is not there when they are denied ("not wearing a hat", "does not have a tail")."""


NOT_SPATIAL = {"of", "for", "about", "like", "as", "during", "after", "before", "since", "until", "than", "per"}
NOT_SPATIAL |= {"toward", "towards"}  # a direction ("leaning toward the right"), not where a thing is
NOT_SPATIAL |= {"from"}  # where a thing comes from ("a man from Paris"); after a verb, an action (below)

BODY_PARTS = {"hand", "arm", "lap", "head", "shoulder", "back", "mouth", "hair", "neck", "ear", "finger", "palm"}
BODY_PARTS |= {"knee", "lip", "nose", "chest", "foot", "paw", "beak", "tooth", "tail", "face", "wrist", "leg", "belly"}
"""Parts of a body: "in their hand", "on his lap" are where something the owner holds is, not where the owner is."""


PRONOUNS = {"it", "him", "her", "them", "they", "he", "she", "its", "their", "this", "that", "which", "who", "what"}


NOUN_ING = {"painting", "building", "drawing", "wedding", "ceiling", "clothing", "evening", "morning", "meeting"}
NOUN_ING |= {"setting", "landing", "railing", "opening", "ending", "feeling", "filling", "frosting", "icing"}
NOUN_ING |= {"topping", "stuffing", "dressing", "pudding", "carving", "engraving", "etching", "lighting", "clearing"}
NOUN_ING |= {"crossing", "parking", "housing", "siding", "awning", "offering", "sibling", "seedling", "dumpling"}
NOUN_ING |= {"sapling", "duckling", "earring", "shilling", "bedding", "netting", "packaging", "recording", "writing"}
"""Words in -ing that are things ("a house painting", "a tall building"), never a participle here."""


NEAR_WORDS = ("next", "close", "adjacent")
"""Words that say "near" with a "to" after them ("next to", "close to", "adjacent to")."""

PLACING = {"on", "onto", "upon", "above", "over", "below", "under", "beneath", "underneath", "beside", "near", "next"}
PLACING |= {"behind", "atop", "to", "at"}
"""Prepositions that place a thing relative to another ("a painting on the top of a rabbit")."""


STATES = {"motion", "tears", "awe", "surprise", "shock", "horror", "disbelief", "amazement", "wonder", "silence"}
STATES |= {"fear", "anger", "joy", "delight", "despair", "confusion", "thought", "peace", "harmony", "unison"}
STATES |= {"love", "pain", "agony", "ecstasy", "focus", "flight", "bloom", "action", "prayer", "meditation", "tear"}
"""What "in" + one of these says is how a thing is, not where ("a car in motion", "a boy staring in awe")."""

AIMED = {"look", "stare", "gaze", "glance", "point", "smile", "wave", "laugh", "shout", "bark", "aim", "peer", "glare"}
AIMED |= {"star"}  # the lemmatizer's "staring"
"""Verbs whose "at" names what they are aimed at, not where the doer is ("a dog looking at a ball")."""

DOINGS = {"wear", "hold", "carry", "smile", "walk", "run", "stand", "sit", "play", "eat", "drink", "ride", "watch"}
DOINGS |= {"talk", "laugh", "dance", "sing", "jump", "wave", "hug", "kiss", "sleep", "kneel", "lean", "cry", "swim"}
"""What only people and animals do: "they" doing it is the people or animals named before, not the trees."""

MADE = {"make", "carve", "build", "craft", "form", "sculpt", "weave", "construct", "compose", "forge", "mold", "mould"}
MADE |= {"cast", "knit", "fold", "shape", "assemble", "create", "fashion", "cut", "piece", "model", "sew"}
"""Verbs whose "of" / "from" / "out of" names a material ("a house made of candy", "carved from crystal")."""

NEAR_AGENT = {"surround", "flank", "border", "line", "encircle", "ring", "accompany", "guard", "frame", "circle"}
NEAR_AGENT |= {"park", "place", "seat", "moor", "dock", "position"}  # not "leave": "tracks left by the chickens"
"""Passive verbs whose doer is beside what they are done to ("a house surrounded by trees"), and verbs
of putting a thing somewhere, after which "by" says where ("a car parked by the river"); for any
other ("a cube illuminated by the sun", "a painting made by an artist") "by" names no place."""


PERSONAL = {"him": "person", "her": "person", "he": "person", "she": "person", "it": "thing", "them": "plural"}
POSSESSIVE_KIND = {"its": "thing", "his": "person", "her": "person", "their": "plural"}
"""What a possessive pronoun can stand for, as `PERSONAL` says for the others."""
PERSONAL |= {"they": "plural"}


SEEING = {"see", "observe", "notice", "find", "spot", "view", "witness"}
"""'We can see X' verbs of image captions: what is seen is the subject of where it is."""


MOTION = {"into"}

MAKING_MARKS = {"write", "draw", "paint", "scribble", "carve", "engrave", "print", "spray", "sketch", "chalk"}
"""Verbs whose place is where the work goes: in "a robot writing 'hello' on a blackboard" the word is on
the board, not the robot."""


ACTION_PREPS = {"for", "at", "into", "with", "to", "towards", "toward", "through", "over", "after", "from"}
"""Prepositions that, after a verb with no object, name what the action is done to."""


STATIVE = {"be", "have", "seem", "appear", "look", "say", "read", "show", "feature", "contain", "include", "depict"}
STATIVE |= {"spell", "title", "label", "call", "name", "can", "could", "would", "see"}
"""Verbs that are not an action anyone could be seen doing."""


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
