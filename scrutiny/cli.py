"""The `scrutiny` command line: judge, compare, rank, edit, and inspect traces.

Every command prints JSON with `--json`; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from scrutiny.agents.rubric import load_rubric
from scrutiny.api import Judge, JudgeConfig
from scrutiny.images import ImageError
from scrutiny.memory import Store, StoreError
from scrutiny.schema import Verdict

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Judge generated and edited images with evidence.")
traces_app = typer.Typer(no_args_is_help=True, help="List and show the traces behind verdicts.")
app.add_typer(traces_app, name="traces")

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
RubricOpt = Annotated[Optional[Path], typer.Option("--rubric", help="JSON or YAML list of criteria to use instead of synthesis.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Judge again even if this task was judged before.")]
PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="The prompt the images were generated from.")]


def one_line_errors(command):
    """Expected failures (bad input, missing files, unknown ids) become one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, ImageError, StoreError, FileNotFoundError) as e:
            err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as e:  # a bug: one line unless debugging
            if os.environ.get("SCRUTINY_DEBUG"):
                raise
            err.print(f"error: internal: {type(e).__name__}: {e} (set SCRUTINY_DEBUG=1 for the traceback)",
                      highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _judge(no_cache: bool) -> Judge:
    return Judge(config=JudgeConfig(cache=not no_cache))


def _rubric(path: Path | None):
    return load_rubric(path) if path is not None else None


def _show(verdict: Verdict, as_json: bool, names: list[str]) -> None:
    if as_json:
        print(verdict.model_dump_json(indent=2))
        return
    table = Table(title=f"{verdict.task.kind}: {escape(verdict.task.prompt)}", title_justify="left")
    table.add_column("criterion")
    for name in names:
        table.add_column(name, justify="right")
    for c in verdict.rubric:
        cells = []
        for i in range(len(names)):
            s = next((s for s in verdict.criteria if s.criterion == c.id and s.candidate == i), None)
            cells.append("—" if s is None or s.score is None else f"{s.score:.2f}")
        table.add_row(escape(c.statement), *cells)
    table.add_row("[bold]overall[/bold]", *("abstain" if s is None else f"[bold]{s:.3f}[/bold]" for s in verdict.scores))
    out.print(table)
    if verdict.preferred is not None and len(names) > 1:
        out.print(f"preferred: {names[verdict.preferred]}")
    if verdict.ranking and len(names) > 2:
        out.print("ranking: " + " > ".join(names[i] for i in verdict.ranking))
    out.print(verdict.critique, soft_wrap=True, markup=False, highlight=False)
    out.print(f"[dim]trace {verdict.trace_id}{' (cached)' if verdict.cached else ''}[/dim]")


@app.command("judge")
@one_line_errors
def judge_cmd(image: Path, prompt: PromptOpt, rubric: RubricOpt = None, as_json: JsonOpt = False,
              no_cache: NoCacheOpt = False) -> None:
    """Score one image against its prompt."""
    verdict = _judge(no_cache).judge(image, prompt, rubric=_rubric(rubric))
    _show(verdict, as_json, [image.name])


@app.command("compare")
@one_line_errors
def compare_cmd(image_a: Path, image_b: Path, prompt: PromptOpt, rubric: RubricOpt = None, as_json: JsonOpt = False,
                no_cache: NoCacheOpt = False) -> None:
    """Say which of two images fits the prompt better."""
    verdict = _judge(no_cache).compare(image_a, image_b, prompt, rubric=_rubric(rubric))
    _show(verdict, as_json, [image_a.name, image_b.name])


@app.command("rank")
@one_line_errors
def rank_cmd(images: list[Path], prompt: PromptOpt, rubric: RubricOpt = None, as_json: JsonOpt = False,
             no_cache: NoCacheOpt = False) -> None:
    """Order several images best first."""
    if len(images) < 2:
        raise ValueError("rank needs at least two images")
    verdict = _judge(no_cache).rank(images, prompt, rubric=_rubric(rubric))
    _show(verdict, as_json, [p.name for p in images])


@app.command("edit")
@one_line_errors
def edit_cmd(edited: list[Path], source: Annotated[Path, typer.Option("--source", "-s", help="The image before the edit.")],
             instruction: Annotated[str, typer.Option("--instruction", "-i", help="The edit instruction.")],
             rubric: RubricOpt = None, as_json: JsonOpt = False, no_cache: NoCacheOpt = False) -> None:
    """Judge one or more edits of a source image against the instruction."""
    verdict = _judge(no_cache).edit(source, edited, instruction, rubric=_rubric(rubric))
    _show(verdict, as_json, [p.name for p in edited])


@app.command("refine")
@one_line_errors
def refine_cmd(prompt: PromptOpt,
               generator: Annotated[str, typer.Option("--generator", "-g", help="module:function (or module:Class) making an image from (prompt, seed).")],
               n: Annotated[int, typer.Option("--n", help="Images per round (best-of-n).")] = 4,
               rounds: Annotated[int, typer.Option("--rounds", help="Most rounds to run.")] = 3,
               threshold: Annotated[Optional[float], typer.Option(help="Stop once the best score reaches this.")] = None,
               out: Annotated[Optional[Path], typer.Option("--out", help="Save the best image here (PNG).")] = None,
               as_json: JsonOpt = False) -> None:
    """Generate, judge, critique, revise the prompt and regenerate, keeping the best image."""
    from scrutiny.refinement import refine

    def progress(r) -> None:
        if not as_json:
            best = "abstain" if r.best_score is None else f"{r.best_score:.3f}"
            err.print(f"round {r.index + 1}: best {best} {'(accepted)' if r.accepted else '(rejected: lower than the best so far)'}"
                      f" in {r.seconds:.1f}s — {r.prompt}", highlight=False, markup=False, soft_wrap=True)

    result = refine(prompt, load_generator(generator), n=n, rounds=rounds, threshold=threshold, on_round=progress)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.best_image.save(out)
    if as_json:
        print(json.dumps(result.summary() | {"saved": str(out) if out else None}, indent=2))
        return
    out_line = f", saved to {out}" if out else ""
    print(f"best score {result.best_score:.3f} (round {result.best_round + 1}, image {result.best_index}){out_line}")
    print(f"stopped: {result.stop_reason}")
    print(result.best_verdict.critique)


def load_generator(spec: str):
    """`module:attr` → the generator; a class is instantiated with no arguments."""
    import importlib
    import inspect

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--generator must look like module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import generator module {module_name!r}: {e}") from None
    if not hasattr(module, attr):
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    return obj() if inspect.isclass(obj) else obj


@traces_app.command("list")
@one_line_errors
def traces_list(limit: Annotated[int, typer.Option(help="How many traces to show.")] = 20,
                offset: Annotated[int, typer.Option(help="How many of the newest to skip.")] = 0,
                prompt: Annotated[Optional[str], typer.Option(help="Only traces whose prompt contains this.")] = None,
                as_json: JsonOpt = False) -> None:
    """List traces, newest first."""
    store = Store()
    rows = store.traces(limit=limit, offset=offset, prompt=prompt)
    scores = {r.id: store.verdict(r.verdict_id).scores if r.verdict_id else None for r in rows}
    if as_json:
        print(json.dumps([{"id": r.id, "created_at": r.created_at.isoformat(), "kind": r.kind, "prompt": r.prompt,
                           "policy": r.policy, "model": r.model, "verdict_id": r.verdict_id, "scores": scores[r.id]}
                          for r in rows], indent=2))
        return
    table = Table()
    for column in ("id", "when", "kind", "policy", "scores", "prompt"):
        table.add_column(column)
    for r in rows:
        shown = ", ".join("—" if s is None else f"{s:.2f}" for s in scores[r.id] or [])
        table.add_row(r.id[:12], r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.kind, r.policy, shown, escape(r.prompt[:60]))
    out.print(table)


@traces_app.command("show")
@one_line_errors
def traces_show(trace_id: str, as_json: JsonOpt = False) -> None:
    """Show one trace: task → rubric → evidence → scores → critique."""
    store = Store()
    trace = store.trace(trace_id)
    verdict = store.verdict(trace.verdict_id) if trace.verdict_id else None
    if as_json:
        print(json.dumps({"trace": trace.model_dump(mode="json"),
                          "verdict": verdict.model_dump(mode="json") if verdict else None}, indent=2))
        return
    tree = Tree(f"[bold]{trace.task.kind}[/bold]: {escape(trace.task.prompt)}  [dim]{trace.id}[/dim]")
    tree.add(f"policy {trace.policy}" + (f", model {trace.model}" if trace.model else ""))
    if verdict is None:
        events = tree.add("events")
        for e in trace.events:
            events.add(f"{e.seq} {e.kind} {e.node or ''}")
        out.print(tree)
        return
    rubric = tree.add("rubric")
    for c in verdict.rubric:
        rubric.add(f"{c.id}: {escape(c.statement)}" + ("" if c.checkable else " [dim](not checkable offline)[/dim]"))
    evidence = tree.add("evidence")
    by_id = {e.id: e for e in verdict.evidence}
    for e in verdict.evidence:
        args = ", ".join(f"{k}={v}" for k, v in e.arguments.items())
        evidence.add(escape(f"{e.tool}({args})") + (f" [red]error: {escape(e.error)}[/red]" if e.error else f" → {escape(_summary(e.output))}"))
    for i, overall in enumerate(verdict.scores):
        node = tree.add(f"candidate {i}: " + ("abstain" if overall is None else f"{overall:.3f}"))
        for s in (s for s in verdict.criteria if s.candidate == i):
            shown = "—" if s.score is None else f"{s.score:.2f}"
            tools = ", ".join(by_id[e].tool for e in s.evidence if e in by_id)
            node.add(f"{s.criterion} {shown}: {escape(s.rationale)}" + (f" [dim]({tools})[/dim]" if tools else ""))
    tree.add("critique").add(Text(verdict.critique))
    out.print(tree)


def _summary(output: dict | None, limit: int = 100) -> str:
    text = json.dumps(output)
    return text if len(text) <= limit else text[:limit] + "…"


def main() -> None:
    app()
