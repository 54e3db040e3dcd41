"""The store: traces and their events, verdicts, a verdict cache, content-addressed artifacts.

SQLite in WAL mode at `$SCRUTINY_HOME/scrutiny.db` (default `~/.scrutiny`) unless
`SCRUTINY_DB_URL` names any SQLAlchemy URL (PostgreSQL when several machines share one store).
Artifacts (crops, masks, candidate images) are PNG files named by their content hash under
`$SCRUTINY_HOME/artifacts`. Several threads and several processes may write at once: SQLite
waits for the lock (`busy_timeout`) and a write that still finds the database locked is retried.
Every write commits before the method returns, so a crash never loses a finished verdict.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from PIL import Image
from pydantic_core import to_json
from sqlalchemy import Column, Text, event, func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, create_engine, delete, select

from scrutiny.core.images import image_hash, load_image, png_bytes
from scrutiny.core.schema import READS, SCHEMA_VERSION, Task, Trace, TraceEvent, Verdict, utcnow

T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be used as it is; the message says what to do."""


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class TraceRow(SQLModel, table=True):
    __tablename__ = "traces"
    id: str = Field(primary_key=True)
    created_at: datetime = Field(index=True)
    kind: str
    prompt: str = Field(sa_column=Column(Text))
    policy: str = Field(index=True)
    model: str | None = None
    library_version: str = ""
    verdict_id: str | None = None
    task_json: str = Field(sa_column=Column(Text))
    run_id: str | None = Field(default=None, index=True)
    """The run (batch, bench, train, refine) the judgment was part of: `Task.metadata["run"]`."""
    step: int | None = None
    """The training step, or the batch item's position: `Task.metadata["step"]`."""


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(index=True)
    seq: int
    kind: str
    node: str | None = None
    time: datetime
    data_json: str = Field(sa_column=Column(Text))


def _settle(done: Future, error: BaseException | None = None, *, result: str | None = None) -> None:
    """Finish a caller's future unless the caller has already given up on it (cancelled). Its result
    is None, or the id of the verdict stored for the same task before this one (which was not kept)."""
    try:
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)
    except InvalidStateError:
        pass  # cancelled: the write still happened (or failed) for the store; nobody is waiting


class VerdictRow(SQLModel, table=True):
    __tablename__ = "verdicts"
    id: str = Field(primary_key=True)
    trace_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(index=True)
    kind: str
    prompt: str = Field(sa_column=Column(Text))
    policy: str
    model: str | None = None
    library_version: str = ""
    score: float | None = None
    abstained: bool = False
    data_json: str = Field(sa_column=Column(Text))


class CacheRow(SQLModel, table=True):
    __tablename__ = "verdict_cache"
    key: str = Field(primary_key=True)
    verdict_id: str
    created_at: datetime


class LibraryRow(SQLModel, table=True):
    """A version of a skill library: its skills as JSON, and the version it was made from."""

    __tablename__ = "libraries"
    version: str = Field(primary_key=True)
    parent: str | None = None
    message: str = ""
    created_at: datetime
    data_json: str = Field(sa_column=Column(Text))


class RunRow(SQLModel, table=True):
    """A batch, bench, train, refine or evolution run: what ran, how far it got, what it measured."""

    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    created_at: datetime
    library_version: str = ""
    metrics_json: str = Field(sa_column=Column(Text))
    items_json: str = Field(sa_column=Column(Text))
    status: str | None = None
    """running, done, interrupted or failed (None: recorded before runs had a status)."""
    command: str | None = Field(default=None, sa_column=Column(Text))
    config_json: str | None = Field(default=None, sa_column=Column(Text))
    counts_json: str | None = Field(default=None, sa_column=Column(Text))
    finished_at: datetime | None = None


class LabelItemRow(SQLModel, table=True):
    """An item of a labelling queue: a prompt and the images (by content hash) a person compares."""

    __tablename__ = "label_items"
    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(index=True)
    position: int
    prompt: str = Field(sa_column=Column(Text))
    images_json: str = Field(sa_column=Column(Text))
    source: str | None = None
    trace_id: str | None = None


class LabelRow(SQLModel, table=True):
    """A person's preference on a queue item: the index of the better image, or None for a tie."""

    __tablename__ = "labels"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(index=True)
    queue: str = Field(index=True)
    preferred: int | None = None
    labeller: str
    created_at: datetime


