"""Labelling queues: people label pairs where the evidence is shown (the viewer's /label page), and
the labels become preference data for `scrutiny bench` and `scrutiny skills evolve`.

A queue holds items (a prompt and two or more images, by content hash, and a source for edits). It
is filled from the store's traces (every comparison, ranking or edit; and judgments of the same
prompt, paired), or from a batch results file (images of the same prompt, paired). Each label keeps
its labeller and time.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from scrutiny.batch import load_results
from scrutiny.core.images import load_image
from scrutiny.memory import Store


def items_from_traces(store: Store, limit: int = 1000, **filters) -> list[dict]:
    """Items from stored traces: each comparison, ranking or edit as it was judged; and single
    judgments of one prompt, paired in the order they were made (oldest first)."""
    items, singles = [], {}
    for row in store.iter_traces(limit=limit, **filters):
        task = json.loads(row.task_json)
        candidates = task["candidates"]
        if len(candidates) >= 2:
            items.append(
                {"prompt": task["prompt"], "images": candidates, "source": task.get("source"), "trace_id": row.id}
            )
        elif candidates and task.get("kind") == "score":
            singles.setdefault(task["prompt"], []).append(candidates[0])
    for prompt, images in singles.items():
        distinct = list(dict.fromkeys(reversed(images)))  # oldest first, each image once
        items.extend({"prompt": prompt, "images": [a, b]} for a, b in pairwise(distinct))
    return items


async def items_where_judges_disagree(judge, limit: int = 200, **filters) -> list[dict]:
    """Items from stored comparisons, rankings and edits that `judge` (another skill library, policy
    or model) judges again and prefers differently from the stored verdict: where a person's label
    settles the most."""
    from scrutiny.traces import areplay

    store = judge.store
    items = []
    for row in list(store.iter_traces(limit=limit, **filters)):
        task = json.loads(row.task_json)
        if len(task["candidates"]) < 2 or not row.verdict_id:
            continue
        diff = await areplay(judge, row.id)
        if diff.a.preferred != diff.b.preferred:
            items.append(
                {
                    "prompt": task["prompt"],
                    "images": task["candidates"],
                    "source": task.get("source"),
                    "trace_id": row.id,
                }
            )
    return items


def items_from_results(store: Store, path: Path) -> list[dict]:
    """Items from a batch results file: the judged images of each prompt, paired in file order
    (the images are copied into the store, so the queue does not depend on the files staying put)."""
    by_prompt: dict[str, list[str]] = {}
    for row in load_results(path):
        if row.get("error") or not row.get("image"):
            continue
        digest = store.put_artifact(load_image(row["image"]))
        by_prompt.setdefault(row["prompt"], []).append(digest)
    items = []
    for prompt, images in by_prompt.items():
        distinct = list(dict.fromkeys(images))
        items.extend({"prompt": prompt, "images": [a, b]} for a, b in pairwise(distinct))
    return items


def export_preferences(store: Store, queue: str, out: Path) -> int:
    """Write a queue's labels in `scrutiny bench`'s format (one item per label, images as files of
    the store); returns how many were written."""
    written = 0
    with out.open("w", encoding="utf-8") as f:
        for item, label in store.labels(queue):
            images = [str(store.artifact_path(h)) for h in json.loads(item.images_json)]
            record = {
                "id": f"{queue}-{label.id}",
                "prompt": item.prompt,
                "images": images,
                "preferred": label.preferred,
                "labeller": label.labeller,
                "labelled_at": label.created_at.isoformat(),
            }
            if item.source:
                record["source"] = str(store.artifact_path(item.source))
            f.write(json.dumps(record) + "\n")
            written += 1
    return written
