"""Runs (batches, evaluations, training) and skill-library versions."""

from __future__ import annotations

import json
import uuid

from sqlmodel import Session, select

from scrutiny.core.schema import utcnow
from scrutiny.memory.tables import LibraryRow, RunRow, StoreError


class Runs:
    """Runs and skill-library versions (a part of `Store`)."""

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
            row.finished_at = utcnow() if finished else row.finished_at
            given = {"counts_json": counts, "metrics_json": metrics, "items_json": items}
            for column, value in given.items():
                if value is not None:
                    setattr(row, column, json.dumps(value, default=str))
            session.add(row)

        self._write(write)

    def runs(self, limit: int = 50, kind: str | None = None) -> list[RunRow]:
        """Runs newest first."""
        query = select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
        if kind:
            query = query.where(RunRow.kind == kind)
        with self._lock, Session(self.engine) as session:
            return list(session.exec(query).all())

    def run(self, run_id: str) -> RunRow:
        with self._lock, Session(self.engine) as session:
            return self._get_by_prefix(session, RunRow, run_id)
