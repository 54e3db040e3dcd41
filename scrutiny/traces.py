"""Working with stored traces: compare two verdicts, export and import, replay.

scrutiny traces diff A B      # two verdicts of one task, criterion by criterion
scrutiny traces export --out traces.jsonl && scrutiny traces import traces.jsonl
scrutiny traces replay ID     # judge the stored task again (another policy or library) and diff
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scrutiny.api import Judge
from scrutiny.core.schema import READS, SCHEMA_VERSION, Trace, Verdict
from scrutiny.memory import Store, StoreError

EXPORT_FORMAT = "scrutiny-traces"


@dataclass
class CriterionDiff:
    criterion: str
    statement: str
    candidate: int
    a: float | None
    b: float | None
    rationale_a: str
    rationale_b: str

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else round(self.b - self.a, 6)

    @property
    def changed(self) -> bool:
        return self.a != self.b or self.rationale_a != self.rationale_b


@dataclass
class VerdictDiff:
    a: Verdict
    b: Verdict
    rows: list[CriterionDiff]
    only_a: list[str]
    only_b: list[str]

    @property
    def identical(self) -> bool:
        return (
            self.a.scores == self.b.scores
            and not self.only_a
            and not self.only_b
            and not any(r.changed for r in self.rows)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "a": {
                "id": self.a.id,
                "trace_id": self.a.trace_id,
                "policy": self.a.policy,
                "model": self.a.model,
                "library_version": self.a.library_version,
                "scores": self.a.scores,
                "preferred": self.a.preferred,
            },
            "b": {
                "id": self.b.id,
                "trace_id": self.b.trace_id,
                "policy": self.b.policy,
                "model": self.b.model,
                "library_version": self.b.library_version,
                "scores": self.b.scores,
                "preferred": self.b.preferred,
            },
            "identical": self.identical,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "criteria": [
                {
                    "criterion": r.criterion,
                    "statement": r.statement,
                    "candidate": r.candidate,
                    "a": r.a,
                    "b": r.b,
                    "delta": r.delta,
                    "rationale_a": r.rationale_a,
                    "rationale_b": r.rationale_b,
                }
                for r in self.rows
            ],
        }


@dataclass
class Turn:
    """One turn of a model's conversation in a trace: who spoke, what they said, which tools they called."""

    role: str
    """system, user, assistant or tool."""
    text: str
    tool_calls: list[str]
    """`name(arguments)` per call, as the model wrote them."""
    images: int = 0
    """Images sent in this turn (they travel as references in the trace)."""
    seq: int = 0
    """The trace event the turn is in."""


def conversation(trace: Trace) -> list[Turn]:
    """The model's conversation, in order: every request's new messages and every answer. An
    assistant message sent back in a later request is the earlier answer, shown once."""
    turns = []
    for event in trace.events:
        if event.kind == "model_request":
            for message in event.data.get("messages", []):
                if message.get("role") == "assistant":
                    continue
                content = message.get("content")
                images = 0
                if isinstance(content, list):
                    images = sum(part.get("type") == "image_url" for part in content)
                    content = "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
                turns.append(Turn(message.get("role", "?"), str(content or ""), [], images, event.seq))
        elif event.kind == "model_response":
            calls = [f"{c.get('name')}({c.get('arguments')})" for c in event.data.get("tool_calls") or []]
            turns.append(Turn("assistant", event.data.get("content") or "", calls, 0, event.seq))
    return turns


def parse_when(text: str | None):
    """An ISO date/time, or an age such as 30m, 2h, 3d, 1w (that long ago); None for None or ""."""
    from datetime import UTC, datetime, timedelta

    if not text:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if re.fullmatch(r"[0-9]{1,12}[mhdw]", text):
        try:
            return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:
            raise ValueError(f"{text!r} is further back than a calendar goes: give an age under 9,999 years") from None
    try:
        if len(text) > 40:
            raise ValueError
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read {text[:40]!r} as a time: give an ISO date like 2026-11-27 or an age like 2h"
        ) from None


def same_task(a: Verdict, b: Verdict) -> bool:
    return (a.task.kind, a.task.prompt, a.task.candidates, a.task.source) == (
        b.task.kind,
        b.task.prompt,
        b.task.candidates,
        b.task.source,
    )


