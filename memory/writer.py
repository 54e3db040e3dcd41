"""The one write path: finished judgments turned into rows and written in bulk by one thread
(group commit), and the retrying transaction every other write goes through."""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import Image
from pydantic_core import to_json
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, delete, select

from scrutiny.core.schema import Trace, Verdict, utcnow
from scrutiny.memory.engine import add_new_columns, describe_failure
from scrutiny.memory.tables import ArtifactRow, CacheRow, EventRow, StoreError, TraceRow, VerdictRow

T = TypeVar("T")


def settle(done: Future, error: BaseException | None = None, *, result: str | None = None) -> None:
    """Finish a caller's future unless the caller has already given up on it (cancelled). Its result
    is None, or the id of the verdict stored for the same task before this one (which was not kept)."""
    try:
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)
    except InvalidStateError:
        pass  # cancelled: the write still happened (or failed) for the store; nobody is waiting


def _transient(error: Exception, create: bool) -> bool:
    """A failure that passes: the database locked or busy, or (while a store is made) another process
    making the same tables at the same moment."""
    text = str(error)
    creating = isinstance(error, IntegrityError) and create
    return "locked" in text or "busy" in text or "already exists" in text or creating


class Writer:
    """The store's writes: `_write` retries a transaction a locked database refused; one writer thread commits judgments in batches."""

    def _write(self, fn: Callable[[Session], T], *, create: bool = False, attempts: int = 30) -> T | None:
        """Run `fn` in a transaction and commit; retried while the database is locked. A failure that is
        not a lock is a one-line `StoreError` ("cannot open ..." while the store is made)."""
        doing = "open" if create else "write to"
        for attempt in range(attempts):
            try:
                with self._lock:
                    if create:
                        SQLModel.metadata.create_all(self.engine)
                        add_new_columns(self.engine)
                    with self._lock, Session(self.engine) as session:
                        result = fn(session)
                        session.commit()
                return result
            except (OperationalError, IntegrityError) as e:
                transient = _transient(e, create)
                if isinstance(e, IntegrityError) and not transient:
                    raise  # a task stored meanwhile by another writer: `_write_judgments` reads again
                if not transient or attempt == attempts - 1:
                    raise StoreError(describe_failure(e, self.url, doing)) from None
                time.sleep(min(0.02 * 2**attempt, 0.5))
            except DatabaseError as e:  # not a database, corrupted, read-only: one line, not the SQL
                raise StoreError(describe_failure(e, self.url, doing)) from None

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
                        settle(done, result=canonical.get(rows.verdict.id) if rows.verdict else None)
                except Exception:  # noqa: BLE001 - write one by one, so each caller gets its own outcome
                    for rows, done in batch:
                        try:
                            canonical = self._write_judgments([rows])
                            settle(done, result=canonical.get(rows.verdict.id) if rows.verdict else None)
                        except Exception as e:  # noqa: BLE001
                            settle(done, e)
                batch = []
        except BaseException as e:  # the thread itself failed: nobody may wait forever
            with self._writer_lock:
                self._writer = None
            for _, done in batch:
                settle(done, e)
            while True:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    settle(item[1], StoreError(f"the store's writer stopped: {e}"))
            raise

    def _write_judgments(self, batch: list[JudgmentRows]) -> dict[str, str]:
        encoded: dict[str, bytes] = {}
        artifacts: dict[str, Image.Image] = {}
        for rows in batch:
            artifacts.update(rows.images)
            encoded.update(rows.encoded)
        for digest, image in artifacts.items():  # files first: a row never points at a missing file
            self._save_artifact_file(image, digest, encoded.get(digest))
        for attempt in range(5):
            try:
                return self._write(lambda session: write_rows(session, batch)) or {}
            except IntegrityError:  # another writer stored one of these tasks meanwhile: read again, write the rest
                if attempt == 4:
                    raise
        return {}


def compact_json(verdict: Verdict) -> str:
    """A verdict's JSON without the fields at their defaults (they read back the same), but always with
    its schema version (a later version's default must not be taken for this one's) and the `kind` of
    every criterion's check (the union's discriminator)."""
    data = verdict.model_dump(mode="json", exclude={"cached"}, exclude_defaults=True)
    for criteria, dumped in ((verdict.rubric, data.get("rubric")), (verdict.task.rubric, data["task"].get("rubric"))):
        for criterion, d in zip(criteria or [], dumped or []):
            if "check" in d:
                d["check"]["kind"] = criterion.check.kind
    return json.dumps({"schema_version": verdict.schema_version, **data}, separators=(",", ":"))


def write_rows(session: Session, batch: list[JudgmentRows]) -> dict[str, str]:
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
    insert_missing_artifacts(session, artifacts)
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
    upsert = _upsert(connection.dialect.name, table, key)
    if upsert is not None:
        if rows:
            connection.execute(upsert, rows)
        return
    for start in range(0, len(keys), 500):  # keep within the database's limit on bound parameters
        connection.execute(delete(table).where(table.c[key].in_(keys[start : start + 500])))
    if rows:
        connection.execute(table.insert(), rows)


def _dialect_insert(dialect: str):
    """The dialect's INSERT that takes ON CONFLICT (SQLite, PostgreSQL), or None."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    return insert


@functools.cache
def _insert_new(dialect: str, table, key: str):
    """INSERT ... ON CONFLICT (key) DO NOTHING, built once per table; None where the database has no ON CONFLICT."""
    insert = _dialect_insert(dialect)
    return None if insert is None else insert(table).on_conflict_do_nothing(index_elements=[key])


@functools.cache
def _upsert(dialect: str, table, key: str):
    """The INSERT ... ON CONFLICT (key) DO UPDATE of every other column, for SQLite and PostgreSQL
    (None for other databases, or where `key` is not the primary key). Built once per table:
    building it cost some 6 ms a judgment."""
    insert = _dialect_insert(dialect)
    if insert is None or key not in {c.name for c in table.primary_key}:
        return None
    statement = insert(table)
    columns = {c.name: statement.excluded[c.name] for c in table.columns if c.name != key}
    return statement.on_conflict_do_update(index_elements=[key], set_=columns)


def insert_missing_artifacts(session: Session, images: dict[str, Image.Image]) -> None:
    if not images:
        return
    connection = session.connection()
    table = ArtifactRow.__table__
    now = utcnow()
    rows = [{"hash": d, "width": im.width, "height": im.height, "created_at": now} for d, im in images.items()]
    keep_first = _insert_new(connection.dialect.name, table, "hash")
    if keep_first is not None:  # another process may add the same image meanwhile: keep the first row
        connection.execute(keep_first, rows)
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
class JudgmentRows:
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
            "data_json": compact_json(v),
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


def _jsonable(value):
    """Trace data that is not JSON by nature (numpy numbers and arrays, paths) in a JSON form."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
