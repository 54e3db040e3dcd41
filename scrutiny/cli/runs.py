"""`scrutiny runs`: the batch, bench, train and refine runs, listed and shown."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from scrutiny.cli.common import (
    JsonOpt,
    one_line_errors,
    out,
    plural,
)
from scrutiny.memory import Store

runs_app = typer.Typer(no_args_is_help=True, help="Batch, bench, train and refine runs: list and show.")


@runs_app.command("list")
@one_line_errors
def runs_list(
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    kind: Annotated[Optional[str], typer.Option(help="Only this kind (judge, bench, train, refine, evolve).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    rows = Store().runs(limit=limit, kind=kind)
    if as_json:
        print(json.dumps([_run_dict(r) for r in rows], indent=2))
        return
    table = Table(caption=plural(len(rows), "run"))
    table.add_column("id", no_wrap=True)
    for column in ("kind", "status", "started", "finished", "done"):
        table.add_column(column)
    for r in rows:
        started = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        finished = r.finished_at.strftime("%H:%M:%S") if r.finished_at else "—"
        table.add_row(escape(r.id), r.kind, r.status or "—", started, finished, escape(_done(_run_dict(r)["counts"])))
    out.print(table)


def _done(c: dict | None) -> str:
    """How much of a run is done: "judged/total, n errors"."""
    c = c or {}
    done = f"{c.get('judged', 0) + c.get('skipped', 0)}/{c['total']}" if "total" in c else ""
    return done + (f", {plural(c['errors'], 'error')}" if c.get("errors") else "")


@runs_app.command("show")
@one_line_errors
def runs_show(run_id: str, as_json: JsonOpt = False) -> None:
    """One run: its command, config, counts, times, status, metrics, and how to find its traces."""
    store = Store()
    row = store.run(run_id)
    d = _run_dict(row, items=True)
    d["traces"] = store.count_traces(run_id=row.id)
    if as_json:
        print(json.dumps(d, indent=2))
        return
    for key in ("id", "kind", "status", "command", "created_at", "finished_at", "library_version", "traces"):
        if d.get(key) not in (None, ""):
            out.print(f"{key}: {d[key]}", highlight=False, markup=False)
    for key in ("config", "counts", "metrics"):
        if d.get(key):
            out.print(f"{key}: {json.dumps(d[key])}", highlight=False, markup=False, soft_wrap=True)
    for alarm in d["metrics"].get("alarms") or []:
        out.print(f"gaming alarm at step {alarm['step']}: {alarm['alarm']}", highlight=False, markup=False)
    _print_curves(d.get("items") or [])
    if d["traces"]:
        out.print(f"its traces: scrutiny traces list --run {row.id}", highlight=False, markup=False)


def _print_curves(items: list[dict]) -> None:
    """A training run's curves, one line each: the reward, the content signal, each criterion and image
    statistic, first step → last step, so a reward rising on something else is seen at a glance."""
    keys = [k for k in dict.fromkeys(k for h in items for k in h) if k in ("reward_mean", "content_mean")]
    keys += sorted(k for k in dict.fromkeys(k for h in items for k in h) if k.startswith(("criterion/", "image/")))
    for key in keys:
        values = [h[key] for h in items if isinstance(h.get(key), int | float) and h[key] == h[key]]
        if len(values) > 1:
            out.print(f"{key}: {values[0]:.3f} → {values[-1]:.3f} (min {min(values):.3f}, max {max(values):.3f})")


def _run_dict(r, items: bool = False) -> dict:
    d = {
        "id": r.id,
        "kind": r.kind,
        "status": r.status,
        "command": r.command,
        "created_at": r.created_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "library_version": r.library_version,
        "config": json.loads(r.config_json) if r.config_json else None,
        "counts": json.loads(r.counts_json) if r.counts_json else None,
        "metrics": json.loads(r.metrics_json or "{}"),
    }
    if items:
        d["items"] = json.loads(r.items_json or "[]")
    return d
