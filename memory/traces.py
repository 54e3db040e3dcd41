"""Traces, verdicts and the verdict cache: what a judgment leaves behind, and how it is listed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from scrutiny.core.images import image_hash
from scrutiny.core.schema import Task, Trace, TraceEvent, Verdict, utcnow
from scrutiny.memory.tables import CacheRow, EventRow, TraceRow, VerdictRow, as_utc
from scrutiny.memory.writer import JudgmentRows, write_rows

_CACHED = (
    select(VerdictRow.__table__.c.data_json)
    .join_from(CacheRow.__table__, VerdictRow.__table__, CacheRow.__table__.c.verdict_id == VerdictRow.__table__.c.id)
    .where(CacheRow.__table__.c.key == bindparam("key"))
)
"""The verdict a cache key points to, in one statement built once."""

TRACE_ORDERS = ("newest", "oldest", "best", "worst")


MAX_PROMPT_FILTER = 500
"""The longest prompt substring a filter takes (SQLite refuses a LIKE pattern past about 50,000)."""


@dataclass
class TraceFilter:
    """Which traces to list. Scores filter on the verdict's first candidate."""

    prompt: str | None = None
    """A substring of the prompt."""
    since: datetime | None = None
    until: datetime | None = None
    policy: str | None = None
    model: str | None = None
    library_version: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    abstained: bool | None = None
    run_id: str | None = None
    """Only the traces of this run (`Task.metadata["run"]`)."""
    step: int | None = None

    def __post_init__(self) -> None:
        if self.prompt is not None and len(self.prompt) > MAX_PROMPT_FILTER:
            raise ValueError(f"a prompt filter is at most {MAX_PROMPT_FILTER} characters, got {len(self.prompt):,}")

    @property
    def joins_verdicts(self) -> bool:
        return self.min_score is not None or self.max_score is not None or self.abstained is not None

    def apply(self, query):
        if self.joins_verdicts:
            query = query.join(VerdictRow, VerdictRow.id == TraceRow.verdict_id)
        conditions = [
            self.prompt and TraceRow.prompt.contains(self.prompt, autoescape=True),  # "%" and "_" are literal
            self.since is not None and TraceRow.created_at >= _aware_utc(self.since),
            self.until is not None and TraceRow.created_at <= _aware_utc(self.until),
            self.policy and TraceRow.policy == self.policy,
            self.model and TraceRow.model == self.model,
            self.library_version is not None and TraceRow.library_version == self.library_version,
            self.min_score is not None and VerdictRow.score >= self.min_score,
            self.max_score is not None and VerdictRow.score <= self.max_score,
            self.abstained is not None and VerdictRow.abstained == self.abstained,
            self.run_id is not None and TraceRow.run_id == self.run_id,
            self.step is not None and TraceRow.step == self.step,
        ]
        for condition in conditions:
            if condition is not False and condition is not None and condition != "":
                query = query.where(condition)
        return query


