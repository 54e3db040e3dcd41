"""The store's tables (SQLModel rows) and its one error type."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


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
    replaced_at: datetime | None = None
    """When the same labeller labelled the item again: the row is kept as history, and only the
    newest label of a labeller on an item counts."""


class ArtifactRow(SQLModel, table=True):
    __tablename__ = "artifacts"
    hash: str = Field(primary_key=True)
    width: int
    height: int
    created_at: datetime


def as_utc(moment: datetime) -> datetime:
    """SQLite drops the zone of stored datetimes; every time scrutiny writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
