"""The store: traces and their events, verdicts, a verdict cache, content-addressed artifacts.

SQLite in WAL mode at `$SCRUTINY_HOME/scrutiny.db` (default `~/.scrutiny`) unless
`SCRUTINY_DB_URL` names any SQLAlchemy URL (PostgreSQL when several machines share one store).
Artifacts (crops, masks, candidate images) are PNG files named by their content hash under
`$SCRUTINY_HOME/artifacts`. Several threads and several processes may write at once: SQLite
waits for the lock (`busy_timeout`) and a write that still finds the database locked is retried.
Every write commits before the method returns, so a crash never loses a finished verdict.

The store is one facade over rooms by concern: `traces` (traces, verdicts, the cache), `runs`
(runs and skill-library versions), `labels`, `artifacts`, `writer` (the write path), `tables`
and `engine` (opening a store, migrations).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, select

from scrutiny.core.schema import READS, SCHEMA_VERSION
from scrutiny.memory.artifacts import Artifacts
from scrutiny.memory.engine import check_writable, default_home, describe_failure, open_engine
from scrutiny.memory.labels import Labels
from scrutiny.memory.runs import Runs
from scrutiny.memory.tables import MetaRow, StoreError
from scrutiny.memory.traces import TraceFilter, Traces
from scrutiny.memory.writer import Writer

__all__ = ["Store", "StoreError", "TraceFilter", "default_home"]


T = TypeVar("T")


class Store(Traces, Runs, Labels, Artifacts, Writer):
    """One store: a database and an artifact folder. Safe to share between threads."""

    def __init__(self, url: str | None = None, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else default_home()
        if url is None:
            url = os.environ.get("SCRUTINY_DB_URL") or f"sqlite:///{self.home / 'scrutiny.db'}"
        self.url = url
        self.artifacts_dir = self.home / "artifacts"
        self.engine = open_engine(url, self.home)
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
        except DatabaseError as e:
            raise StoreError(describe_failure(e, url, "open")) from None
        check_writable(self.artifacts_dir)

    @classmethod
    def memory(cls, home: str | os.PathLike) -> Store:
        """An in-memory database (for tests); artifacts still go to files under `home`."""
        return cls("sqlite://", home)

    def count(self, table: type[SQLModel]) -> int:
        with self._lock, Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(table)).one()

    def close(self) -> None:
        if self._writer is not None:
            self._pending.put(None)
            self._writer.join()
            self._writer = None
        self.engine.dispose()

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
        row = session.get(table, key) if len(key) <= 200 else None
        if row is not None:
            return row
        prefix = 4 <= len(key) <= 200  # an id is 32 characters (a run's a few more); nothing longer is looked up
        rows = (
            session.exec(select(table).where(table.id.startswith(key, autoescape=True)).limit(2)).all()
            if prefix
            else []
        )
        if len(rows) == 1:
            return rows[0]
        what = table.__tablename__.rstrip("s")
        raise StoreError(
            f"no {what} with id {key[:40]!r}" if not rows else f"{what} id {key!r} is ambiguous; give more characters"
        )
