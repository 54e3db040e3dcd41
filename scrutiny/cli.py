"""The `scrutiny` command line: judge, compare, rank, edit, and inspect traces.

Every command prints JSON with `--json`; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import contextlib
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
from sqlalchemy.exc import SQLAlchemyError

from scrutiny.agents.rubric import load_rubric
from scrutiny.api import Judge, JudgeConfig
from scrutiny.core.aio import freeze_gc, run_sync
from scrutiny.core.backend import BackendError
from scrutiny.core.images import ImageError
from scrutiny.core.loading import load_object
from scrutiny.core.progress import ProgressBar
from scrutiny.core.schema import Verdict
from scrutiny.memory import Store, StoreError
from scrutiny.skills.library import SkillLibrary


def _flag_type(option, ctx):
    """Typer 0.29 prints a type beside every option, flags too (`--json <bool>`); a flag has none."""
    return None if option.is_flag else _option_type(option, ctx)


_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Judge generated and edited images with evidence.")
traces_app = typer.Typer(no_args_is_help=True, help="List and show the traces behind verdicts.")
app.add_typer(traces_app, name="traces")
runs_app = typer.Typer(no_args_is_help=True, help="Batch, bench, train and refine runs: list and show.")
app.add_typer(runs_app, name="runs")


def _version(value: bool) -> None:
    if value:
        from scrutiny import __version__

        print(f"scrutiny {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Judge generated and edited images with evidence."""


out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
RubricOpt = Annotated[
    Optional[Path], typer.Option("--rubric", help="JSON or YAML list of criteria to use instead of synthesis.")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Judge again even if this task was judged before.")]
PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="The prompt the images were generated from.")]
BackendOpt = Annotated[
    Optional[str],
    typer.Option(
        "--backend",
        help="Judge with a vision-language model at these OpenAI-compatible URLs (comma-separated), or 'serve' for the endpoints `scrutiny serve` wrote.",
    ),
]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Served model name for --backend.")]
TagToolsOpt = Annotated[
    bool,
    typer.Option(
        "--tag-tools",
        metavar="",
        help="Ask for <tool_call> tags instead of native tool calls (servers without a tool parser).",
    ),
]


