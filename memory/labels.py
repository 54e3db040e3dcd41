"""Labelling queues and the labels people give."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlmodel import Session, select

from scrutiny.core.schema import utcnow
from scrutiny.memory.tables import LabelItemRow, LabelRow, StoreError


class Labels:
    """Labelling queues and labels (a part of `Store`)."""

    def add_label_items(self, queue: str, items: list[dict]) -> int:
        """Append items ({"prompt", "images": [hashes], "source", "trace_id"}) to a queue; an item the
        queue already holds (same prompt, images and source) is not added twice. Returns how many were new."""

        def write(session: Session) -> int:
            rows = session.exec(select(LabelItemRow).where(LabelItemRow.queue == queue)).all()
            have = {(r.prompt, r.images_json, r.source) for r in rows}
            new = []
            for item in items:
                key = (item["prompt"], json.dumps(item["images"]), item.get("source"))
                if key not in have:
                    have.add(key)
                    new.append((key, item.get("trace_id")))
            for position, ((prompt, images, source), trace_id) in enumerate(new, len(rows)):
                row = LabelItemRow(queue=queue, position=position, prompt=prompt, images_json=images, source=source)
                row.trace_id = trace_id
                session.add(row)
            return len(new)

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

    def record_label(self, item_id: int, preferred: int | None, labeller: str, queue: str | None = None) -> None:
        """A labeller's preference on an item: it replaces their earlier label of that item (kept
        as history, `replaced_at`). With `queue`, the item must belong to that queue."""

        def write(session: Session) -> None:
            item = session.get(LabelItemRow, item_id)
            if item is None or (queue is not None and item.queue != queue):
                raise StoreError(f"no labelling item {item_id}" + (f" in queue {queue[:60]!r}" if queue else ""))
            if preferred is not None and not 0 <= preferred < len(json.loads(item.images_json)):
                raise StoreError(f"item {item_id} has no image {preferred}")
            now = utcnow()
            earlier = session.exec(
                select(LabelRow).where(
                    LabelRow.item_id == item_id, LabelRow.labeller == labeller, LabelRow.replaced_at.is_(None)
                )
            ).all()
            for row in earlier:
                row.replaced_at = now
                session.add(row)
            session.add(
                LabelRow(item_id=item_id, queue=item.queue, preferred=preferred, labeller=labeller, created_at=now)
            )

        self._write(write)

    def labels(self, queue: str, history: bool = False) -> list[tuple[LabelItemRow, LabelRow]]:
        """The labels of a queue with their items, in the order they were given: one per labeller and
        item (their newest), or with `history` every label ever given."""
        query = (
            select(LabelItemRow, LabelRow)
            .join(LabelRow, LabelRow.item_id == LabelItemRow.id)
            .where(LabelRow.queue == queue)
            .order_by(LabelRow.created_at, LabelRow.id)
        )
        if not history:
            query = query.where(LabelRow.replaced_at.is_(None))
        with self._lock, Session(self.engine) as session:
            rows = session.exec(query).all()
        if history:
            return [(item, label) for item, label in rows]
        newest = {
            (label.item_id, label.labeller): (item, label) for item, label in rows
        }  # stores from before replaced_at
        return sorted(newest.values(), key=lambda pair: (pair[1].created_at, pair[1].id))

    def label_queues(self) -> dict[str, tuple[int, int]]:
        """Queue name → (items, labels), one label per labeller and item."""
        with self._lock, Session(self.engine) as session:
            items = session.exec(select(LabelItemRow.queue, func.count()).group_by(LabelItemRow.queue)).all()
            given = session.exec(
                select(LabelRow.queue, LabelRow.item_id, LabelRow.labeller).where(LabelRow.replaced_at.is_(None))
            ).all()
        labels: dict[str, int] = {}
        for q, _, _ in set(given):
            labels[q] = labels.get(q, 0) + 1
        return {q: (n, labels.get(q, 0)) for q, n in items}