def _aware_utc(moment: datetime) -> datetime:
    """A naive time given by a user is taken as UTC, like every time scrutiny stores."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class Traces:
    """Traces and their events, verdicts and the cache (a part of `Store`)."""

    def record_trace(self, trace: Trace) -> None:
        """Write (or rewrite) a trace and all its events."""
        self._write(lambda session: write_rows(session, [JudgmentRows(trace=trace)]))

    def record_judgment(self, trace: Trace, verdict: Verdict, images: list[Image.Image], cache_key: str | None) -> None:
        """A finished judgment in one transaction: its images, trace, verdict and cache entry."""
        self.submit_judgment(trace, verdict, images, cache_key).result()

    def submit_judgment(
        self,
        trace: Trace,
        verdict: Verdict,
        images: list[Image.Image] | dict[str, Image.Image],
        cache_key: str | None,
        *,
        encoded: dict[str, bytes] | None = None,
    ) -> Future:
        """`record_judgment` without waiting: the future is done once the judgment is committed. Its
        result is None, or, when the same task (cache key) was stored first by another judgment, the
        id of that verdict: this one is then not kept, so the store holds one verdict per task.
        Async callers await it (`asyncio.wrap_future`) and hold no thread meanwhile.

        `images` may map content hashes (`image_hash`) to images, when the caller has them already;
        `encoded` gives the PNG files of some of them when the caller encoded them already (off this
        store's single writer thread).
        Judgments that arrive together are written together: one set of bulk statements per batch.
        """
        if not isinstance(images, dict):
            images = {image_hash(image): image for image in images}
        rows = JudgmentRows(trace=trace, verdict=verdict, images=images, cache_key=cache_key, encoded=encoded or {})
        done: Future = Future()
        self._start_writer()
        self._pending.put((rows, done))
        return done

    def trace(self, trace_id: str) -> Trace:
        with self._lock, Session(self.engine) as session:
            row = self._get_by_prefix(session, TraceRow, trace_id)
            events = session.exec(select(EventRow).where(EventRow.trace_id == row.id).order_by(EventRow.seq)).all()
        return Trace(
            id=row.id,
            created_at=as_utc(row.created_at),
            policy=row.policy,
            model=row.model,
            library_version=row.library_version,
            verdict_id=row.verdict_id,
            task=Task.model_validate_json(row.task_json),
            events=[
                TraceEvent(seq=e.seq, kind=e.kind, node=e.node, time=as_utc(e.time), data=json.loads(e.data_json))
                for e in events
            ],
        )

    def has_trace(self, trace_id: str) -> bool:
        """Whether a trace with exactly this id is stored."""
        with self._lock, Session(self.engine) as session:
            return session.get(TraceRow, trace_id) is not None

    def traces(
        self, limit: int = 50, offset: int = 0, prompt: str | None = None, order: str = "newest", **filters
    ) -> list[TraceRow]:
        """Traces a page at a time, `order` "newest" (default), "oldest", "best" or "worst" (by the
        first candidate's score; abstentions last); filters as in `TraceFilter`."""
        if order not in TRACE_ORDERS:
            raise ValueError(f"order must be one of {', '.join(TRACE_ORDERS)}, got {order!r}")
        trace_filter = TraceFilter(prompt=prompt, **filters)
        query = trace_filter.apply(select(TraceRow))
        if order in ("best", "worst"):
            if not trace_filter.joins_verdicts:
                query = query.outerjoin(VerdictRow, VerdictRow.id == TraceRow.verdict_id)
            score = VerdictRow.score.desc() if order == "best" else VerdictRow.score.asc()
            query = query.order_by(VerdictRow.score.is_(None), score, TraceRow.created_at.desc())
        else:
            query = query.order_by(TraceRow.created_at.desc() if order == "newest" else TraceRow.created_at.asc())
        query = query.offset(offset).limit(limit)
        with self._lock, Session(self.engine) as session:
            return list(session.exec(query).all())

    def iter_traces(self, limit: int | None = None, page: int = 500, **filters) -> Iterator[TraceRow]:
        """Every matching trace, newest first, read a page at a time (an export of any size). Traces
        recorded after the call are left out, so the pages do not shift under it."""
        if filters.get("until") is None:
            filters["until"] = utcnow()
        seen = 0
        while limit is None or seen < limit:
            size = page if limit is None else min(page, limit - seen)
            rows = self.traces(limit=size, offset=seen, **filters)
            yield from rows
            seen += len(rows)
            if len(rows) < size:
                return

    def count_traces(self, prompt: str | None = None, **filters) -> int:
        query = TraceFilter(prompt=prompt, **filters).apply(select(func.count(TraceRow.id)))
        with self._lock, Session(self.engine) as session:
            return session.exec(query).one()

    def record_imported(self, trace: Trace, verdict: Verdict | None, artifacts: dict[str, bytes]) -> None:
        """Add an exported trace (and its verdict and artifact files) to this store."""
        for data in artifacts.values():
            self.put_artifact(Image.open(io.BytesIO(data)))
        self.record_trace(trace)
        if verdict is not None:
            self.record_verdict(verdict)

    def record_verdict(self, verdict: Verdict) -> None:
        self._write(lambda session: write_rows(session, [JudgmentRows(verdict=verdict)]))

    def verdict(self, verdict_id: str) -> Verdict:
        with self._lock, Session(self.engine) as session:
            return Verdict.model_validate_json(self._get_by_prefix(session, VerdictRow, verdict_id).data_json)

    def verdicts_by_id(self, ids: list[str]) -> dict[str, Verdict]:
        """Several verdicts in one query (a page of the viewer)."""
        if not ids:
            return {}
        with self._lock, Session(self.engine) as session:
            rows = session.exec(select(VerdictRow).where(VerdictRow.id.in_(ids))).all()
        return {r.id: Verdict.model_validate_json(r.data_json) for r in rows}

    def cached_verdict(self, key: str) -> Verdict | None:
        """The verdict stored under a cache key, marked `cached=True`, or None."""
        # one query, no ORM objects: the hot path of a repeated reward
        with self._lock, self.engine.connect() as connection:
            data = connection.execute(_CACHED, {"key": key}).scalar()
        if data is None:
            return None
        return Verdict.model_validate_json(data).model_copy(update={"cached": True})

    def cache_verdict(self, key: str, verdict: Verdict) -> None:
        """Record the verdict and point the cache key at it, in one transaction."""

        self._write(
            lambda session: write_rows(session, [JudgmentRows(verdict=verdict, cache_key=key, replace_cache=True)])
        )