class ArtifactRow(SQLModel, table=True):
    __tablename__ = "artifacts"
    hash: str = Field(primary_key=True)
    width: int
    height: int
    created_at: datetime


TRACE_ORDERS = ("newest", "oldest", "best", "worst")


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


def default_home() -> Path:
    return Path(os.environ.get("SCRUTINY_HOME") or Path.home() / ".scrutiny")


class Store:
    """One store: a database and an artifact folder. Safe to share between threads."""

    def __init__(self, url: str | None = None, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else default_home()
        if url is None:
            url = os.environ.get("SCRUTINY_DB_URL") or f"sqlite:///{self.home / 'scrutiny.db'}"
        self.url = url
        self.artifacts_dir = self.home / "artifacts"
        self.engine = _open(url, self.home)
        # One connection serves every thread of an in-memory SQLite store: its sessions take turns. A
        # database on disk gives each thread its own connection (and SQLite's own locking), so reads
        # on the event loop never wait behind a batch the writer thread is committing.
        shared_connection = isinstance(self.engine.pool, StaticPool)
        self._lock = threading.RLock() if shared_connection else contextlib.nullcontext()
        self._writer_lock = threading.Lock()
        self._folders: set[Path] = set()  # artifact folders known to exist
        self._pending: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        try:
            self._write(lambda s: None, create=True)
            self._check_schema()
        except OperationalError as e:
            raise StoreError(f"cannot open the store at {_safe(url)}: {_first_line(e)}; {_WHERE}") from None
        _check_writable(self.artifacts_dir)

    @classmethod
    def memory(cls, home: str | os.PathLike) -> Store:
        """An in-memory database (for tests); artifacts still go to files under `home`."""
        return cls("sqlite://", home)

    # traces

    def record_trace(self, trace: Trace) -> None:
        """Write (or rewrite) a trace and all its events."""
        self._write(lambda session: _write_rows(session, [_JudgmentRows(trace=trace)]))

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
        rows = _JudgmentRows(trace=trace, verdict=verdict, images=images, cache_key=cache_key, encoded=encoded or {})
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
            created_at=_utc(row.created_at),
            policy=row.policy,
            model=row.model,
            library_version=row.library_version,
            verdict_id=row.verdict_id,
            task=Task.model_validate_json(row.task_json),
            events=[
                TraceEvent(seq=e.seq, kind=e.kind, node=e.node, time=_utc(e.time), data=json.loads(e.data_json))
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

    # verdicts and the cache

    def record_verdict(self, verdict: Verdict) -> None:
        self._write(lambda session: _write_rows(session, [_JudgmentRows(verdict=verdict)]))

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

    # skill-library versions and runs

    def record_library(self, version: str, data_json: str, parent: str | None = None, message: str = "") -> str:
        """Keep a skill-library version (once: a version is a hash of its content)."""

        def write(session: Session) -> None:
            if session.get(LibraryRow, version) is None:
                session.add(
                    LibraryRow(
                        version=version, parent=parent, message=message, created_at=utcnow(), data_json=data_json
                    )
                )

        self._write(write)
        return version

    def library_json(self, version: str) -> str:
        """The skills of a recorded library version (or an unambiguous prefix of it), as JSON."""
        with self._lock, Session(self.engine) as session:
            row = session.get(LibraryRow, version)
            if row is None:
                rows = session.exec(select(LibraryRow).where(LibraryRow.version.startswith(version)).limit(2)).all()
                row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise StoreError(f"no skill-library version {version!r} in this store (see `scrutiny skills history`)")
        return row.data_json

    def libraries(self) -> list[LibraryRow]:
        with self._lock, Session(self.engine) as session:
            return list(session.exec(select(LibraryRow).order_by(LibraryRow.created_at)).all())

    def record_run(self, run_id: str, kind: str, metrics: dict, items: list, library_version: str = "") -> None:
        """A finished run in one write (status "done"); a run started with `start_run` keeps its record."""

        def write(session: Session) -> None:
            row = session.get(RunRow, run_id) or RunRow(
                id=run_id, kind=kind, created_at=utcnow(), metrics_json="{}", items_json="[]"
            )
            row.library_version = library_version or row.library_version
            row.metrics_json, row.items_json = json.dumps(metrics, default=str), json.dumps(items, default=str)
            row.status, row.finished_at = "done", utcnow()
            session.add(row)

        self._write(write)

    def start_run(
        self, kind: str, command: str, config: dict, library_version: str = "", run_id: str | None = None
    ) -> str:
        """Record a run as it starts (status "running"); `finish_run` closes it. Returns its id."""
        run_id = run_id or f"{kind}-{uuid.uuid4().hex[:12]}"

        def write(session: Session) -> None:
            row = session.get(RunRow, run_id)
            if row is None:  # a resumed run keeps its first start time
                row = RunRow(id=run_id, kind=kind, created_at=utcnow(), metrics_json="{}", items_json="[]")
            row.status, row.command, row.config_json = "running", command, json.dumps(config, default=str)
            row.library_version, row.finished_at = library_version, None
            session.add(row)

        self._write(write)
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict | None = None,
        metrics: dict | None = None,
        items: list | None = None,
    ) -> None:
        """Close a run: its status (done, interrupted, failed), counts, metrics and per-item results."""
        self.update_run(run_id, status=status, counts=counts, metrics=metrics, items=items, finished=True)

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        counts: dict | None = None,
        metrics: dict | None = None,
        items: list | None = None,
        finished: bool = False,
    ) -> None:
        """Record a run's progress (a training run after each step); what is None is left as it was."""

        def write(session: Session) -> None:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run with id {run_id!r}")
            row.status = status or row.status
            if finished:
                row.finished_at = utcnow()
            if counts is not None:
                row.counts_json = json.dumps(counts)
            if metrics is not None:
                row.metrics_json = json.dumps(metrics, default=str)
            if items is not None:
                row.items_json = json.dumps(items, default=str)
            session.add(row)

        self._write(write)

    def runs(self, limit: int = 50, kind: str | None = None) -> list[RunRow]:
        """Runs newest first."""
        query = select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
        if kind:
            query = query.where(RunRow.kind == kind)
        with self._lock, Session(self.engine) as session:
            return list(session.exec(query).all())

    # labelling queues

    def add_label_items(self, queue: str, items: list[dict]) -> int:
        """Append items ({"prompt", "images": [hashes], "source", "trace_id"}) to a queue; an item the
        queue already holds (same prompt, images and source) is not added twice. Returns how many were new."""

        def write(session: Session) -> int:
            rows = session.exec(select(LabelItemRow).where(LabelItemRow.queue == queue)).all()
            have = {(r.prompt, r.images_json, r.source) for r in rows}
            position, added = len(rows), 0
            for item in items:
                key = (item["prompt"], json.dumps(item["images"]), item.get("source"))
                if key in have:
                    continue
                have.add(key)
                session.add(
                    LabelItemRow(
                        queue=queue,
                        position=position,
                        prompt=item["prompt"],
                        images_json=key[1],
                        source=item.get("source"),
                        trace_id=item.get("trace_id"),
                    )
                )
                position += 1
                added += 1
            return added

        return self._write(write)

    def next_label_item(self, queue: str, labeller: str) -> tuple[LabelItemRow | None, int, int]:
        """The first item of a queue this labeller has not labelled, and (done, total) for them."""
        with self._lock, Session(self.engine) as session:
            items = session.exec(
                select(LabelItemRow).where(LabelItemRow.queue == queue).order_by(LabelItemRow.position)
            ).all()
            done = set(
                session.exec(
                    select(LabelRow.item_id).where(LabelRow.queue == queue, LabelRow.labeller == labeller)
                ).all()
            )
        pending = [i for i in items if i.id not in done]
        return (pending[0] if pending else None), len(items) - len(pending), len(items)

    def record_label(self, item_id: int, preferred: int | None, labeller: str) -> None:
        def write(session: Session) -> None:
            item = session.get(LabelItemRow, item_id)
            if item is None:
                raise StoreError(f"no labelling item {item_id}")
            if preferred is not None and not 0 <= preferred < len(json.loads(item.images_json)):
                raise StoreError(f"item {item_id} has no image {preferred}")
            session.add(
                LabelRow(item_id=item_id, queue=item.queue, preferred=preferred, labeller=labeller, created_at=utcnow())
            )

        self._write(write)

    def labels(self, queue: str) -> list[tuple[LabelItemRow, LabelRow]]:
        """Every label of a queue with its item, in the order they were given."""
        with self._lock, Session(self.engine) as session:
            rows = session.exec(
                select(LabelItemRow, LabelRow)
                .join(LabelRow, LabelRow.item_id == LabelItemRow.id)
                .where(LabelRow.queue == queue)
                .order_by(LabelRow.created_at)
            ).all()
        return [(item, label) for item, label in rows]

    def label_queues(self) -> dict[str, tuple[int, int]]:
        """Queue name → (items, labels)."""
        with self._lock, Session(self.engine) as session:
            items = session.exec(select(LabelItemRow.queue, func.count()).group_by(LabelItemRow.queue)).all()
            labels = dict(session.exec(select(LabelRow.queue, func.count()).group_by(LabelRow.queue)).all())
        return {q: (n, labels.get(q, 0)) for q, n in items}

    def run(self, run_id: str) -> RunRow:
        with self._lock, Session(self.engine) as session:
            return self._get_by_prefix(session, RunRow, run_id)

    def count(self, table: type[SQLModel]) -> int:
        with self._lock, Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(table)).one()

    def cached_verdict(self, key: str) -> Verdict | None:
        """The verdict stored under a cache key, marked `cached=True`, or None."""
        with self._lock, Session(self.engine) as session:
            hit = session.get(CacheRow, key)
            row = session.get(VerdictRow, hit.verdict_id) if hit else None
        if row is None:
            return None
        return Verdict.model_validate_json(row.data_json).model_copy(update={"cached": True})

    def cache_verdict(self, key: str, verdict: Verdict) -> None:
        """Record the verdict and point the cache key at it, in one transaction."""

        self._write(
            lambda session: _write_rows(session, [_JudgmentRows(verdict=verdict, cache_key=key, replace_cache=True)])
        )

    # artifacts

    def put_artifact(self, image: Image.Image) -> str:
        """Keep an image by its content hash (written once; later puts of the same pixels are free)."""
        image = load_image(image)
        digest = image_hash(image)
        self._save_artifact_file(image, digest)
        self._write(lambda session: _insert_missing_artifacts(session, {digest: image}))
        return digest

    def _save_artifact_file(self, image: Image.Image, digest: str, data: bytes | None = None) -> None:
        path = self.artifact_path(digest)
        if not path.exists():
            if path.parent not in self._folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(path.parent)
            try:
                tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
            except FileNotFoundError:  # the folder was removed while the store was open
                self._folders.clear()
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
            with tmp:
                tmp.write(data if data is not None else png_bytes(image, digest))
            os.replace(tmp.name, path)

    def artifact_path(self, digest: str) -> Path:
        return self.artifacts_dir / digest[:2] / f"{digest}.png"

    def artifact_size(self, digest: str) -> tuple[int, int] | None:
        """(width, height) of a stored image, from its row (no decoding); None if unknown."""
        with self._lock, Session(self.engine) as session:
            row = session.get(ArtifactRow, digest)
        return None if row is None else (row.width, row.height)

    def artifact(self, digest: str) -> Image.Image:
        path = self.artifact_path(digest)
        if not path.exists():
            raise StoreError(f"no artifact {digest[:12]} in {self.artifacts_dir}")
        return load_image(path)

    def close(self) -> None:
        if self._writer is not None:
            self._pending.put(None)
            self._writer.join()
            self._writer = None
        self.engine.dispose()

    # internals

    def _write(self, fn: Callable[[Session], T], *, create: bool = False, attempts: int = 30) -> T | None:
        for attempt in range(attempts):
            try:
                with self._lock:
                    if create:
                        SQLModel.metadata.create_all(self.engine)
                        _add_new_columns(self.engine)
                    with self._lock, Session(self.engine) as session:
                        result = fn(session)
                        session.commit()
                return result
            except (OperationalError, IntegrityError) as e:
                transient = (
                    "locked" in str(e)
                    or "busy" in str(e)
                    or "already exists" in str(e)
                    or (isinstance(e, IntegrityError) and create)
                )
                if not transient or attempt == attempts - 1:
                    raise
                time.sleep(min(0.02 * 2**attempt, 0.5))

    def _start_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_batches, name="scrutiny-store-writer", daemon=True)
                self._writer.start()

    def _write_batches(self) -> None:
        """One writer thread commits the judgments of many callers in one transaction (group
        commit); each caller's future is done once its judgment is committed.

        A caller that stopped waiting (its task was cancelled) does not stop the write: the judgment
        is still stored, and its future is left as the caller left it. Should the thread ever fail,
        every waiting caller gets the error and the next judgment starts a new writer: never a hang.
        """
        batch: list = []
        try:
            while True:
                item = self._pending.get()
                if item is None:
                    return
                batch = [item]
                while len(batch) < 256:
                    try:
                        extra = self._pending.get_nowait()
                    except queue.Empty:
                        break
                    if extra is None:
                        self._pending.put(None)
                        break
                    batch.append(extra)
                try:
                    canonical = self._write_judgments([rows for rows, _ in batch])
                    for rows, done in batch:
                        _settle(done, result=canonical.get(rows.verdict.id) if rows.verdict else None)
                except Exception:  # noqa: BLE001 - write one by one, so each caller gets its own outcome
                    for rows, done in batch:
                        try:
                            canonical = self._write_judgments([rows])
                            _settle(done, result=canonical.get(rows.verdict.id) if rows.verdict else None)
                        except Exception as e:  # noqa: BLE001
                            _settle(done, e)
                batch = []
        except BaseException as e:  # the thread itself failed: nobody may wait forever
            with self._writer_lock:
                self._writer = None
            for _, done in batch:
                _settle(done, e)
            while True:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    _settle(item[1], StoreError(f"the store's writer stopped: {e}"))
            raise

    def _write_judgments(self, batch: list[_JudgmentRows]) -> dict[str, str]:
        encoded: dict[str, bytes] = {}
        artifacts: dict[str, Image.Image] = {}
        for rows in batch:
            artifacts.update(rows.images)
            encoded.update(rows.encoded)
        for digest, image in artifacts.items():  # files first: a row never points at a missing file
            self._save_artifact_file(image, digest, encoded.get(digest))
        for attempt in range(5):
            try:
                return self._write(lambda session: _write_rows(session, batch)) or {}
            except IntegrityError:  # another writer stored one of these tasks meanwhile: read again, write the rest
                if attempt == 4:
                    raise
        return {}

    def _check_schema(self) -> None:
        def write(session: Session) -> None:
            if session.get(MetaRow, "schema_version") is None:
                session.add(MetaRow(key="schema_version", value=str(SCHEMA_VERSION)))

        self._write(write, create=True)  # two processes opening a new store at once: the second one retries
        with self._lock, Session(self.engine) as session:
            found = int(session.get(MetaRow, "schema_version").value)
        if found in READS and found != SCHEMA_VERSION:  # older records are converted as they are read

            def upgrade(session: Session) -> None:
                session.get(MetaRow, "schema_version").value = str(SCHEMA_VERSION)

            self._write(upgrade)
        elif found != SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.url} has schema version {found}, this scrutiny reads version "
                f"{SCHEMA_VERSION}; upgrade scrutiny, or point SCRUTINY_HOME/SCRUTINY_DB_URL at a new store"
            )

    @staticmethod
    def _get_by_prefix(session: Session, table: type[T], key: str) -> T:
        """A row by its id or an unambiguous id prefix (as `git` takes short hashes)."""
        row = session.get(table, key)
        if row is not None:
            return row
        rows = session.exec(select(table).where(table.id.startswith(key)).limit(2)).all() if len(key) >= 4 else []
        if len(rows) == 1:
            return rows[0]
        what = table.__tablename__.rstrip("s")
        raise StoreError(
            f"no {what} with id {key!r}" if not rows else f"{what} id {key!r} is ambiguous; give more characters"
        )


