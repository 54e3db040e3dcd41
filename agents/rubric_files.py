"""Rubric files and plain statements: a JSON or YAML list of criteria, each a string read by the
prompt parser or an object with `Criterion` fields, marked `given`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from scrutiny.agents.rubric import synthesize_t2i
from scrutiny.core.schema import Criterion, ObjectCheck, TextCheck


def from_statement(statement: str, id: str) -> list[Criterion]:
    """A rubric's plain statement as typed criteria, read by the prompt parser.

    One thing checked ("The sign reads "OPEN"", "There are three cats") keeps the statement and id;
    several ("a red car left of a dog") become one criterion each (`id_1`, `id_2`, ...); nothing the
    parser recognises stays a judgment only a model can make. An object's mere presence is dropped
    when the statement says more about it.
    """
    found = [  # a statement about some text says nothing about other text
        c
        for c in synthesize_t2i(statement)
        if c.dimension != "quality" and not (isinstance(c.check, TextCheck) and c.check.allowed)
    ]
    specific = [
        c for c in found if not (isinstance(c.check, ObjectCheck) and c.check.count is None and not c.check.negated)
    ]
    if any(c.dimension == "text" for c in specific):
        found = specific
    else:
        named = {getattr(c.check, k, None) for c in specific for k in ("object", "subject")}
        found = [c for c in found if c in specific or c.check.object not in named]
    if not found:
        return [Criterion(id=id, statement=statement.strip(), origin="given", checkable=False)]
    if len(found) == 1:
        return [found[0].model_copy(update={"id": id, "statement": statement.strip(), "origin": "given"})]
    return [c.model_copy(update={"id": f"{id}_{n}", "origin": "given"}) for n, c in enumerate(found, 1)]


def load_rubric(path: str | Path) -> list[Criterion]:
    """Read a rubric file: a JSON or YAML list of criteria (strings or objects), marked `given`.

    A plain string is read by the same parser as prompts (`from_statement`): "The sign reads "OPEN""
    becomes a text criterion. An object may set any `Criterion` field (`id`, `statement`, `dimension`,
    `weight`, `check`, `met`; the version-1 `params` is read too).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rubric file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"rubric file {path} is not UTF-8 text; save it as UTF-8") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(
            f"rubric file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"rubric file {path} must hold a non-empty list of criteria")
    items, parsed = [], []
    for i, item in enumerate(data, 1):
        if isinstance(item, str) and item.strip():
            parsed += from_statement(item, f"given_{i}")
            continue
        if not isinstance(item, dict):
            raise ValueError(f"rubric file {path}: item {i} must be a non-empty string or an object")
        items.append({"id": f"given_{i}", "dimension": "custom", **item, "origin": "given"})
    try:
        return parsed + TypeAdapter(list[Criterion]).validate_python(items)
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(
            f"rubric file {path}: item {err['loc'][0] + 1}, {'.'.join(map(str, err['loc'][1:]))}: {err['msg']}"
        ) from None
