"""Skills as data: a folder per skill with `SKILL.md` (YAML front matter and a markdown body) and
an optional `params.json` (criterion weights per dimension, thresholds).

    ---
    name: text-rendering
    kind: rubric                       # rubric | procedure | tool-prompt
    description: Check that text is spelled exactly as quoted.
    when_to_use: The prompt quotes text to render.
    version: 1
    ---
    Read every piece of text ...

`params.json` may hold `weights` ({dimension: factor} applied to criteria of that dimension),
`met` ({dimension: threshold} below which a criterion counts as unmet), `thresholds`
(`presence_share`, `collateral_tolerance`: how the offline policy turns measurements into scores)
and `always` (the router picks the skill for every task). The library's version is a hash of its content, so two equal
libraries have the same version and any version recorded in the store can be restored.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scrutiny.core.schema import Dimension

BUILTIN = Path(__file__).resolve().parent / "library"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DIMENSIONS = set(get_args(Dimension))


class SkillError(ValueError):
    """A skill folder that cannot be used; the message names the file and the problem."""


class Thresholds(BaseModel):
    """How the offline policy turns measurements into scores (None: its default)."""

    model_config = ConfigDict(extra="forbid")

    presence_share: float | None = Field(default=None, gt=0.0, le=1.0)
    """The image share at which a colour with no detectable object is fully present."""
    collateral_tolerance: float | None = Field(default=None, gt=0.0, le=1.0)
    """Changed pixels outside an edit, as a share of that area, at which preservation is 0."""


class SkillParams(BaseModel):
    """What a skill does to the criteria of the tasks it is routed to."""

    model_config = ConfigDict(extra="forbid")

    always: bool = False
    """The router picks the skill for every task."""
    weights: dict[Dimension, float] = Field(default_factory=dict)
    """Factor on the weight of every criterion of a dimension."""
    met: dict[Dimension, float] = Field(default_factory=dict)
    """The score from which a criterion of a dimension counts as met."""
    thresholds: Thresholds = Field(default_factory=Thresholds)

    def dump(self) -> dict[str, Any]:
        """The params as `params.json` holds them: only what is set."""
        return self.model_dump(exclude_defaults=True)

    def __bool__(self) -> bool:
        return bool(self.dump())

    def touches(self, dimensions: set[str]) -> bool:
        """Whether these params change a criterion of one of `dimensions` (thresholds: any rubric)."""
        return bool((set(self.weights) | set(self.met)) & dimensions) or bool(
            self.thresholds.model_dump(exclude_none=True)
        )


class Skill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["rubric", "procedure", "tool-prompt"]
    description: str
    when_to_use: str
    version: int | str = 1
    body: str = ""
    params: SkillParams = Field(default_factory=SkillParams)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a safe skill name (lower-case letters, digits and '-', at most 64)")
        return name

    def text(self) -> str:
        return f"## {self.name}\n{self.description}\n{self.body.strip()}"


def load_skill(folder: Path) -> Skill:
    path = folder / "SKILL.md"
    if not path.is_file():
        raise SkillError(f"{folder}: no SKILL.md")
    text = path.read_text()
    match = re.match(r"^---\n(.*?)\n---\n?(.*)$", text, re.S)
    if not match:
        raise SkillError(f"{path}: must start with YAML front matter between '---' lines")
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as e:
        raise SkillError(f"{path}: bad YAML front matter: {str(e).splitlines()[0]}") from None
    if not isinstance(front, dict):
        raise SkillError(f"{path}: the front matter must be a mapping")
    params: dict[str, Any] = {}
    if (folder / "params.json").is_file():
        try:
            params = json.loads((folder / "params.json").read_text())
        except json.JSONDecodeError as e:
            raise SkillError(f"{folder / 'params.json'}: not JSON ({e.msg})") from None
    try:
        skill = Skill(**front, body=match.group(2), params=params)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "front matter"
        raise SkillError(f"{path}: {where}: {err['msg']}") from None
    if skill.name != folder.name:
        raise SkillError(f"{path}: name {skill.name!r} differs from its folder {folder.name!r}")
    return skill


@dataclass
class SkillLibrary:
    skills: dict[str, Skill]

    @classmethod
    def load(cls, folder: str | Path) -> SkillLibrary:
        folder = Path(folder)
        if not folder.is_dir():
            raise SkillError(f"{folder}: no such skill library folder")
        skills = [load_skill(sub) for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith(".")]
        return cls({s.name: s for s in skills})

    @classmethod
    def builtin(cls) -> SkillLibrary:
        return cls.load(BUILTIN)

    @classmethod
    def from_json(cls, data: str) -> SkillLibrary:
        return cls({s["name"]: Skill(**s) for s in json.loads(data)})

    def to_json(self) -> str:
        return json.dumps(
            [s.model_dump() | {"params": s.params.dump()} for s in sorted(self.skills.values(), key=lambda s: s.name)],
            sort_keys=True,
        )

    @property
    def version(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def save(self, folder: str | Path) -> None:
        """Write the library as folders (replacing what is there)."""
        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        for skill in self.skills.values():
            sub = folder / skill.name
            sub.mkdir(parents=True)
            front = yaml.safe_dump(
                {
                    "name": skill.name,
                    "kind": skill.kind,
                    "description": skill.description,
                    "when_to_use": skill.when_to_use,
                    "version": skill.version,
                },
                sort_keys=False,
            )
            (sub / "SKILL.md").write_text(f"---\n{front}---\n{skill.body}")
            if skill.params:
                (sub / "params.json").write_text(json.dumps(skill.params.dump(), indent=2, sort_keys=True) + "\n")

    def with_skill(self, skill: Skill) -> SkillLibrary:
        return SkillLibrary({**self.skills, skill.name: skill})

    def without(self, name: str) -> SkillLibrary:
        return SkillLibrary({k: v for k, v in self.skills.items() if k != name})


def current_library(home: Path) -> SkillLibrary:
    """The user's library (`home/skills`, written by evolve and rollback) or the built-in one."""
    folder = Path(home) / "skills"
    return SkillLibrary.load(folder) if folder.is_dir() else SkillLibrary.builtin()