def _compact_json(verdict: Verdict) -> str:
    """A verdict's JSON without the fields at their defaults (they read back the same), but always with
    its schema version (a later version's default must not be taken for this one's) and the `kind` of
    every criterion's check (the union's discriminator)."""
    data = verdict.model_dump(mode="json", exclude={"cached"}, exclude_defaults=True)
    for criteria, dumped in ((verdict.rubric, data.get("rubric")), (verdict.task.rubric, data["task"].get("rubric"))):
        for criterion, d in zip(criteria or [], dumped or []):
            if "check" in d:
                d["check"]["kind"] = criterion.check.kind
    return json.dumps({"schema_version": verdict.schema_version, **data}, separators=(",", ":"))


def _write_rows(session: Session, batch: list[_JudgmentRows]) -> dict[str, str]:
    """The one write path of judgments, traces and verdicts: bulk statements for a whole batch.

    One verdict per task: a judgment whose cache key is already stored (another process or thread
    judged the same task first) is not written again; the returned map sends its verdict id to the
    stored one. The cache row is a plain insert, so two writers racing on one key cannot both
    commit: the loser's transaction fails and is written again (`Store._write_judgments`)."""
    connection = session.connection()
    canonical: dict[str, str] = {}
    keys = [r.cache_key for r in batch if r.cache_key is not None]
    taken: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        taken |= dict(
            connection.execute(select(CacheRow.key, CacheRow.verdict_id).where(CacheRow.key.in_(chunk))).all()
        )
    kept = []
    for r in batch:
        if r.cache_key is not None and r.verdict is not None and not r.replace_cache:
            if r.cache_key in taken:
                canonical[r.verdict.id] = taken[r.cache_key]
                continue
            taken[r.cache_key] = r.verdict.id
        kept.append(r)
    batch = kept
    artifacts = {digest: image for rows in batch for digest, image in rows.images.items()}
    latest = list(
        {r.trace.id: r for r in batch if r.trace}.values()
    )  # a trace sent twice is written once, as last sent
    traces = [r.trace_row() for r in latest]
    events = [e for r in latest for e in r.event_rows()]
    verdicts = list({v["id"]: v for v in (r.verdict_row() for r in batch if r.verdict)}.values())
    cache = [r.cache_row() for r in batch if r.cache_key is not None]
    _insert_missing_artifacts(session, artifacts)
    _replace(connection, EventRow.__table__, "trace_id", [t["id"] for t in traces], events)
    _replace(connection, TraceRow.__table__, "id", [t["id"] for t in traces], traces)
    _replace(connection, VerdictRow.__table__, "id", [v["id"] for v in verdicts], verdicts)
    replaced = [c for c, r in zip(cache, [r for r in batch if r.cache_key is not None]) if r.replace_cache]
    _replace(connection, CacheRow.__table__, "key", [c["key"] for c in replaced], replaced)
    fresh = [c for c in cache if c not in replaced]
    if fresh:
        connection.execute(CacheRow.__table__.insert(), fresh)  # a key written meanwhile fails the transaction
    return canonical


