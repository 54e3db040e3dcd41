"""The prompt's text before parsing: quoted text to render, masks, prompt-engineering tags, two-word names."""

from __future__ import annotations

import html
import re

QUOTE_PATTERNS = [
    r'"([^"]+)"',
    r"“([^”]+)”",
    r"‘([^’]+)’",
    r"«([^»]+)»",
    r"„([^“”]+)[“”]",
    r"(?<![\w'])'([^'\s](?:[^']*[^'\s])?)'(?![\w])",
]


PAIRS = {'"': '"', "“": "”", "‘": "’", "«": "»", "„": "“", "'": "'"}
DESCRIBING = {"a", "an", "the", "this", "two", "three", "four", "five", "some", "several", "many"}


def unwrap(prompt: str) -> str:
    """A whole prompt in one pair of quotes is the prompt, not text to render, where what is inside
    reads as a description (three words or more after a determiner, or ten or more with "a" or "of"
    among them, and not a title in capitals): datasets and users quote whole prompts ('“a painting of
    a dark room with bookshelves, artstation”'), and reading one as text asks for the prompt written
    in the picture. A quoted message or title ('"OPEN"', '"Happy Birthday Grandma, we love you"',
    '"The Lord of the Rings"') stays text."""
    stripped = prompt.strip().rstrip(".")
    if len(stripped) < 3 or stripped[0] not in PAIRS or stripped[-1] != PAIRS[stripped[0]]:
        return prompt
    inside = stripped[1:-1].strip()
    if stripped[0] in inside or PAIRS[stripped[0]] in inside or not inside:
        return prompt  # more than one quoted span: '"OPEN" and "CLOSED"'
    words = inside.split()
    titled = sum(w[0].isupper() for w in words) >= 0.6 * len(words)  # "The Lord of the Rings": a title
    describes = (words[0].lower() in DESCRIBING and len(words) >= 3) or (
        len(words) >= 10 and re.search(r"\b(a|an|of)\b", inside.lower()) is not None
    )
    return inside if describes and not titled else prompt


NEGATIVE = re.compile(r"\n\s*negative prompt\s*:.*", re.I | re.S)
NETWORKS = re.compile(r"<(?:lora|lyco|hypernet|embedding|lycoris|ti):[^>]*>", re.I)
WEIGHTED = re.compile(r"\(([^():]+):\s*-?[\d.]+\s*\)")
EMPHASIS = re.compile(r"[()\[\]{}]+")
ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});")


def unescaped(prompt: str) -> str:
    """HTML entities as the characters they stand for: scraped prompts carry them ('a sign that says
    &quot;OPEN&quot;' had lost its text, 'a cat &amp; a dog' asked for "amp")."""
    return ENTITY.sub(lambda m: html.unescape(m.group(0)), prompt) if "&" in prompt else prompt


def plain(prompt: str) -> str:
    """The prompt without generator syntax, outside quoted text: what follows a "Negative prompt:"
    line (Automatic1111's infotext), LoRA and embedding tags (`<lora:name:0.8>`), weights
    (`(a red car:1.3)`), emphasis brackets (`((best quality))`, `[red]`) and hashtags; Midjourney's
    `--no X` reads "without X" (its other parameters, `--ar 16:9`, stay tags of the whole image). A
    prompt pasted from a generator's settings asks for what it describes."""
    prompt = NEGATIVE.sub("", prompt)
    spans = _quote_spans(prompt)
    out, at = [], 0
    for start, end, _ in [*spans, (len(prompt), len(prompt), "")]:
        part = NETWORKS.sub(" ", prompt[at:start])
        part = EMPHASIS.sub(" ", WEIGHTED.sub(r" \1 ", part))
        part = re.sub(r"(?<!\S)--no\s+", " without ", part)
        part = re.sub(r"(?<!\S)#\w+", " ", part)  # "#cars #photography": hashtags, not things asked for
        out += [re.sub(r"[ \t]+", " ", part), prompt[start:end]]
        at = end
    return "".join(out).strip()


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


def mask_quotes(prompt: str) -> str:
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


def for_the_tagger(text: str) -> str:
    """Words the tagger misreads, in words it reads (quoted text is masked before this):
    - "side by side": it took "circles side" for a noun and "by side" for a doer or a side of the
      picture. "side by side with a jar" is "next to a jar"; otherwise "next to each other".
    - a resolution "4K": it split it into a count of 4 ("There are exactly 4 k photo"); "4k" it
      reads as one word, a prompt tag.
    - a request ("Generate a photo: ...", "Draw a cat", "Photo generated: ..."): "Generate" and
      "Draw" were things to show; what is asked for ("a photo") stays."""
    text = unrequested(text)
    text = re.sub(r"\b(\d{1,2}) ?K\b", r"\1k", text)
    text = re.sub(r"\bside[- ]by[- ]side with\b", "next to", text, flags=re.IGNORECASE)
    return re.sub(
        rf"\bside by side\b|\bside-by-side(?={AFTER_A_PLACE})", "next to each other", text, flags=re.IGNORECASE
    )


REQUESTING = (
    r"^\s*(?:please\s+)?(?:generate|generating|create|draw|design|make|produce|render|paint|depict|show)(?: me)?\b"
)
REQUEST = re.compile(
    REQUESTING + r"\s*(?=(?:a|an|the|some|one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b)", re.I
)
ASKED = re.compile(
    REQUESTING + r"\s*([^:]{0,60}):\s*(.+)$|^\s*(photo|image|picture) generated\s*:\s*(.+)$", re.I | re.S
)
"""A request ("Draw a cat"), and one before a colon ("Generate a photographic work: a chess piece ..."),
which is read as what follows and then what was asked for ("... . a photographic work")."""


def unrequested(text: str) -> str:
    if (m := ASKED.match(text)) is not None:
        asked, rest = (m.group(1), m.group(2)) if m.group(2) is not None else (m.group(3), m.group(4))
        return f"{rest.rstrip(' .')}. {asked.strip()}." if asked.strip() else rest
    return REQUEST.sub("", text)


AFTER_A_PLACE = (
    r"\s*(?:[,.;:!?)]|$)|\s+(?:on|in|at|and|under|near|along|beside|against|across|inside|atop|over|below)\b"
)
"""What may follow "side-by-side" said of where things are; before a noun ("two side-by-side buttons")
it describes the noun and is left as it is."""


def unshouted(text: str) -> str:
    """A prompt written in capitals, in lower case ("GUY WITH UMBRELLA HAT SITTING AT A TABLE"): there
    case tells the tagger nothing, and it took "BUS" for a name and "HAT" for a verb's subject. Quoted
    text is masked before this, so what is to be written keeps its case."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    shouted = [w for w in words if w.isupper()]
    return text.lower() if len(words) >= 3 and len(shouted) >= 0.8 * len(words) else text


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


def split_tags(text: str) -> tuple[str, list[str]]:
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


def merge_names(text: str) -> tuple[str, dict[int, str]]:
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
