"""How a function takes its arguments, read once from its signature: for callers that accept user
functions of several conventions (a reward with or without `metadata`, with `only_strict` by name,
by position or not at all)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CallShape:
    positional: int
    """Parameters that can be given by position (not counting `*args`)."""
    var_positional: bool
    """It takes `*args`."""
    names: frozenset[str]
    """Every parameter's name."""
    var_keyword: bool
    """It takes `**kwargs`."""

    def takes_positional(self, n: int) -> bool:
        """Whether it can be called with `n` positional arguments."""
        return self.var_positional or self.positional >= n

    def takes_keyword(self, name: str) -> bool:
        return self.var_keyword or name in self.names


def call_shape(fn: Callable) -> CallShape | None:
    """The shape of `fn`'s parameters; None where Python cannot say (some builtins and C extensions)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    return CallShape(
        positional=sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params),
        var_positional=any(p.kind == p.VAR_POSITIONAL for p in params),
        names=frozenset(p.name for p in params),
        var_keyword=any(p.kind == p.VAR_KEYWORD for p in params),
    )