def _replace(connection, table, key: str, keys: list, rows: list[dict]) -> None:
    """Write `rows` in place of the rows with these keys, in one executemany (a fraction of the ORM's
    cost per row). SQLite and PostgreSQL upsert on the key, so a concurrent writer of the same key
    cannot fail the batch; other databases delete, then insert."""
    upsert = _dialect_insert(connection)
    if upsert is not None and key in {c.name for c in table.primary_key}:
        if rows:
            statement = upsert(table)
            columns = {c.name: statement.excluded[c.name] for c in table.columns if c.name != key}
            connection.execute(statement.on_conflict_do_update(index_elements=[key], set_=columns), rows)
        return
    for start in range(0, len(keys), 500):  # keep within the database's limit on bound parameters
        connection.execute(delete(table).where(table.c[key].in_(keys[start : start + 500])))
    if rows:
        connection.execute(table.insert(), rows)


def _dialect_insert(connection):
    """The dialect's INSERT that takes ON CONFLICT, or None."""
    if connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    return insert


def _insert_missing_artifacts(session: Session, images: dict[str, Image.Image]) -> None:
    if not images:
        return
    connection = session.connection()
    table = ArtifactRow.__table__
    now = utcnow()
    rows = [{"hash": d, "width": im.width, "height": im.height, "created_at": now} for d, im in images.items()]
    upsert = _dialect_insert(connection)
    if upsert is not None:  # another process may add the same image meanwhile: keep the first row
        connection.execute(upsert(table).on_conflict_do_nothing(index_elements=["hash"]), rows)
        return
    known = set()
    digests = list(images)
    for start in range(0, len(digests), 500):
        known.update(
            connection.execute(select(table.c.hash).where(table.c.hash.in_(digests[start : start + 500]))).scalars()
        )
    if missing := [r for r in rows if r["hash"] not in known]:
        connection.execute(table.insert(), missing)


