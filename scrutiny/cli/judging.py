"""`judge`, `compare`, `rank`, `edit` and `refine`: one image or a batch into a results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from scrutiny.api import Judge
from scrutiny.cli.common import (
    BackendOpt,
    JsonOpt,
    ModelOpt,
    NoCacheOpt,
    PromptOpt,
    RubricOpt,
    TagToolsOpt,
    app,
    err,
    load_generator,
    make_judge,
    one_line_errors,
    out,
    plural,
    read_rubric,
    show_verdict,
)
from scrutiny.core.aio import freeze_gc
from scrutiny.core.progress import ProgressBar

InputsArg = Annotated[
    list[str],
    typer.Argument(
        help="An image; or many: files, folders, glob patterns, JSONL/CSV/Parquet manifests, a saved dataset.",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Optional[Path],
    typer.Option("--out", "-o", help="Results file for a batch, .jsonl or .parquet; a rerun resumes it."),
]
MinScoreOpt = Annotated[
    Optional[float], typer.Option("--min-score", help="Also write the items scoring at least this (filtering).")
]
PassingOpt = Annotated[
    Optional[Path], typer.Option("--passing", help="Where --min-score writes them (default: OUT.passing.jsonl).")
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", "-j", help="Judgments in flight at once.")]
RayOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray", help="Judge the batch on Ray: 'local' (a Ray instance on this machine) or a cluster address."
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Judge actors with --ray.")]


def _one_image(inputs: list[str]) -> bool:
    """One image file (or one path that is not there: that is an error, not a batch of one bad row)."""
    import glob

    first = Path(inputs[0])
    single = len(inputs) == 1 and not first.is_dir() and not glob.has_magic(inputs[0])
    return single and first.suffix.lower() not in (".jsonl", ".csv", ".parquet")


@app.command("judge")
@one_line_errors
def judge_cmd(
    inputs: InputsArg,
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
    out_file: OutOpt = None,
    min_score: MinScoreOpt = None,
    passing: PassingOpt = None,
    concurrency: ConcurrencyOpt = 4,
    ray: RayOpt = None,
    workers: WorkersOpt = 2,
) -> None:
    """Score an image against its prompt, or a whole dataset into a results file.

    One image prints its verdict. Several images, a folder, a glob or a manifest make a batch: one
    results row per item in --out (default scrutiny-results.jsonl), a score histogram and the
    abstentions by reason at the end. Rerun the same command to resume an interrupted batch.
    """
    if _one_image(inputs) and out_file is None and min_score is None and ray is None:
        if prompt is None:
            raise ValueError("give the prompt the image was generated from: --prompt '...'")
        judge = make_judge(no_cache, backend, model, tag_tools)
        show_verdict(judge.judge(Path(inputs[0]), prompt, rubric=read_rubric(rubric)), as_json, [Path(inputs[0]).name])
        return
    if concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {concurrency}")
    judge = make_judge(no_cache, backend, model, tag_tools)
    judge.config.concurrency = concurrency
    options = dict(
        min_score=min_score,
        passing=passing,
        ray=ray,
        workers=workers,
        as_json=as_json,
        rubric=read_rubric(rubric),
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
    verdict = make_judge(no_cache, backend, model, tag_tools).compare(
        image_a, image_b, prompt, rubric=read_rubric(rubric)
    )
    show_verdict(verdict, as_json, [image_a.name, image_b.name])


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
    verdict = make_judge(no_cache, backend, model, tag_tools).rank(images, prompt, rubric=read_rubric(rubric))
    show_verdict(verdict, as_json, [p.name for p in images])


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
    verdict = make_judge(no_cache, backend, model, tag_tools).edit(
        source, edited, instruction, rubric=read_rubric(rubric)
    )
    show_verdict(verdict, as_json, [p.name for p in edited])


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
    from scrutiny.agents.refine_graph import ModelReviser, OfflineReviser
    from scrutiny.refinement import refine

    progress = _round_printer(as_json)
    judge = make_judge(False, backend, model, tag_tools)
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


def _print_summary(summary, counts: dict, run_id: str, out_file: Path, min_score: float | None) -> None:
    said = (
        f"{plural(counts['judged'], 'item')} judged, {counts['skipped']} already in {out_file} (skipped), "
        f"{plural(counts['errors'], 'error')}, {counts['abstained']} without a score, in {summary.seconds:.1f} s"
    )
    out.print(said, highlight=False, markup=False, soft_wrap=True)
    if summary.scores:
        from scrutiny.batch import histogram_lines

        out.print(f"scores (mean {counts['mean_score']:.3f}):", highlight=False)
        for line in histogram_lines(summary):
            out.print("  " + line, highlight=False, markup=False)
    for reason, n in summary.reasons.most_common():
        out.print(f"  no score, {reason}: {n} ({n / max(counts['total'], 1):.0%})", highlight=False, markup=False)
    if summary.passing is not None:
        out.print(f"{plural(summary.passing, 'item')} scored at least {min_score}", highlight=False)
    out.print(f"results in {out_file}; run {run_id}", highlight=False, markup=False, style="dim")


def _round_printer(as_json: bool):
    """What `refine` prints as each round ends (nothing with --json)."""

    def progress(r) -> None:
        if as_json:
            return
        best = "abstain" if r.best_score is None else f"{r.best_score:.3f}"
        kept = "(accepted)" if r.accepted else "(rejected: lower than the best so far)"
        err.print(
            f"round {r.index + 1}: best {best} {kept} in {r.seconds:.1f}s — {r.prompt}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    return progress


def _batch(inputs: list[str], prompt: str | None, out_file: Path, judge: Judge, options: dict) -> None:
    """`scrutiny judge` over many items (see `scrutiny.batch`)."""
    import shlex
    import sys

    from scrutiny.batch import previous_run, read_items, run_batch

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
            from scrutiny.distributed import judge_on_ray, spec_of

            spec = spec_of(judge, options["backend"], options["model"], options["tag_tools"])
            ray_options = dict(address=options["ray"], workers=options["workers"], rubric=options["rubric"])
            summary = judge_on_ray(spec, items, out_file, **ray_options, **common)
        else:
            summary = run_batch(judge, items, out_file, rubric=options["rubric"], **common)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        judge.store.finish_run(run_id, status, counts=summary.counts() if summary else None)
    _report(summary, run_id, out_file, options)


def _report(summary, run_id: str, out_file: Path, options: dict) -> None:
    """A batch's summary: counts, the score histogram, abstentions by reason; JSON with --json. A
    row judged in this run but missing from the file is an error (exit 1), never a claim."""
    counts = summary.counts()
    if summary.lost:
        lost = (
            f"{plural(summary.lost, 'row')} judged in this run are not in {out_file}: something else wrote it meanwhile"
        )
        err.print(f"error: {lost}", highlight=False, markup=False, soft_wrap=True)
    if options["as_json"]:
        extra = {"histogram": summary.histogram(), "abstentions": dict(summary.reasons)}
        print(json.dumps({"run": run_id, "out": str(out_file), **counts, **extra}))
    else:
        _print_summary(summary, counts, run_id, out_file, options["min_score"])
    if summary.lost:
        raise typer.Exit(1)