def one_line_errors(command):
    """Expected failures (bad input, missing files, unknown ids) become one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:  # the command chose its exit code
            raise
        # no model server answered (BackendError) is the user's setup, not a bug
        except (ValueError, ImageError, StoreError, FileNotFoundError, BackendError) as e:
            err.print(f"error: {' '.join(str(e).split())}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except SQLAlchemyError as e:  # a store file gone bad while it was read: what is wrong, and what to do
            from scrutiny.memory.engine import default_home, describe_failure

            where = os.environ.get("SCRUTINY_DB_URL") or str(default_home() / "scrutiny.db")
            err.print(f"error: {describe_failure(e, where)}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as e:  # a bug: one line unless debugging
            if os.environ.get("SCRUTINY_DEBUG"):
                raise
            err.print(
                f"error: internal: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]} (set SCRUTINY_DEBUG=1 for the traceback)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _judge(no_cache: bool, backend: str | None = None, model: str | None = None, tag_tools: bool = False) -> Judge:
    # one judgment at a terminal: a backend that is down is an error to fix, not an abstention
    config = JudgeConfig(cache=not no_cache, backend_errors="raise")
    if backend is None:
        return Judge(config=config)
    from scrutiny.agents.model import ModelPolicy

    return Judge(policy=ModelPolicy(_backend(backend, model), native_tools=not tag_tools), config=config)


def _backend(backend: str, model: str | None):
    """The server pool `--backend` names: comma-separated URLs (with `--model`), or 'serve' for the
    endpoints `scrutiny serve` wrote."""
    from scrutiny.backends import OpenAIBackend
    from scrutiny.serve import endpoints_file

    if backend == "serve":
        return OpenAIBackend.from_file(endpoints_file())
    from urllib.parse import urlparse

    urls = [u.strip() for u in backend.split(",") if u.strip()]
    for url in urls:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"--backend {url!r} is not a server URL: give http://host:port (comma-separated), or 'serve'"
            )
    if not model:
        raise ValueError("--backend needs --model (the served model name)")
    return OpenAIBackend(urls, model)


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
    table.add_row(
        "[bold]overall[/bold]", *("abstain" if s is None else f"[bold]{s:.3f}[/bold]" for s in verdict.scores)
    )
    out.print(table)
    if verdict.preferred is not None and len(names) > 1:
        out.print(f"preferred: {names[verdict.preferred]}")
    if verdict.ranking and len(names) > 2:
        out.print("ranking: " + " > ".join(names[i] for i in verdict.ranking))
    out.print(verdict.critique, soft_wrap=True, markup=False, highlight=False)
    out.print(f"[dim]trace {verdict.trace_id}{' (cached)' if verdict.cached else ''}[/dim]")


@app.command("judge")
@one_line_errors
def judge_cmd(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="An image; or many: files, folders, glob patterns, JSONL/CSV/Parquet manifests, a saved dataset.",
            show_default=False,
        ),
    ],
    prompt: Annotated[
        Optional[str],
        typer.Option("--prompt", "-p", help="The prompt the images were generated from (manifests carry their own)."),
    ] = None,
    rubric: RubricOpt = None,
    as_json: JsonOpt = False,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
    out_file: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Results file for a batch, .jsonl or .parquet; a rerun resumes it."),
    ] = None,
    min_score: Annotated[
        Optional[float], typer.Option("--min-score", help="Also write the items scoring at least this (filtering).")
    ] = None,
    passing: Annotated[
        Optional[Path], typer.Option("--passing", help="Where --min-score writes them (default: OUT.passing.jsonl).")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", help="Judgments in flight at once.")] = 4,
    ray: Annotated[
        Optional[str],
        typer.Option(
            "--ray",
            help="Judge the batch on Ray: 'local' (a Ray instance on this machine) or a cluster address.",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Judge actors with --ray.")] = 2,
) -> None:
    """Score an image against its prompt, or a whole dataset into a results file.

    One image prints its verdict. Several images, a folder, a glob or a manifest make a batch: one
    results row per item in --out (default scrutiny-results.jsonl), a score histogram and the
    abstentions by reason at the end. Rerun the same command to resume an interrupted batch.
    """
    import glob

    first = Path(inputs[0])
    # one image file (or one path that is not there: that is an error, not a batch of one bad row)
    single = len(inputs) == 1 and not first.is_dir() and not glob.has_magic(inputs[0])
    single = single and first.suffix.lower() not in (".jsonl", ".csv", ".parquet")
    if single and out_file is None and min_score is None and ray is None:
        if prompt is None:
            raise ValueError("give the prompt the image was generated from: --prompt '...'")
        verdict = _judge(no_cache, backend, model, tag_tools).judge(Path(inputs[0]), prompt, rubric=_rubric(rubric))
        _show(verdict, as_json, [Path(inputs[0]).name])
        return
    if concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {concurrency}")
    judge = _judge(no_cache, backend, model, tag_tools)
    judge.config.concurrency = concurrency
    options = dict(
        min_score=min_score,
        passing=passing,
        ray=ray,
        workers=workers,
        as_json=as_json,
        rubric=_rubric(rubric),
        backend=backend,
        model=model,
        tag_tools=tag_tools,
    )
    _batch(inputs, prompt, out_file or Path("scrutiny-results.jsonl"), judge, options)


@app.command("compare")
@one_line_errors
def compare_cmd(
    image_a: Path,
    image_b: Path,
    prompt: PromptOpt,
    rubric: RubricOpt = None,
    as_json: JsonOpt = False,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
) -> None:
    """Say which of two images fits the prompt better."""
    verdict = _judge(no_cache, backend, model, tag_tools).compare(image_a, image_b, prompt, rubric=_rubric(rubric))
    _show(verdict, as_json, [image_a.name, image_b.name])


@app.command("rank")
@one_line_errors
def rank_cmd(
    images: list[Path],
    prompt: PromptOpt,
    rubric: RubricOpt = None,
    as_json: JsonOpt = False,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
) -> None:
    """Order several images best first."""
    if len(images) < 2:
        raise ValueError("rank needs at least two images")
    verdict = _judge(no_cache, backend, model, tag_tools).rank(images, prompt, rubric=_rubric(rubric))
    _show(verdict, as_json, [p.name for p in images])


@app.command("edit")
@one_line_errors
def edit_cmd(
    edited: list[Path],
    source: Annotated[Path, typer.Option("--source", "-s", help="The image before the edit.")],
    instruction: Annotated[str, typer.Option("--instruction", "-i", help="The edit instruction.")],
    rubric: RubricOpt = None,
    as_json: JsonOpt = False,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
) -> None:
    """Judge one or more edits of a source image against the instruction."""
    verdict = _judge(no_cache, backend, model, tag_tools).edit(source, edited, instruction, rubric=_rubric(rubric))
    _show(verdict, as_json, [p.name for p in edited])


@app.command("refine")
@one_line_errors
def refine_cmd(
    prompt: PromptOpt,
    generator: Annotated[
        str,
        typer.Option(
            "--generator", "-g", help="module:function (or module:Class) making an image from (prompt, seed)."
        ),
    ],
    n: Annotated[int, typer.Option("--n", help="Images per round (best-of-n).")] = 4,
    rounds: Annotated[int, typer.Option("--rounds", help="Most rounds to run.")] = 3,
    threshold: Annotated[Optional[float], typer.Option(help="Stop once the best score reaches this.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Save the best image here (PNG).")] = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate, judge, critique, revise the prompt and regenerate, keeping the best image.

    With --backend the model judges and an LLM rewrites the prompt from the critique; otherwise the
    offline judge and the offline reviser (one explicit sentence per unmet criterion) do.
    """
    from scrutiny.agents.refine import ModelReviser, OfflineReviser
    from scrutiny.refinement import refine

    def progress(r) -> None:
        if not as_json:
            best = "abstain" if r.best_score is None else f"{r.best_score:.3f}"
            err.print(
                f"round {r.index + 1}: best {best} {'(accepted)' if r.accepted else '(rejected: lower than the best so far)'}"
                f" in {r.seconds:.1f}s — {r.prompt}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    judge = _judge(False, backend, model, tag_tools)
    reviser = ModelReviser(judge.policy.backend) if backend else OfflineReviser()
    generate = load_generator(generator)
    freeze_gc()
    result = refine(
        prompt, generate, n=n, rounds=rounds, threshold=threshold, on_round=progress, judge=judge, reviser=reviser
    )
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


def _batch(inputs: list[str], prompt: str | None, out_file: Path, judge: Judge, options: dict) -> None:
    """`scrutiny judge` over many items (see `scrutiny.batch`)."""
    import shlex
    import sys

    from scrutiny.batch import histogram_lines, previous_run, read_items, run_batch

    if out_file.suffix.lower() not in (".jsonl", ".parquet"):
        raise ValueError(f"--out must end in .jsonl or .parquet, got {out_file.name!r}")
    min_score = options["min_score"]
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ValueError(f"--min-score is a score between 0 and 1, got {min_score}")
    items = read_items(list(inputs), prompt)
    judge.config.backend_errors = "abstain"  # in a batch a failed item is an error row, and the batch goes on
    config = {"out": str(out_file), "items": len(items), "policy": judge.policy.name, "model": judge.policy.model}
    command = shlex.join(["scrutiny", *sys.argv[1:]])
    # a rerun that resumes a results file continues its run
    run_id = judge.store.start_run("judge", command, config, judge.library_version, run_id=previous_run(out_file))
    status, summary = "failed", None
    bar = ProgressBar("judging", console=err)
    common = dict(
        run_id=run_id, min_score=min_score, passing=options["passing"], on_done=bar.advance, on_start=bar.start
    )
    try:
        if options["ray"] is not None:
            from scrutiny.distributed import run_on_ray, spec_of

            spec = spec_of(judge, options["backend"], options["model"], options["tag_tools"])
            ray_options = dict(address=options["ray"], workers=options["workers"], rubric=options["rubric"])
            summary = run_on_ray(spec, items, out_file, **ray_options, **common)
        else:
            summary = run_batch(judge, items, out_file, rubric=options["rubric"], **common)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        judge.store.finish_run(run_id, status, counts=summary.counts() if summary else None)
    counts = summary.counts()
    if summary.lost:  # never claim rows the file does not hold
        err.print(
            f"error: {_n(summary.lost, 'row')} judged in this run are not in {out_file}: something else wrote it meanwhile",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if options["as_json"]:
        extra = {"histogram": summary.histogram(), "abstentions": dict(summary.reasons)}
        print(json.dumps({"run": run_id, "out": str(out_file), **counts, **extra}))
        if summary.lost:
            raise typer.Exit(1)
        return
    out.print(
        f"{_n(counts['judged'], 'item')} judged, {counts['skipped']} already in {out_file} (skipped), "
        f"{_n(counts['errors'], 'error')}, {counts['abstained']} without a score, in {summary.seconds:.1f} s",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if summary.scores:
        out.print(f"scores (mean {counts['mean_score']:.3f}):", highlight=False)
        for line in histogram_lines(summary):
            out.print("  " + line, highlight=False, markup=False)
    for reason, n in summary.reasons.most_common():
        out.print(f"  no score, {reason}: {n} ({n / max(counts['total'], 1):.0%})", highlight=False, markup=False)
    if summary.passing is not None:
        out.print(f"{_n(summary.passing, 'item')} scored at least {min_score}", highlight=False)
    out.print(f"results in {out_file}; run {run_id}", highlight=False, markup=False, style="dim")
    if summary.lost:
        raise typer.Exit(1)


def _n(count: int, noun: str) -> str:
    """ "1 item", "2 items"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_generator(spec: str):
    """`module:attr` or `file.py:attr` → the generator; a class is instantiated with no arguments."""
    import inspect

    obj = load_object(spec, "--generator")
    return obj() if inspect.isclass(obj) else obj


@traces_app.command("list")
@one_line_errors
def traces_list(
    limit: Annotated[int, typer.Option(help="How many traces per page.")] = 20,
    page: Annotated[int, typer.Option(help="Which page (1 = newest).")] = 1,
    prompt: Annotated[Optional[str], typer.Option(help="Only traces whose prompt contains this.")] = None,
    since: Annotated[
        Optional[str], typer.Option(help="Only newer traces: ISO date/time, or an age like 2h, 3d.")
    ] = None,
    until: Annotated[
        Optional[str], typer.Option(help="Only older traces: ISO date/time, or an age like 2h, 3d.")
    ] = None,
    policy: Annotated[Optional[str], typer.Option(help="Only this policy (offline, model).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model.")] = None,
    library: Annotated[Optional[str], typer.Option(help="Only this skill-library version.")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Only verdicts scoring at least this.")] = None,
    max_score: Annotated[Optional[float], typer.Option(help="Only verdicts scoring at most this.")] = None,
    abstained: Annotated[
        Optional[bool],
        typer.Option("--abstained/--decided", help="Only abstentions, or only decided verdicts."),
    ] = None,
    run: Annotated[
        Optional[str], typer.Option("--run", help="Only the traces of this run (see `scrutiny runs list`).")
    ] = None,
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
        since=_when(since),
        until=_when(until),
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
        raise ValueError(f"there is no page {page}: {_n(total, 'trace')} make {_n(pages, 'page')} of {limit}")
    rows = store.traces(limit=limit, offset=(page - 1) * limit, order=sort, **filters)
    scores = {r.id: store.verdict(r.verdict_id).scores if r.verdict_id else None for r in rows}
    if as_json:
        print(
            json.dumps(
                {
                    "total": total,
                    "page": page,
                    "limit": limit,
                    "traces": [
                        {
                            "id": r.id,
                            "created_at": r.created_at.isoformat(),
                            "kind": r.kind,
                            "prompt": r.prompt,
                            "policy": r.policy,
                            "model": r.model,
                            "library_version": r.library_version,
                            "verdict_id": r.verdict_id,
                            "run_id": r.run_id,
                            "step": r.step,
                            "scores": scores[r.id],
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(caption=f"page {page} of {pages}, {_n(total, 'trace')}")
    for column in ("id", "when", "kind", "policy", "scores", "prompt"):
        table.add_column(column)
    for r in rows:
        shown = ", ".join("—" if s is None else f"{s:.2f}" for s in scores[r.id] or [])
        table.add_row(
            r.id[:12], r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.kind, r.policy, shown, escape(r.prompt[:60])
        )
    out.print(table)


def _when(text: str | None):
    from scrutiny.traces import parse_when

    return parse_when(text)


@traces_app.command("diff")
@one_line_errors
def traces_diff(a: str, b: str, as_json: JsonOpt = False) -> None:
    """Compare two verdicts of the same task criterion by criterion (trace or verdict ids)."""
    from scrutiny.traces import diff_verdicts, verdict_of

    store = Store()
    _show_diff(diff_verdicts(verdict_of(store, a), verdict_of(store, b)), as_json)


def _show_diff(diff, as_json: bool) -> None:
    if as_json:
        print(json.dumps(diff.to_json(), indent=2))
        return

    def label(v: Verdict) -> str:
        return f"{v.policy}{'/' + v.model if v.model else ''}{' lib ' + v.library_version if v.library_version else ''}"

    table = Table(title=f"{escape(diff.a.task.prompt)}", title_justify="left")
    for column in ("criterion", "candidate", f"A ({label(diff.a)})", f"B ({label(diff.b)})", "Δ"):
        table.add_column(escape(column))
    fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
    for r in diff.rows:
        style = "bold" if r.changed else None
        table.add_row(
            escape(r.statement),
            str(r.candidate),
            fmt(r.a),
            fmt(r.b),
            "" if r.delta is None else f"{r.delta:+.2f}",
            style=style,
        )
    for i, (x, y) in enumerate(zip(diff.a.scores, diff.b.scores)):
        table.add_row("[bold]overall[/bold]", str(i), fmt(x), fmt(y), "" if x is None or y is None else f"{y - x:+.2f}")
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
    prompt: Annotated[Optional[str], typer.Option(help="Only traces whose prompt contains this.")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="Only the traces of this run.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many traces, newest first (default: all).")] = None,
) -> None:
    """Export traces with their verdicts and images as JSONL, streamed (any number of traces)."""
    from scrutiny.traces import export_lines

    if limit is not None and limit < 1:
        raise ValueError("--limit must be at least 1")
    store = Store()
    filters = dict(prompt=prompt, run_id=store.run(run).id if run else None)
    total = store.count_traces(**filters)
    lines = export_lines(store, store.iter_traces(limit=limit, **filters))
    sink = out_file.open("w") if out_file is not None else None
    written = 0
    try:
        for line in lines:
            if sink is None:
                print(line)
            else:
                sink.write(line + "\n")
            written += 1
    finally:
        if sink is not None:
            sink.close()
    left = total - written
    where = f" to {out_file}" if out_file else ""
    note = f"; {left} more match (raise --limit, or leave it out for all)" if left > 0 else ""
    err.print(f"exported {_n(written, 'trace')}{where}{note}", highlight=False, markup=False, soft_wrap=True)


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
    table = Table(caption=_n(len(rows), "run"))
    table.add_column("id", no_wrap=True)
    for column in ("kind", "status", "started", "finished", "done"):
        table.add_column(column)
    for r in rows:
        d = _run_dict(r)
        c = d["counts"] or {}
        counts = f"{c.get('judged', 0) + c.get('skipped', 0)}/{c['total']}" if "total" in c else ""
        counts += f", {_n(c['errors'], 'error')}" if c.get("errors") else ""
        table.add_row(
            escape(r.id),
            r.kind,
            r.status or "—",
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.finished_at.strftime("%H:%M:%S") if r.finished_at else "—",
            escape(counts),
        )
    out.print(table)


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


@traces_app.command("import")
@one_line_errors
def traces_import(path: Path) -> None:
    """Import a JSONL export into this store."""
    from scrutiny.traces import import_lines

    report = import_lines(Store(), path)
    for line in report.refused:
        err.print(f"refused: {line}", highlight=False, markup=False, soft_wrap=True)
    if report.added == 0 and report.known:
        message = f"nothing new: the {_n(report.known, 'trace')} in {path} are already in this store"
    else:
        message = f"imported {_n(report.added, 'trace')}" + (
            f" ({report.known} were already here)" if report.known else ""
        )
    if report.refused:
        message += f"; {_n(len(report.refused), 'record')} refused"
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
    _show_diff(run_sync(areplay(judge, trace_id)), as_json)


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
        for s in (s for s in verdict.criteria if s.candidate == i):
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
        extra = f" [{_n(turn.images, 'image')}]" if turn.images else ""
        text = turn.text if len(turn.text) <= 600 else turn.text[:600] + "…"
        out.print(f"{turn.role}{extra}: ", style="bold", end="", highlight=False)
        out.print(text, markup=False, highlight=False, soft_wrap=True)
        for call in turn.tool_calls:
            out.print(f"  → {call}", markup=False, highlight=False, soft_wrap=True)


def _summary(output: dict | None, limit: int = 100) -> str:
    text = json.dumps(output)
    return text if len(text) <= limit else text[:limit] + "…"


label_app = typer.Typer(no_args_is_help=True, help="Labelling queues: fill them, list them, export their labels.")
app.add_typer(label_app, name="label")


@label_app.command("queue")
@one_line_errors
def label_queue(
    name: Annotated[str, typer.Argument(help="The queue's name.")],
    traces: Annotated[bool, typer.Option("--traces", help="From the store's traces (filters below).")] = False,
    results: Annotated[Optional[Path], typer.Option("--results", help="From a batch results file.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Only traces whose prompt contains this.")] = None,
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

    _check_queue_name(name)
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
        other = _judge(True, backend, model) if backend else Judge(store=store)
        other = Judge(policy=other.policy, store=store, config=other.config, library=library or other.library)
        items = run_sync(items_where_judges_disagree(other, limit=limit, **filters))
    else:
        items = items_from_traces(store, limit=limit, **filters)
    added = store.add_label_items(name, items)
    total = store.label_queues().get(name, (0, 0))[0]
    err.print(
        f"queue {name}: {_n(added, 'new item')}, {total} in all; label them at /label in `scrutiny view`",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _check_queue_name(name: str) -> None:
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
        out.print(f"{q}: {_n(n, 'item')}, {_n(k, 'label')}", highlight=False, markup=False)
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
    err.print(f"exported {_n(written, 'label')} to {out_file}", highlight=False, markup=False, soft_wrap=True)


skills_app = typer.Typer(no_args_is_help=True, help="The skill library: list, show, diff, history, rollback, evolve.")
app.add_typer(skills_app, name="skills")


@app.command("bench")
@one_line_errors
def bench_cmd(
    data: Path,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    tag_tools: TagToolsOpt = False,
) -> None:
    """Agreement with human preferences: pairwise and group accuracy, ties, Cohen's kappa, 95% CI."""
    from scrutiny.bench import abench, load_preferences

    items = load_preferences(data)
    judge = _judge(False, backend, model, tag_tools)
    freeze_gc()
    result = run_sync(abench(judge, items, progress=not as_json))
    if as_json:
        print(json.dumps({"run_id": result.run_id, "metrics": result.metrics, "items": result.items}, indent=2))
        return
    m = result.metrics
    fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    print(f"{m['items']} items, {m['pairs']} decided pairs")
    print(f"pairwise accuracy {fmt(m['pairwise_accuracy'])}  95% CI {m['pairwise_accuracy_ci95']}")
    print(f"group accuracy    {fmt(m['group_accuracy'])} over {m['group_items']} items with more than two images")
    print(f"tie agreement     {fmt(m['tie_agreement'])} over {m['human_ties']} human ties")
    print(f"Cohen's kappa     {fmt(m['cohen_kappa'])}")
    print(f"run {result.run_id}")


def _libraries(store: Store):
    from scrutiny.skills.library import current_library

    return current_library(store.home)


@skills_app.command("list")
@one_line_errors
def skills_list(as_json: JsonOpt = False) -> None:
    """The skills of the current library."""
    library = _libraries(Store())
    if as_json:
        print(
            json.dumps(
                {
                    "version": library.version,
                    "skills": [s.model_dump(exclude={"body"}) for s in library.skills.values()],
                },
                indent=2,
            )
        )
        return
    table = Table(caption=f"library {library.version}")
    for column in ("skill", "kind", "description", "params"):
        table.add_column(column)
    for s in library.skills.values():
        table.add_row(s.name, s.kind, escape(s.description), escape(json.dumps(s.params.dump())) if s.params else "")
    out.print(table)


@skills_app.command("show")
@one_line_errors
def skills_show(name: str) -> None:
    """One skill: its front matter, body and params."""
    library = _libraries(Store())
    if name not in library.skills:
        raise ValueError(f"no skill named {name!r}; skills: {', '.join(sorted(library.skills))}")
    s = library.skills[name]
    print(
        f"{s.name} ({s.kind}, version {s.version})\n{s.description}\nwhen to use: {s.when_to_use}\n\n{s.body.strip()}"
    )
    if s.params:
        print(f"\nparams: {json.dumps(s.params.dump(), sort_keys=True)}")


@skills_app.command("history")
@one_line_errors
def skills_history(as_json: JsonOpt = False) -> None:
    """Recorded library versions, oldest first, each with its parent."""
    rows = Store().libraries()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "version": r.version,
                        "parent": r.parent,
                        "message": r.message,
                        "created_at": r.created_at.isoformat(),
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    for r in rows:
        print(f"{r.version}  parent {r.parent or '—':<12}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.message}")


@skills_app.command("diff")
@one_line_errors
def skills_diff(
    a: str, b: Annotated[str, typer.Argument(help="Version, or 'current' (default) or 'builtin'.")] = "current"
) -> None:
    """What changed between two library versions."""
    import difflib

    store = Store()

    def resolve(key: str) -> SkillLibrary:
        if key == "current":
            return _libraries(store)
        if key == "builtin":
            return SkillLibrary.builtin()
        return SkillLibrary.from_json(store.library_json(key))

    old, new = resolve(a), resolve(b)
    changed = False

    def text(library: SkillLibrary, name: str) -> str:
        # keys sorted: a difference only in the order of keys (a weights dict) is no difference
        return (
            json.dumps(library.skills[name].model_dump(mode="json"), indent=1, sort_keys=True)
            if name in library.skills
            else ""
        )

    for name in sorted(set(old.skills) | set(new.skills)):
        before, after = text(old, name), text(new, name)
        if before != after:
            changed = True
            print(
                "".join(
                    difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"{a}/{name}", f"{b}/{name}")
                )
            )
    if not changed:
        print("no differences")


@skills_app.command("rollback")
@one_line_errors
def skills_rollback(version: str) -> None:
    """Make a recorded library version the current one."""
    store = Store()
    library = SkillLibrary.from_json(store.library_json(version))
    current = _libraries(store)
    store.record_library(current.version, current.to_json(), None, "before rollback")
    library.save(store.home / "skills")
    err.print(f"current library is now {library.version} (was {current.version})", highlight=False, markup=False)


@skills_app.command("evolve")
@one_line_errors
def skills_evolve(
    data: Annotated[
        Optional[Path], typer.Argument(help="Preference file (JSONL, `scrutiny bench` format); or use --labels.")
    ] = None,
    labels: Annotated[
        Optional[str], typer.Option("--labels", help="Learn from the stored labels of this labelling queue.")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Propose-and-gate rounds.")] = 1,
    margin: Annotated[
        float,
        typer.Option(
            help="Keep an edit only if it raises validation accuracy by more than this (ties keep the parent)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation split.")] = 0,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evolve the library on preference data; the result becomes the current library."""
    from scrutiny.agents.evolve import ThresholdProposer, WeightProposer, evolve
    from scrutiny.bench import aexamples, load_preferences

    store = Store()
    library = _libraries(store)
    if (data is None) == (labels is None):
        raise ValueError("give a preference file or --labels QUEUE (one of them)")
    if labels is not None:
        import tempfile

        _check_queue_name(labels)
        from scrutiny.labels import export_preferences

        with tempfile.TemporaryDirectory() as folder:
            exported = Path(folder) / "labels.jsonl"
            if export_preferences(store, labels, exported) == 0:
                raise ValueError(f"the queue {labels!r} has no labels yet (label it in `scrutiny view`, at /label)")
            items = load_preferences(exported)
    else:
        items = load_preferences(data)
    freeze_gc()
    examples = run_sync(aexamples(Judge(store=store, library=library), items, progress=not as_json))
    proposers = [WeightProposer(), ThresholdProposer()]
    if backend:
        from scrutiny.agents.evolve import ModelProposer

        proposers.append(ModelProposer(_backend(backend, model)))
    store.record_library(library.version, library.to_json(), None, "before evolve")

    def record(lib: SkillLibrary, parent: str | None, message: str) -> None:
        store.record_library(lib.version, lib.to_json(), parent, message)

    state_path = store.home / "evolve" / f"{library.version}-{data.stem if data else 'labels-' + labels}.json"
    final = run_sync(
        evolve(
            library, examples, proposers, rounds=rounds, margin=margin, seed=seed, state_path=state_path, record=record
        )
    )
    evolved = SkillLibrary.from_json(final["library_json"])
    evolved.save(store.home / "skills")
    summary = {
        "baseline_val_accuracy": final["baseline"],
        "val_accuracy": final["best"],
        "version": evolved.version,
        "parent": library.version,
        "history": final["history"],
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for h in final["history"]:
        print(f"{'kept    ' if h['kept'] else 'rejected'} {h['proposer']:<16} val {h['val_accuracy']:.3f}  {h['edit']}")
    print(f"validation accuracy {final['baseline']:.3f} → {final['best']:.3f}; current library {evolved.version}")


@app.command("train")
@one_line_errors
def train_cmd(
    config_path: Annotated[
        Path, typer.Argument(metavar="CONFIG.toml", help="\\[grpo], \\[model] and \\[reward] settings.")
    ],
    resume: Annotated[Optional[Path], typer.Option(help="A checkpoint to resume from.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a generator with GRPO on scrutiny verdicts (see examples/grpo_red_square.toml)."""
    from scrutiny.trainers.run import build_run

    trainer, curve_path = build_run(config_path)
    if resume is not None:
        trainer.load(resume)
    freeze_gc()  # the models are loaded: the collector need not walk them every full collection
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from scrutiny.trainers.grpo import sample_grid
    from scrutiny.trainers.monitor import reward_curve

    folder = curve_path.parent
    main = trainer.accelerator.is_main_process  # under `accelerate launch`, one process writes and prints
    with trainer.ema.applied() if trainer.ema is not None else contextlib.nullcontext():
        before = sample_grid(trainer, folder / f"samples-step-{trainer.step_index:06d}.png") if main else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=as_json or not main, console=err) as bar:
        task = bar.add_task("GRPO", total=trainer.config.steps, completed=trainer.step_index)

        def progress(metrics: dict) -> None:
            bar.update(task, advance=1, description=f"GRPO reward {metrics['reward_mean']:.3f}")

        history = trainer.train(progress=progress)
    if not main:
        return
    with trainer.ema.applied() if trainer.ema is not None else contextlib.nullcontext():
        after = sample_grid(trainer, folder / f"samples-step-{trainer.step_index:06d}.png")
    alarms = trainer.monitor.alarms
    reward_curve(history, curve_path, title=f"GRPO run {trainer.run_id}: mean reward per step", alarms=alarms)
    files = {"curve": str(curve_path), "samples_before": str(before), "samples_after": str(after)}
    if as_json:
        print(json.dumps({"run_id": trainer.run_id, "history": history, "alarms": alarms, **files}, indent=2))
        return
    for alarm in alarms:
        err.print(f"gaming alarm at step {alarm['step']}: {alarm['alarm']}", highlight=False, markup=False)
    first, last = history[0]["reward_mean"], history[-1]["reward_mean"]
    waited = sum(h.get("reward_wait_s", 0.0) for h in history) / max(sum(h.get("step_s", 0.0) for h in history), 1e-9)
    print(
        f"{len(history)} steps: mean reward {first:.3f} → {last:.3f}; curve {curve_path}; "
        f"samples before {before.name} and after {after.name}; {waited:.0%} of step time waiting for "
        f"rewards; run {trainer.run_id}"
    )


@app.command("serve")
@one_line_errors
def serve_cmd(
    model: Annotated[str, typer.Argument(help="Model folder (or name) for vLLM.")],
    gpus: Annotated[
        Optional[str], typer.Option(help="GPU indices, e.g. 0,1,2,3 (default: all nvidia-smi lists).")
    ] = None,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel size per server.")] = 1,
    port: Annotated[int, typer.Option(help="Port of the first server; the others follow.")] = 8000,
    served_model_name: Annotated[
        Optional[str], typer.Option(help="Name clients ask for (default: the model folder's name).")
    ] = None,
    vllm: Annotated[str, typer.Option(help="vLLM's executable, in its own environment.")] = "vllm",
    max_model_len: Annotated[int, typer.Option(help="Context length.")] = 32768,
    images_per_prompt: Annotated[int, typer.Option(help="--limit-mm-per-prompt image count.")] = 16,
    gpu_memory_utilization: Annotated[float, typer.Option(help="Share of GPU memory vLLM may take.")] = 0.85,
    tool_parser: Annotated[str, typer.Option(help="vLLM tool-call parser for native tool calls.")] = "hermes",
    health_timeout: Annotated[float, typer.Option(help="Seconds to wait for every /health.")] = 900.0,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the vLLM command lines (one per server) and start nothing."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start one vLLM server per GPU (or tensor-parallel group) and keep them running."""
    from scrutiny.serve import ServeConfig, ServeError, serve, visible_gpus

    indices = [int(g) for g in gpus.split(",")] if gpus else visible_gpus()
    config = ServeConfig(
        model=model,
        gpus=indices,
        served_model_name=served_model_name or "",
        tensor_parallel=tp,
        port=port,
        max_model_len=max_model_len,
        images_per_prompt=images_per_prompt,
        gpu_memory_utilization=gpu_memory_utilization,
        tool_parser=tool_parser,
        vllm=vllm,
        health_timeout_s=health_timeout,
    )
    if dry_run:
        import shlex

        plan = config.plan()
        if as_json:
            print(json.dumps(plan, indent=2))
            return
        for server in plan:
            gpus = ",".join(map(str, server["gpus"]))
            print(f"CUDA_VISIBLE_DEVICES={gpus} {shlex.join(server['command'])}")
        return
    try:
        serve(config, say=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True))
    except ServeError as e:
        raise ValueError(str(e)) from None


@app.command("view")
@one_line_errors
def view_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless you mean to share.")
    ] = "127.0.0.1",
    allow_host: Annotated[
        Optional[list[str]],
        typer.Option(help="A host name the viewer may be reached by besides loopback (repeatable), e.g. a LAN name."),
    ] = None,
) -> None:
    """Browse traces in a local web viewer (Ctrl-C stops it)."""
    from scrutiny.viewer import make_server

    try:
        server = make_server(Store(), host, port, tuple(allow_host or ()))
    except OSError as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror}; pick another --port") from None
    err.print(
        f"scrutiny viewer on http://{host}:{server.server_address[1]} (Ctrl-C to stop)", highlight=False, markup=False
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