@dataclass(kw_only=True)
class _JudgmentRows:
    """A finished judgment (or a part of one: a trace, a verdict), turned into table rows by the writer."""

    trace: Trace | None = None
    verdict: Verdict | None = None
    images: dict[str, Image.Image] = field(default_factory=dict)
    cache_key: str | None = None
    encoded: dict[str, bytes] = field(default_factory=dict)
    """PNG files of some of `images`, by content hash, encoded by the caller."""
    replace_cache: bool = False
    """Point the cache key at this verdict even if it points elsewhere (`Store.cache_verdict`)."""

    def trace_row(self) -> dict:
        t = self.trace
        return {
            "id": t.id,
            "created_at": t.created_at,
            "kind": t.task.kind,
            "prompt": t.task.prompt,
            "policy": t.policy,
            "model": t.model,
            "library_version": t.library_version,
            "verdict_id": t.verdict_id,
            "task_json": t.task.model_dump_json(),
            "run_id": _text_or_none(t.task.metadata.get("run")),
            "step": _int_or_none(t.task.metadata.get("step")),
        }

    def event_rows(self) -> list[dict]:
        return [
            {
                "trace_id": self.trace.id,
                "seq": e.seq,
                "kind": e.kind,
                "node": e.node,
                "time": e.time,
                "data_json": to_json(e.data, fallback=_jsonable).decode(),
            }
            for e in self.trace.events
        ]

    def verdict_row(self) -> dict:
        v = self.verdict
        return {
            "id": v.id,
            "trace_id": v.trace_id,
            "created_at": v.created_at,
            "kind": v.task.kind,
            "prompt": v.task.prompt,
            "policy": v.policy,
            "model": v.model,
            "library_version": v.library_version,
            "score": v.scores[0],
            "abstained": v.abstained,
            "data_json": _compact_json(v),
        }

    def cache_row(self) -> dict:
        return {"key": self.cache_key, "verdict_id": self.verdict.id, "created_at": utcnow()}


