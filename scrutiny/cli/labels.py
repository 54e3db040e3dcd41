"""`scrutiny label`: labelling queues filled, listed and exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from scrutiny.api import Judge
from scrutiny.cli.common import (
    BackendOpt,
    FilterPromptOpt,
    JsonOpt,
    ModelOpt,
    err,
    make_judge,
    one_line_errors,
    out,
    plural,
)
from scrutiny.core.aio import block_on
from scrutiny.memory import Store
from scrutiny.skills.library import SkillLibrary

label_app = typer.Typer(no_args_is_help=True, help="Labelling queues: fill them, list them, export their labels.")


@label_app.command("queue")
@one_line_errors
def label_queue(
    name: Annotated[str, typer.Argument(help="The queue's name.")],
    traces: Annotated[bool, typer.Option("--traces", help="From the store's traces (filters below).")] = False,
    results: Annotated[Optional[Path], typer.Option("--results", help="From a batch results file.")] = None,
    prompt: FilterPromptOpt = None,
    run: Annotated[Optional[str], typer.Option("--run", help="Only the traces of this run.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many traces.")] = 1000,
    disagree_with: Annotated[
        Optional[str],
        typer.Option(
            "--disagree-with",
            help="With --traces: only the comparisons that this skill-library version (or 'builtin', or "
            "--backend's model) prefers differently from the stored verdict.",
        ),
    ] = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
) -> None:
    """Fill a labelling queue: comparisons, rankings and edits as they were judged, and images of one
    prompt in pairs. Label it in `scrutiny view` at /label."""
    from scrutiny.labels import items_from_results, items_from_traces

    check_queue_name(name)
    if traces == (results is not None):
        raise ValueError("give --traces or --results FILE (one of them)")
    store = Store()
    filters = {"prompt": prompt, "run_id": store.run(run).id if run else None}
    if results is not None:
        items = items_from_results(store, results)
    elif disagree_with is not None or backend is not None:
        from scrutiny.labels import items_where_judges_disagree

        library = None
        if disagree_with == "builtin":
            library = SkillLibrary.builtin()
        elif disagree_with is not None:
            library = SkillLibrary.from_json(store.library_json(disagree_with))
        other = make_judge(True, backend, model) if backend else Judge(store=store)
        other = Judge(policy=other.policy, store=store, config=other.config, library=library or other.library)
        items = block_on(items_where_judges_disagree(other, limit=limit, **filters))
    else:
        items = items_from_traces(store, limit=limit, **filters)
    added = store.add_label_items(name, items)
    total = store.label_queues().get(name, (0, 0))[0]
    err.print(
        f"queue {name}: {plural(added, 'new item')}, {total} in all; label them at /label in `scrutiny view`",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def check_queue_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise ValueError(f"queue names are letters, digits, '.', '_' and '-' (up to 64), got {name!r}")


@label_app.command("list")
@one_line_errors
def label_list(as_json: JsonOpt = False) -> None:
    """The labelling queues: items and labels in each."""
    queues = Store().label_queues()
    if as_json:
        print(json.dumps({q: {"items": n, "labels": k} for q, (n, k) in queues.items()}))
        return
    for q, (n, k) in sorted(queues.items()):
        out.print(f"{q}: {plural(n, 'item')}, {plural(k, 'label')}", highlight=False, markup=False)
    if not queues:
        out.print("no labelling queues yet: scrutiny label queue NAME --traces", highlight=False, markup=False)


@label_app.command("export")
@one_line_errors
def label_export(
    name: str,
    out_file: Annotated[Path, typer.Option("--out", help="Preference file to write (JSONL, `scrutiny bench` format).")],
) -> None:
    """Write a queue's labels as preference data for `scrutiny bench` and `scrutiny skills evolve`."""
    from scrutiny.labels import export_preferences

    written = export_preferences(Store(), name, out_file)
    err.print(f"exported {plural(written, 'label')} to {out_file}", highlight=False, markup=False, soft_wrap=True)