def diff_verdicts(a: Verdict, b: Verdict) -> VerdictDiff:
    """Two verdicts of the same task, criterion by criterion (criteria matched by statement)."""
    if not same_task(a, b):
        raise ValueError(
            "these verdicts judge different tasks (prompt or images differ); diff compares one task judged twice"
        )
    by_statement_a = {c.statement: c.id for c in a.rubric}
    by_statement_b = {c.statement: c.id for c in b.rubric}
    scores_a = {(s.criterion, s.candidate): s for s in a.criterion_scores}
    scores_b = {(s.criterion, s.candidate): s for s in b.criterion_scores}
    rows = []
    for statement in [s for s in by_statement_a if s in by_statement_b]:
        ida, idb = by_statement_a[statement], by_statement_b[statement]
        for k in range(len(a.task.candidates)):
            rows.append(_row(ida, statement, k, scores_a.get((ida, k)), scores_b.get((idb, k))))
    return VerdictDiff(
        a,
        b,
        rows,
        [s for s in by_statement_a if s not in by_statement_b],
        [s for s in by_statement_b if s not in by_statement_a],
    )


def _row(criterion: str, statement: str, candidate: int, sa, sb) -> CriterionDiff:
    """One criterion of one candidate in both verdicts (a score missing on a side is None)."""
    return CriterionDiff(
        criterion=criterion,
        statement=statement,
        candidate=candidate,
        a=sa.score if sa else None,
        b=sb.score if sb else None,
        rationale_a=sa.rationale if sa else "",
        rationale_b=sb.rationale if sb else "",
    )


def verdict_of(store: Store, key: str) -> Verdict:
    """A verdict by verdict id or by the id of its trace (full or an unambiguous prefix)."""
    try:
        trace = store.trace(key)
    except StoreError:
        return store.verdict(key)
    if trace.verdict_id is None:
        raise StoreError(f"trace {trace.id[:12]} has no verdict (the judgment did not finish)")
    return store.verdict(trace.verdict_id)


# export and import: one JSON object per line, artifacts inline as base64 PNG


def export_lines(store: Store, traces: list[Any]) -> Iterator[str]:
    for row in traces:
        trace = store.trace(row.id)
        verdict = store.verdict(trace.verdict_id) if trace.verdict_id else None
        hashes = set(trace.task.candidates) | ({trace.task.source} if trace.task.source else set())
        if verdict:
            hashes |= {a for e in verdict.evidence for a in e.artifacts}
        artifacts = {
            h: base64.b64encode(store.artifact_path(h).read_bytes()).decode()
            for h in sorted(hashes)
            if store.artifact_path(h).exists()
        }
        yield json.dumps(
            {
                "format": EXPORT_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "trace": trace.model_dump(mode="json"),
                "verdict": verdict.model_dump(mode="json") if verdict else None,
                "artifacts": artifacts,
            }
        )


@dataclass
class Imported:
    """What `import_lines` did: traces added, traces already here, and one line per record refused."""

    added: int = 0
    known: int = 0
    refused: list[str] = field(default_factory=list)