def _text_or_none(value) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _add_new_columns(engine) -> None:
    """Columns added to a table after a store was made (nullable, so old rows stay valid) are added
    to that store's table: `create_all` makes missing tables, not missing columns."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    have_tables = set(inspector.get_table_names())
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in have_tables:
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                if column.index:
                    connection.execute(
                        text(
                            f'CREATE INDEX IF NOT EXISTS ix_{table.name}_{column.name} ON {table.name} ("{column.name}")'
                        )
                    )


def _jsonable(value):
    """Trace data that is not JSON by nature (numpy numbers and arrays, paths) in a JSON form."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _utc(moment: datetime) -> datetime:
    """SQLite drops the zone of stored datetimes; every time scrutiny writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_WHERE = "point SCRUTINY_HOME at a writable folder, or SCRUTINY_DB_URL at a database you can write"


def _first_line(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0][:300]


def _safe(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _open(url: str, home: Path):
    """The engine for a store URL, or a one-line StoreError naming what is wrong and the fix."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return _make_engine(url, home)
    except NoSuchModuleError:
        raise StoreError(
            f"SCRUTINY_DB_URL {_safe(url)!r} names a database SQLAlchemy does not know; use "
            "sqlite:///path/to/scrutiny.db or postgresql+psycopg://user:password@host/db"
        ) from None
    except ArgumentError as e:
        raise StoreError(f"SCRUTINY_DB_URL {_safe(url)!r} is not a database URL ({_first_line(e)})") from None
    except ModuleNotFoundError as e:
        raise StoreError(
            f"the store at {_safe(url)} needs the database driver {e.name!r}: pip install {_DRIVERS.get(e.name, e.name)}"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot create the store folder for {_safe(url)}: {e.strerror or e}; {_WHERE}") from None


_DRIVERS = {"psycopg": "'scrutiny[postgres]'", "psycopg2": "psycopg2-binary", "pymysql": "pymysql"}


def _check_writable(folder: Path) -> None:
    """The artifact folder can be written: found now, before any work is done, not after a judgment."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as e:
        raise StoreError(f"cannot write images to {folder}: {e.strerror or e}; {_WHERE}") from None


def _make_engine(url: str, home: Path):
    if url.startswith(("postgresql://", "postgres://")):  # the [postgres] extra's driver, psycopg 3
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url in ("sqlite://", "sqlite:///:memory:"):
        return create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine
