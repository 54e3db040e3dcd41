"""Opening a store: the engine for its URL, its folders, and the columns added since it was made."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from scrutiny.memory.tables import StoreError


def default_home() -> Path:
    return Path(os.environ.get("SCRUTINY_HOME") or Path.home() / ".scrutiny")


WHERE = "point SCRUTINY_HOME at a writable folder, or SCRUTINY_DB_URL at a database you can write"


def first_line(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0][:300]


def safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def open_engine(url: str, home: Path):
    """The engine for a store URL, or a one-line StoreError naming what is wrong and the fix."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return _make_engine(url, home)
    except NoSuchModuleError:
        raise StoreError(
            f"SCRUTINY_DB_URL {safe_url(url)!r} names a database SQLAlchemy does not know; use "
            "sqlite:///path/to/scrutiny.db or postgresql+psycopg://user:password@host/db"
        ) from None
    except ArgumentError as e:
        raise StoreError(f"SCRUTINY_DB_URL {safe_url(url)!r} is not a database URL ({first_line(e)})") from None
    except ModuleNotFoundError as e:
        raise StoreError(
            f"the store at {safe_url(url)} needs the database driver {e.name!r}: pip install {_DRIVERS.get(e.name, e.name)}"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot create the store folder for {safe_url(url)}: {e.strerror or e}; {WHERE}") from None


_DRIVERS = {"psycopg": "'scrutiny[postgres]'", "psycopg2": "psycopg2-binary", "pymysql": "pymysql"}


def check_writable(folder: Path) -> None:
    """The artifact folder can be written: found now, before any work is done, not after a judgment."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as e:
        raise StoreError(f"cannot write images to {folder}: {e.strerror or e}; {WHERE}") from None


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


def add_new_columns(engine) -> None:
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


def describe_failure(error: BaseException, url: str, doing: str = "use") -> str:
    """One line for a database error: what is wrong with the store, and what to do about it. `doing`:
    what failed ("open", "write to", "use")."""
    reason = first_line(error)
    where = safe_url(url)
    if "readonly" in reason or "read-only" in reason:
        return f"the store at {where} is read-only ({reason}): make the file and its folder writable, or {WHERE}"
    if "not a database" in reason or "malformed" in reason or "corrupt" in reason:
        return (
            f"the store at {where} is not a readable database ({reason}): move the file aside and a new "
            f"store is made, or {WHERE}"
        )
    if "disk" in reason and "full" in reason:
        return f"the store at {where} cannot grow: the disk is full ({reason}); free some space, or {WHERE}"
    return f"cannot {doing} the store at {where}: {reason}; {WHERE}"