def import_lines(store: Store, path: Path) -> Imported:
    """Read an export into the store. A record that is not a valid trace, or holds data of a shape the
    viewer cannot draw, is refused with one line saying why; the other records are imported."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    report = Imported()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                trace, verdict, artifacts = _read_record(line)
            except ValueError as e:
                report.refused.append(f"{path}:{number}: {e}")
                continue
            if store.has_trace(trace.id):
                report.known += 1
                continue
            try:
                store.record_imported(trace, verdict, artifacts)
            except (OSError, ValueError) as e:  # an artifact that is not an image (PIL's errors are both)
                report.refused.append(f"{path}:{number}: an image in the record cannot be read ({str(e)[:120]})")
                continue
            report.added += 1
    return report


def _read_record(line: str) -> tuple[Trace, Verdict | None, dict[str, bytes]]:
    """One export record, checked: the format, the schema version, ids, hashes and shapes."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        raise ValueError("not a scrutiny trace export")
    if record.get("schema_version") not in READS:
        raise ValueError(
            f"schema version {str(record.get('schema_version'))[:20]}, this scrutiny reads {SCHEMA_VERSION}"
        )
    try:
        verdict = Verdict.model_validate(record["verdict"]) if record.get("verdict") else None
        trace = Trace.model_validate(record["trace"])
        artifacts = {
            h: base64.b64decode(data, validate=True) for h, data in dict(record.get("artifacts") or {}).items()
        }
    except (ValidationError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not a valid trace record ({str(e).splitlines()[0][:200]})") from None
    _check_ids(trace, verdict, artifacts)
    _check_shapes(trace)
    return trace, verdict, artifacts


EVENT_SHAPES: dict[str, dict[str, tuple[type, ...]]] = {
    "tool_call": {"tool": (str,), "arguments": (dict,), "purpose": (str,)},
    "tool_result": {"produced": (dict,), "error": (str,), "evidence": (str,)},
    "model_request": {"messages": (list,)},
    "model_response": {"content": (str,), "tool_calls": (list,)},
}
"""The event data the viewer draws, by event kind: each field, where present and not null, has one of
these types. An export whose events say otherwise is refused (`import_lines`)."""


def _check_shapes(trace: Trace) -> None:
    for event in trace.events:
        for name, types in EVENT_SHAPES.get(event.kind, {}).items():
            value = event.data.get(name)
            if value is not None and not isinstance(value, types):
                raise ValueError(
                    f"event {event.seq} ({event.kind}): {name} is {type(value).__name__}, not {types[0].__name__}"
                )
        produced = event.data.get("produced") or {}
        if any(not isinstance(h, str) or not HASH.fullmatch(h) for h in produced.values()):
            raise ValueError(f"event {event.seq} ({event.kind}): produced names an image that is not a content hash")
        for message in event.data.get("messages") or []:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str | list | None):
                raise ValueError(f"event {event.seq} ({event.kind}): a message is not a chat message")
            if isinstance(message.get("content"), list) and not all(isinstance(p, dict) for p in message["content"]):
                raise ValueError(f"event {event.seq} ({event.kind}): a message part is not an object")
        if any(not isinstance(c, dict) for c in event.data.get("tool_calls") or []):
            raise ValueError(f"event {event.seq} ({event.kind}): a tool call is not an object")


ID = re.compile(r"[0-9a-f]{32}")
HASH = re.compile(r"[0-9a-f]{64}")


def _check_ids(trace: Trace, verdict: Verdict | None, artifacts: dict) -> None:
    """Ids and content hashes as scrutiny writes them, and nothing else: an export is data from
    elsewhere, and these strings end up in file names, links and pages."""
    ids = [("trace id", trace.id)] + ([("verdict id", verdict.id)] if verdict else [])
    ids += [("verdict id", trace.verdict_id)] if trace.verdict_id else []
    hashes = [("image hash", h) for h in [*trace.task.candidates, trace.task.source, *artifacts] if h]
    for what, value in ids:
        if not ID.fullmatch(value):
            raise ValueError(f"{what} {str(value)[:40]!r} is not a scrutiny id (32 hex digits)")
    for what, value in hashes:
        if not HASH.fullmatch(value):
            raise ValueError(f"{what} {str(value)[:40]!r} is not a content hash (64 hex digits)")


# replay


async def areplay(judge: Judge, key: str) -> VerdictDiff:
    """Judge a stored task again with `judge` (its policy, model and library) and diff the verdicts."""
    store = judge.store
    old = verdict_of(store, key)
    task = old.task
    images = [store.artifact(h) for h in task.candidates]
    fresh = Judge(policy=judge.policy, store=store, config=replace(judge.config, cache=False), library=judge.library)
    rubric = task.rubric
    if task.kind == "edit":
        new = await fresh.aedit(store.artifact(task.source), images, task.prompt, rubric=rubric)
    elif task.kind == "score":
        new = await fresh.ajudge(images[0], task.prompt, rubric=rubric, metadata=task.metadata)
    elif task.kind == "compare":
        new = await fresh.acompare(images[0], images[1], task.prompt, rubric=rubric)
    else:
        new = await fresh.arank(images, task.prompt, rubric=rubric)
    return diff_verdicts(old, new)
