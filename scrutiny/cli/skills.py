"""`scrutiny bench` and `scrutiny skills`: the skill library listed, shown, diffed, rolled back and evolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from scrutiny.api import Judge
from scrutiny.cli.common import (
    BackendOpt,
    JsonOpt,
    ModelOpt,
    TagToolsOpt,
    app,
    err,
    make_backend,
    make_judge,
    one_line_errors,
    out,
)
from scrutiny.cli.labels import check_queue_name
from scrutiny.core.aio import block_on, freeze_gc
from scrutiny.memory import Store
from scrutiny.skills.library import SkillLibrary

skills_app = typer.Typer(no_args_is_help=True, help="The skill library: list, show, diff, history, rollback, evolve.")


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
    from scrutiny.agreement import abench, load_preferences

    items = load_preferences(data)
    judge = make_judge(False, backend, model, tag_tools)
    freeze_gc()
    result = block_on(abench(judge, items, progress=not as_json))
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
    for family, habits in m["families"].items():
        print(
            f"model family {family}: {habits['parse_failures']} parse failures in {habits['requests']} requests; "
            f"the two orders disagreed in {fmt(habits['order_disagreement'])} of {habits['pairwise']} pairwise judgments"
        )
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


def _preferences(store: Store, data: Path | None, labels: str | None) -> list:
    """The preference items to evolve on: a file, or the labels of a labelling queue."""
    from scrutiny.agreement import load_preferences

    if (data is None) == (labels is None):
        raise ValueError("give a preference file or --labels QUEUE (one of them)")
    if labels is None:
        return load_preferences(data)
    import tempfile

    from scrutiny.labels import export_preferences

    check_queue_name(labels)
    with tempfile.TemporaryDirectory() as folder:
        exported = Path(folder) / "labels.jsonl"
        if export_preferences(store, labels, exported) == 0:
            raise ValueError(f"the queue {labels!r} has no labels yet (label it in `scrutiny view`, at /label)")
        return load_preferences(exported)


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
    from scrutiny.agreement import aexamples

    store = Store()
    library = _libraries(store)
    items = _preferences(store, data, labels)
    freeze_gc()
    examples = block_on(aexamples(Judge(store=store, library=library), items, progress=not as_json))
    proposers = [WeightProposer(), ThresholdProposer()]
    if backend:
        from scrutiny.agents.evolve import ModelProposer

        proposers.append(ModelProposer(make_backend(backend, model)))
    store.record_library(library.version, library.to_json(), None, "before evolve")

    def record(lib: SkillLibrary, parent: str | None, message: str) -> None:
        store.record_library(lib.version, lib.to_json(), parent, message)

    state_path = store.home / "evolve" / f"{library.version}-{data.stem if data else 'labels-' + labels}.json"
    final = block_on(
        evolve(
            library, examples, proposers, rounds=rounds, margin=margin, seed=seed, state_path=state_path, record=record
        )
    )
    evolved = SkillLibrary.from_json(final["library_json"])
    evolved.save(store.home / "skills")
    _show_evolution(final, library.version, evolved.version, as_json)


def _show_evolution(final: dict, parent: str, version: str, as_json: bool) -> None:
    if as_json:
        summary = {"baseline_val_accuracy": final["baseline"], "val_accuracy": final["best"], "version": version}
        print(json.dumps({**summary, "parent": parent, "history": final["history"]}, indent=2))
        return
    for h in final["history"]:
        print(f"{'kept    ' if h['kept'] else 'rejected'} {h['proposer']:<16} val {h['val_accuracy']:.3f}  {h['edit']}")
    print(f"validation accuracy {final['baseline']:.3f} → {final['best']:.3f}; current library {version}")
