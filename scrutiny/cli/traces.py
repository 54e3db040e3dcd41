"""`scrutiny traces`: list, show, diff, export, import and replay the traces behind verdicts."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from scrutiny.api import Judge, JudgeConfig
from scrutiny.cli.common import (
    FilterPromptOpt,
    FilterRunOpt,
    JsonOpt,
    SinceOpt,
    UntilOpt,
    err,
    one_line_errors,
    out,
    parse_time,
    plural,
)
from scrutiny.core.aio import block_on
from scrutiny.core.schema import Verdict
from scrutiny.memory import Store
from scrutiny.skills.library import SkillLibrary

traces_app = typer.Typer(no_args_is_help=True, help="List and show the traces behind verdicts.")


@traces_app.command("list")
@one_line_errors
def traces_list(
    limit: Annotated[int, typer.Option(help="How many traces per page.")] = 20,
    page: Annotated[int, typer.Option(help="Which page (1 = newest).")] = 1,
    prompt: FilterPromptOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    policy: Annotated[Optional[str], typer.Option(help="Only this policy (offline, model).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model.")] = None,
    library: Annotated[Optional[str], typer.Option(help="Only this skill-library version.")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Only verdicts scoring at least this.")] = None,
    max_score: Annotated[Optional[float], typer.Option(help="Only verdicts scoring at most this.")] = None,
    abstained: Annotated[
        Optional[bool], typer.Option("--abstained/--decided", help="Only abstentions, or only decided verdicts.")
    ] = None,
    run: FilterRunOpt = None,
    step: Annotated[
        Optional[int], typer.Option("--step", help="Only this step of the run (training step, batch item).")
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="newest (default), oldest, best or worst score first.")
    ] = "newest",
    as_json: JsonOpt = False,
) -> None:
    """List traces a page at a time, newest first unless --sort says otherwise."""
    if limit < 1 or page < 1:
        raise ValueError("--limit and --page must be at least 1")
    store = Store()
    filters = dict(
        prompt=prompt,
        since=parse_time(since),
        until=parse_time(until),
        policy=policy,
        model=model,
        library_version=library,
        min_score=min_score,
        max_score=max_score,
        abstained=abstained,
        run_id=store.run(run).id if run else None,
        step=step,
    )
    total = store.count_traces(**filters)
    pages = max(1, -(-total // limit))
    if page > pages:
        raise ValueError(f"there is no page {page}: {plural(total, 'trace')} make {plural(pages, 'page')} of {limit}")
    rows = store.traces(limit=limit, offset=(page - 1) * limit, order=sort, **filters)
    verdicts = store.verdicts_by_id([r.verdict_id for r in rows if r.verdict_id])  # one query for the page
    scores = {r.id: verdicts[r.verdict_id].scores if r.verdict_id in verdicts else None for r in rows}
    if as_json:
        listed = [_trace_row(r, scores[r.id]) for r in rows]
        print(json.dumps({"total": total, "page": page, "limit": limit, "traces": listed}, indent=2))
        return
    _print_traces(rows, scores, f"page {page} of {pages}, {plural(total, 'trace')}")


def _print_traces(rows: list, scores: dict, caption: str) -> None:
    table = Table(caption=caption)
    for column in ("id", "when", "kind", "policy", "scores", "prompt"):
        table.add_column(column)
    for r in rows:
        shown = ", ".join("—" if s is None else f"{s:.2f}" for s in scores[r.id] or [])
        when = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r.id[:12], when, r.kind, r.policy, shown, escape(r.prompt[:60]))
    out.print(table)


def _trace_row(r, scores: list | None) -> dict:
    """A listed trace as `traces list --json` prints it."""
    fields = ("id", "kind", "prompt", "policy", "model", "library_version", "verdict_id", "run_id", "step")
    return {**{k: getattr(r, k) for k in fields}, "created_at": r.created_at.isoformat(), "scores": scores}


@traces_app.command("diff")
@one_line_errors
def traces_diff(a: str, b: str, as_json: JsonOpt = False) -> None:
    """Compare two verdicts of the same task criterion by criterion (trace or verdict ids)."""
    from scrutiny.traces import diff_verdicts, verdict_of

    store = Store()
    _show_diff(diff_verdicts(verdict_of(store, a), verdict_of(store, b)), as_json)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _show_diff(diff, as_json: bool) -> None:
    if as_json:
        print(json.dumps(diff.to_json(), indent=2))
        return

    def label(v: Verdict) -> str:
        return f"{v.policy}{'/' + v.model if v.model else ''}{' lib ' + v.library_version if v.library_version else ''}"

    table = Table(title=f"{escape(diff.a.task.prompt)}", title_justify="left")
    for column in ("criterion", "candidate", f"A ({label(diff.a)})", f"B ({label(diff.b)})", "Δ"):
        table.add_column(escape(column))
    for r in diff.rows:
        delta = "" if r.delta is None else f"{r.delta:+.2f}"
        row = (escape(r.statement), str(r.candidate), _num(r.a), _num(r.b), delta)
        table.add_row(*row, style="bold" if r.changed else None)
    for i, (x, y) in enumerate(zip(diff.a.scores, diff.b.scores)):
        table.add_row(
            "[bold]overall[/bold]", str(i), _num(x), _num(y), "" if x is None or y is None else f"{y - x:+.2f}"
        )
    out.print(table)
    for statement in diff.only_a:
        out.print(f"only in A: {escape(statement)}")
    for statement in diff.only_b:
        out.print(f"only in B: {escape(statement)}")
    out.print("identical" if diff.identical else "different")


@traces_app.command("export")
@one_line_errors
def traces_export(
    out_file: Annotated[Optional[Path], typer.Option("--out", help="JSONL file to write (default: stdout).")] = None,
    prompt: FilterPromptOpt = None,
    run: FilterRunOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many traces, newest first (default: all).")] = None,
) -> None:
    """Export traces with their verdicts and images as JSONL, streamed (any number of traces)."""
    from scrutiny.traces import export_lines

    if limit is not None and limit < 1:
        raise ValueError("--limit must be at least 1")
    store = Store()
    filters = dict(prompt=prompt, run_id=store.run(run).id if run else None)
    total = store.count_traces(**filters)
    written = _write_lines(export_lines(store, store.iter_traces(limit=limit, **filters)), out_file)
    left = total - written
    where = f" to {out_file}" if out_file else ""
    note = f"; {left} more match (raise --limit, or leave it out for all)" if left > 0 else ""
    err.print(f"exported {plural(written, 'trace')}{where}{note}", highlight=False, markup=False, soft_wrap=True)


def _write_lines(lines, out_file: Path | None) -> int:
    """Lines to a file (or to stdout), one at a time; how many were written."""
    written = 0
    with out_file.open("w") if out_file is not None else contextlib.nullcontext() as sink:
        for line in lines:
            if sink is None:
                print(line)
            else:
                sink.write(line + "\n")
            written += 1
    return written


@traces_app.command("import")
@one_line_errors
def traces_import(path: Path) -> None:
    """Import a JSONL export into this store."""
    from scrutiny.traces import import_lines

    report = import_lines(Store(), path)
    for line in report.refused:
        err.print(f"refused: {line}", highlight=False, markup=False, soft_wrap=True)
    if report.added == 0 and report.known:
        message = f"nothing new: the {plural(report.known, 'trace')} in {path} are already in this store"
    else:
        message = f"imported {plural(report.added, 'trace')}" + (
            f" ({report.known} were already here)" if report.known else ""
        )
    if report.refused:
        message += f"; {plural(len(report.refused), 'record')} refused"
    err.print(message, highlight=False, markup=False, soft_wrap=True)
    if report.refused and not (report.added or report.known):
        raise typer.Exit(2)


@traces_app.command("replay")
@one_line_errors
def traces_replay(
    trace_id: str,
    max_steps: Annotated[Optional[int], typer.Option(help="Inspection rounds for the new run.")] = None,
    library: Annotated[
        Optional[str],
        typer.Option(help="Skill-library version (from `scrutiny skills history`) for the new run."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge a stored task again (here: the offline policy) and diff against the stored verdict."""
    from scrutiny.traces import areplay

    store = Store()
    config = JudgeConfig() if max_steps is None else JudgeConfig(max_steps=max_steps)
    judge = Judge(
        store=store, config=config, library=SkillLibrary.from_json(store.library_json(library)) if library else None
    )
    _show_diff(block_on(areplay(judge, trace_id)), as_json)


