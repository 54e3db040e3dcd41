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
