"""The data model every part of scrutiny speaks.

Versioned pydantic models: they cross process, model and disk boundaries (traces in the store,
verdicts returned to trainers, JSON printed by the CLI). This module is a leaf: it imports
nothing else from scrutiny, so `tools/` and `memory/` may use it without breaking the
dependency direction.

Score convention: every score is in [0, 1]; `None` means the judge abstained (it could not
decide). An abstention is never turned into 0 or into a fake tie.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

SCHEMA_VERSION = 3
"""2: `Criterion.check` (a typed union) and `Criterion.met` replace `Criterion.params`; version-1 records
are read and converted (`Criterion._from_params`). 3: `Verdict.criterion_scores` is the name of what
versions 1 and 2 called `Verdict.criteria` (read under either name)."""
READS = (1, 2, 3)
"""The schema versions this scrutiny reads (older ones are converted on reading)."""


def _readable(version: int) -> int:
    if version not in READS:
        raise ValueError(f"schema version {version} is not one this scrutiny reads ({READS}); upgrade scrutiny")
    return SCHEMA_VERSION


TaskKind = Literal["score", "compare", "rank", "edit"]
Dimension = Literal[
    "text",
    "object",
    "count",
    "color",
    "position",
    "attribute",
    "quality",
    "preservation",
    "safety",
    "action",
    "style",
    "degenerate",
    "custom",
]
GUARD_DIMENSIONS = frozenset({"quality", "safety", "degenerate"})
"""What an image is like rather than what it shows: never a verdict's only evidence, and never points
of its own. Quality and safety qualify the content score (they can only lower it); "degenerate" is a
gate (a failed one zeroes it). See `ScoreParts`."""
GATE_DIMENSIONS = frozenset({"degenerate"})
"""Guards that gate: a failed gate makes the overall score 0, even where no content could be checked."""
Unchecked = Literal["lower", "omit", "abstain"]
"""What content criteria that could not be checked do to the overall score (see `Coverage`)."""
Origin = Literal["given", "synthesized", "skill"]
EventKind = Literal[
    "node_enter",
    "node_exit",
    "model_request",
    "model_response",
    "tool_call",
    "tool_result",
    "parse_failure",
    "repair",
    "retry",
    "cache_hit",
    "error",
]


_ids = random.Random()  # seeded from os.urandom; its own, so that random.seed(0) in a training script cannot repeat ids
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not draw its parent's ids


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits. Drawn from a generator seeded once: `uuid4()`
    asks the OS each time, and that call lets go of the GIL, so a busy event loop may wait for
    a worker thread to hand it back, twice per judgment."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4).hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Score = float | None


def check_score(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"scores live in [0, 1] (None abstains); got {value}")
    return value


def _detector_kind(value: str | None) -> str | None:
    """Versions before 0.2 wrote the open-vocabulary detector as "open:NOUN"; the noun is the check's own
    object, so it is "open" now."""
    return "open" if isinstance(value, str) and value.startswith("open:") else value


class TextCheck(Model):
    """Rendered text, read by OCR: the `text` exactly, or (negated) its absence; "" with negated: no text
    at all, or none besides `allowed`."""

    kind: Literal["text"] = "text"
    text: str
    negated: bool = False
    allowed: list[str] = Field(default_factory=list)
    """With `text` "" and `negated`: texts that may appear (the requested ones); any other text read counts."""
    case_sensitive: bool = False
    """Match with case and every glyph as written (default: case-insensitive, I/i/l/| as one glyph)."""


class ObjectCheck(Model):
    """An object the prompt names: it is there (or, negated, it is not), `count` of them when given."""

    kind: Literal["object"] = "object"
    object: str
    """Its head noun, singular ("cat", "fire hydrant")."""
    phrase: str = ""
    """As the prompt wrote it, with its modifiers ("three red circles")."""
    detect: str | None = None
    """What a detector looks for: a shape name, "face", a COCO class, "any", "open" (the open-vocabulary
    detector, asked for `object`); None when no detector here can."""
    count: int | None = None
    at_least: int | None = None
    """At least this many, where the prompt names that many of the kind one by one ("a man and a
    woman": at least two people)."""
    quantity: str | None = None
    """A vague amount ("several", "many"): not checkable as a number."""
    color: str | None = None
    """Only objects of this colour count (flat shapes, whose colour the shape detector reads)."""
    negated: bool = False
    partial: bool = False
    """Score a wrong `count` by how close it is (`1 - |found - count| / count`) instead of 0."""

    _open = field_validator("detect", mode="before")(classmethod(lambda cls, v: _detector_kind(v)))


AttributeKind = Literal["color", "material", "size", "state", "absence", "type"]
"""type: which kind of its class an object is ("a woman", "an astronaut", "a bulldog", "a sedan"), which
the detector does not tell apart."""


class AttributeCheck(Model):
    """A property of one object (or, with no object, of the image: "the image contains red")."""

    kind: Literal["attribute"] = "attribute"
    attribute: AttributeKind = "color"
    value: str
    """Normalised ("red" for "crimson"; "wooden", "small", "happy")."""
    word: str = ""
    """As written."""
    object: str | None = None
    phrase: str = ""
    detect: str | None = None
    share: float | None = Field(default=None, gt=0.0, le=1.0)
    """For a colour with no detectable object: the image share at which it is fully present (skills tune it)."""

    _open = field_validator("detect", mode="before")(classmethod(lambda cls, v: _detector_kind(v)))


class RelationCheck(Model):
    """Where one object is: relative to another (`object`), or in the frame (`object` None: "left", "center")."""

    kind: Literal["relation"] = "relation"
    relation: str
    """"left of", "on", "next to", ...; a frame position; or a verb ("riding") when `action`."""
    subject: str
    subject_phrase: str = ""
    subject_color: str | None = None
    subject_detect: str | None = None
    object: str | None = None
    object_phrase: str = ""
    object_color: str | None = None
    object_detect: str | None = None
    action: bool = False

    _open = field_validator("subject_detect", "object_detect", mode="before")(
        classmethod(lambda cls, v: _detector_kind(v))
    )


EditCheckKind = Literal[
    "change_present", "outside_region", "structure", "changed_region_color", "changed_object", "instruction"
]


class EditCheck(Model):
    """What an edit must do (and keep), measured against the source image."""

    kind: Literal["edit"] = "edit"
    aspect: EditCheckKind = Field(validation_alias=AliasChoices("aspect", "check"))
    """Which part of the edit is checked (made, coloured, kept, ...). Versions before 0.2 call it `check`."""
    action: str = "other"
    object: str = ""
    phrase: str = ""
    color: str | None = None
    detect: str | None = None
    """For "changed_object": how the object the edit made is found (see `ObjectCheck.detect`)."""
    collateral_tolerance: float | None = Field(default=None, gt=0.0, le=1.0)
    """Changed pixels outside the edit, as a share of that area, at which preservation is 0 (skills tune it)."""

    _open = field_validator("detect", mode="before")(classmethod(lambda cls, v: _detector_kind(v)))


class GlobalCheck(Model):
    """A property of the whole image: its style, medium, lighting."""

    kind: Literal["global"] = "global"
    property: Literal["style", "medium", "lighting", "tag", "time", "weather"]
    """"tag": a prompt-engineering tag ("8k", "trending on artstation", "--ar 9:16")."""
    value: str


class QualityCheck(Model):
    """No-reference image quality: `overall`, or one measure (sharpness, exposure, noise, detail, ...)."""

    kind: Literal["quality"] = "quality"
    measure: str = "overall"


DegenerateFinding = Literal["noise", "flat", "periodic", "copies", "text_canvas"]


class DegenerateCheck(Model):
    """The image is a picture: not noise, a flat field, a tiled pattern, copies of one panel, or text
    alone on a blank canvas (`tools/degenerate.py`). A gate: failing it zeroes the overall score."""

    kind: Literal["degenerate"] = "degenerate"
    allow: list[DegenerateFinding] = Field(default_factory=list)
    """What the prompt asks for and so is not held against the image ("a checkerboard pattern": periodic)."""


class JudgmentCheck(Model):
    """A statement only a judge that sees (a vision-language model) can decide; `by` says who wrote it."""

    kind: Literal["judgment"] = "judgment"
    by: str | None = None
    negated: bool = False


Check = Annotated[
    TextCheck
    | ObjectCheck
    | AttributeCheck
    | RelationCheck
    | EditCheck
    | GlobalCheck
    | QualityCheck
    | DegenerateCheck
    | JudgmentCheck,
    Field(discriminator="kind"),
]


def dimension_of(check: Any) -> str | None:
    """The dimension a check's kind (and its fields) make: what skills weigh and `score_parts` sorts
    into content, qualifiers and gates. None for a judgment, whose dimension is the one given."""
    kind = check.kind
    if kind == "object":
        return "count" if check.count is not None or check.quantity else "object"
    if kind == "attribute":
        return "color" if check.attribute == "color" else "attribute"
    if kind == "relation":
        return "action" if check.action else "position"
    if kind == "edit":
        if check.aspect in ("outside_region", "structure"):
            return "preservation"
        if check.aspect == "changed_region_color":
            return "color"
        return "style" if check.aspect == "instruction" and check.action == "style" else "object"
    return {"text": "text", "global": "style", "quality": "quality", "degenerate": "degenerate"}.get(kind)


class Criterion(Model):
    """One yes/no-checkable statement about a candidate image. Its `dimension` follows its check
    (`dimension_of`), so the two never disagree; a judgment check keeps the dimension given."""

    id: str
    statement: str
    dimension: Dimension = "custom"
    weight: float = Field(default=1.0, ge=0.0)
    tools: list[str] = Field(default_factory=list)
    """Tool hints: which tools can check this criterion (`ocr`, `detect`, `diff`, ...)."""
    origin: Origin = "synthesized"
    checkable: bool = True
    """False when no tool of the active policy can check it: it then abstains instead of guessing."""
    check: Check = Field(default_factory=JudgmentCheck)
    """What exactly is checked, typed by kind (the target text, the object and its count, the relation)."""
    met: float | None = Field(default=None, ge=0.0, le=1.0)
    """The score from which this criterion counts as met; None: the judge's default."""

    @model_validator(mode="after")
    def _dimension_from_check(self) -> Criterion:
        """One classification: a typed check decides the dimension (`dimension_of`); only a judgment
        (what a model or a person settles) keeps the dimension it was given."""
        derived = dimension_of(self.check)
        if derived is not None and derived != self.dimension:
            object.__setattr__(self, "dimension", derived)
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_params(cls, data: Any) -> Any:
        """Read the version-1 shape (an untyped `params` dict) into `check` and `met`."""
        if isinstance(data, dict) and "params" in data:
            data = dict(data)
            params = dict(data.pop("params") or {})
            if "met" in params and "met" not in data:
                data["met"] = params.pop("met")
            data.setdefault("check", check_from_params(data.get("dimension", "custom"), params))
        return data


def check_from_params(dimension: str, p: dict[str, Any]) -> dict[str, Any]:
    """A version-1 criterion's `params` as the typed check of version 2."""
    p = {k: v for k, v in p.items() if v is not None}
    if dimension == "text" or "text" in p:
        return {"kind": "text", "text": p.get("text", ""), "negated": p.get("negated", False)}
    if dimension == "quality":
        return {"kind": "quality", "measure": p.get("measure", "overall")}
    if "check" in p:
        keys = ("check", "action", "object", "phrase", "color", "collateral_tolerance")
        return {"kind": "edit", **{k: p[k] for k in keys if k in p}}
    if dimension == "count" or p.get("presence") or (dimension == "object" and "object" in p):
        keys = ("object", "phrase", "detect", "count", "quantity", "color", "negated")
        out = {"kind": "object", **{k: p[k] for k in keys if k in p}}
        if "quantity" in out:
            out["quantity"] = str(out["quantity"])
        return out if "object" in out else {"kind": "judgment"}
    if dimension == "color" and "color" in p:
        keys = ("object", "phrase", "detect", "share")
        return {
            "kind": "attribute",
            "attribute": "color",
            "value": p["color"],
            "word": p.get("color_word", p["color"]),
            **{k: p[k] for k in keys if k in p},
        }
    if dimension == "position" and "relation" in p and "subject" in p:
        keys = ("relation", "subject", "subject_phrase", "subject_color", "object", "object_phrase", "object_color")
        return {"kind": "relation", **{k: p[k] for k in keys if k in p}}
    if "style" in p:
        return {"kind": "global", "property": "style", "value": p["style"]}
    return {"kind": "judgment", "by": p.get("by"), "negated": p.get("negated", False)}


class Task(Model):
    """What is judged: a prompt or edit instruction and the candidates (by content hash)."""

    kind: TaskKind
    prompt: str
    candidates: list[str]
    source: str | None = None
    rubric: list[Criterion] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_shape(self) -> Task:
        need = {"score": 1, "compare": 2}.get(self.kind)
        if need is not None and len(self.candidates) != need:
            raise ValueError(f"a {self.kind!r} task takes {need} candidate(s), got {len(self.candidates)}")
        if self.kind == "rank" and len(self.candidates) < 2:
            raise ValueError("a 'rank' task takes at least 2 candidates")
        if self.kind == "edit" and (self.source is None or not self.candidates):
            raise ValueError("an 'edit' task takes a source image and at least one edited image")
        return self


class Evidence(Model):
    """One tool call on pixels and what it produced."""

    id: str = Field(default_factory=new_id)
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    artifacts: list[str] = Field(default_factory=list)
    """Content hashes of images the call produced (a crop, a diff mask), kept in the store."""
    candidate: int | None = None
    seconds: float = 0.0
    error: str | None = None


class CriterionScore(Model):
    """One criterion's score for one candidate: the score (None: not checked, see `rationale`), the
    evidence ids it rests on, and why."""

    criterion: str
    candidate: int
    score: Score = None
    distribution: dict[str, float] | None = None
    evidence: list[str] = Field(default_factory=list)
    rationale: str = ""
    measures: dict[str, float] = Field(default_factory=dict)
    """The raw measurements a threshold turned into the score (a colour's share, collateral change),
    so a library with other thresholds can re-score without judging again."""

    @field_validator("score")
    @classmethod
    def _valid_score(cls, value: Score) -> Score:
        return check_score(value)


class Coverage(Model):
    """Which of a candidate's content criteria (all but quality and safety) were checked.

    The overall score never rests on quality alone: with no content criterion checked, the verdict
    abstains and says why. With some checked, `JudgeConfig.unchecked` decides: "lower" (default)
    counts each unchecked one as unmet, so a score is the share of what was asked that was seen to
    be there; "omit" leaves them out; "abstain" abstains unless every one was checked."""

    checked: list[str] = Field(default_factory=list)
    unchecked: dict[str, str] = Field(default_factory=dict)
    """Criterion id → why it could not be checked."""
    abstain_reason: str | None = None

    @property
    def share(self) -> float:
        total = len(self.checked) + len(self.unchecked)
        return len(self.checked) / total if total else 0.0


class ScoreParts(Model):
    """How a candidate's overall score was made: `content × quality × gate`.

    Content decides, quality qualifies: `content` is the weighted mean of the content criteria (what
    the prompt asks for); `quality` multiplies in each quality and safety criterion as
    `min(1, score / met) ** weight`, so it is 1 for any image that meets them and can only lower the
    score; `gate` multiplies in each gate (the degenerate-image check) as `score ** weight`, so a
    failed gate makes the overall score 0. An image that shows nothing asked for scores 0, however
    sharp; a failed gate scores 0 even where no content could be checked."""

    content: Score = None
    """None: no content criterion was checked (the overall score then abstains, unless a gate failed)."""
    quality: float = 1.0
    gate: float = 1.0
    failed: list[str] = Field(default_factory=list)
    """The ids of the guards that lowered the score (below their `met`)."""


class Usage(Model):
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0


class Verdict(Model):
    """The answer: per-candidate scores backed by evidence, a preference, a critique, a trace."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    task: Task
    rubric: list[Criterion] = Field(default_factory=list)
    scores: list[Score]
    criterion_scores: list[CriterionScore] = Field(
        default_factory=list, validation_alias=AliasChoices("criterion_scores", "criteria")
    )
    """Each criterion's score per candidate, with its evidence and rationale (`rubric` holds the
    criteria themselves). Verdicts stored before 0.2 call it `criteria`, and read the same."""
    evidence: list[Evidence] = Field(default_factory=list)
    coverage: list[Coverage] = Field(default_factory=list)
    """Per candidate: which content criteria were checked, which were not and why."""
    parts: list[ScoreParts] = Field(default_factory=list)
    """Per candidate: the content score, quality factor and gate its overall score is made of."""
    preferred: int | None = None
    """Index of the preferred candidate; None for a tie or when the judge abstained."""
    ranking: list[int] | None = None
    critique: str = ""
    error: str | None = None
    """Why no judgment could be made ("ImageError: ..."), for a batch item that failed: the verdict
    then abstains (scores None), so a batch always returns one verdict per item."""
    trace_id: str | None = None
    policy: str = "offline"
    model: str | None = None
    library_version: str = ""
    version: str = ""
    latency_s: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    _version = field_validator("schema_version")(classmethod(lambda cls, v: _readable(v)))

    @field_validator("scores")
    @classmethod
    def _check_scores(cls, values: list[Score]) -> list[Score]:
        return [check_score(v) for v in values]

    _store: Any = PrivateAttr(default=None)
    """The store holding this verdict's images and trace (set by the judge that made it), for display."""

    def __repr__(self) -> str:
        from scrutiny.core.display import short_repr

        return short_repr(self)

    def _repr_html_(self) -> str:
        from scrutiny.core.display import verdict_html

        return verdict_html(self)

    def show(self, width: int = 512):
        """The candidates side by side with the tools' boxes and each candidate's score drawn on them
        (a PIL image: a notebook displays it). Images not in the store are drawn as grey placeholders."""
        from scrutiny.core.display import draw

        return draw(self, width)

    @property
    def score(self) -> Score:
        """The first candidate's overall score (the usual case: one image judged)."""
        return self.scores[0]

    @property
    def abstained(self) -> bool:
        return all(s is None for s in self.scores)


class TraceEvent(Model):
    seq: int
    kind: EventKind
    node: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    time: datetime = Field(default_factory=utcnow)


class Trace(Model):
    """Everything that happened while judging one task, in order."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    task: Task
    events: list[TraceEvent] = Field(default_factory=list)
    verdict_id: str | None = None
    policy: str = "offline"
    model: str | None = None
    library_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    _version = field_validator("schema_version")(classmethod(lambda cls, v: _readable(v)))

    def add(self, kind: EventKind, node: str | None = None, **data: Any) -> TraceEvent:
        event = TraceEvent(seq=len(self.events), kind=kind, node=node, data=data)
        self.events.append(event)
        return event