@traces_app.command("show")
@one_line_errors
def traces_show(trace_id: str, as_json: JsonOpt = False) -> None:
    """Show one trace: task → rubric → evidence → scores → critique."""
    store = Store()
    trace = store.trace(trace_id)
    verdict = store.verdict(trace.verdict_id) if trace.verdict_id else None
    if as_json:
        print(
            json.dumps(
                {
                    "trace": trace.model_dump(mode="json"),
                    "verdict": verdict.model_dump(mode="json") if verdict else None,
                },
                indent=2,
            )
        )
        return
    tree = Tree(f"[bold]{trace.task.kind}[/bold]: {escape(trace.task.prompt)}  [dim]{trace.id}[/dim]")
    tree.add(f"policy {trace.policy}" + (f", model {trace.model}" if trace.model else ""))
    if verdict is None:
        events = tree.add("events")
        for e in trace.events:
            events.add(f"{e.seq} {e.kind} {e.node or ''}")
        out.print(tree)
        _print_conversation(trace)
        return
    rubric = tree.add("rubric")
    for c in verdict.rubric:
        rubric.add(f"{c.id}: {escape(c.statement)}" + ("" if c.checkable else " [dim](not checkable offline)[/dim]"))
    evidence = tree.add("evidence")
    by_id = {e.id: e for e in verdict.evidence}
    for e in verdict.evidence:
        args = ", ".join(f"{k}={v}" for k, v in e.arguments.items())
        evidence.add(
            escape(f"{e.tool}({args})")
            + (f" [red]error: {escape(e.error)}[/red]" if e.error else f" → {escape(_summary(e.output))}")
        )
    for i, overall in enumerate(verdict.scores):
        node = tree.add(f"candidate {i}: " + ("abstain" if overall is None else f"{overall:.3f}"))
        if i < len(verdict.coverage):
            cov = verdict.coverage[i]
            node.add(
                f"coverage: {len(cov.checked)} of {len(cov.checked) + len(cov.unchecked)} content criteria checked"
                + (f"; abstained: {escape(cov.abstain_reason)}" if cov.abstain_reason else "")
            )
        for s in (s for s in verdict.criterion_scores if s.candidate == i):
            shown = "—" if s.score is None else f"{s.score:.2f}"
            tools = ", ".join(by_id[e].tool for e in s.evidence if e in by_id)
            node.add(f"{s.criterion} {shown}: {escape(s.rationale)}" + (f" [dim]({tools})[/dim]" if tools else ""))
    tree.add("critique").add(Text(verdict.critique))
    out.print(tree)
    _print_conversation(trace)


def _print_conversation(trace) -> None:
    """The model's turns, as a conversation (nothing for the offline policy)."""
    from scrutiny.traces import conversation

    turns = conversation(trace)
    if not turns:
        return
    out.print("[bold]model conversation[/bold]")
    for turn in turns:
        extra = f" [{plural(turn.images, 'image')}]" if turn.images else ""
        text = turn.text if len(turn.text) <= 600 else turn.text[:600] + "…"
        out.print(f"{turn.role}{extra}: ", style="bold", end="", highlight=False)
        out.print(text, markup=False, highlight=False, soft_wrap=True)
        for call in turn.tool_calls:
            out.print(f"  → {call}", markup=False, highlight=False, soft_wrap=True)


def _summary(output: dict | None, limit: int = 100) -> str:
    text = json.dumps(output)
    return text if len(text) <= limit else text[:limit] + "…"
