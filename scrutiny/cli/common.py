"""What every command shares: the app, its consoles, the options declared once, one-line errors, the judge a command's options make."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from scrutiny.agents.rubric_files import load_rubric
from scrutiny.api import Judge, JudgeConfig
from scrutiny.core.images import ImageError
from scrutiny.core.loading import load_object
from scrutiny.core.protocol import BackendError
from scrutiny.core.schema import Verdict
from scrutiny.memory import StoreError


def _flag_type(option, ctx):
    """Typer 0.29 prints a type beside every option, flags too (`--json <bool>`); a flag has none."""
    return None if option.is_flag else _option_type(option, ctx)


_option_type = typer.core.TyperOption.display_type_rich


typer.core.TyperOption.display_type_rich = _flag_type


app = typer.Typer(add_completion=False, no_args_is_help=True, help="Judge generated and edited images with evidence.")


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


# trace filters, the same in every command that takes them
FilterPromptOpt = Annotated[Optional[str], typer.Option("--prompt", help="Only traces whose prompt contains this.")]
FilterRunOpt = Annotated[
    Optional[str], typer.Option("--run", help="Only the traces of this run (see `scrutiny runs list`).")
]
SinceOpt = Annotated[Optional[str], typer.Option(help="Only newer traces: ISO date/time, or an age like 2h, 3d.")]
UntilOpt = Annotated[Optional[str], typer.Option(help="Only older traces: ISO date/time, or an age like 2h, 3d.")]
TagToolsOpt = Annotated[
    bool,
    typer.Option(
        "--tag-tools",
        metavar="",
        help="Ask for <tool_call> tags instead of native tool calls (servers without a tool parser).",
    ),
]


def one_line_errors(command):
    """Expected failures (bad input, missing files, unknown ids, a store gone bad, no model server)
    become one line and exit 2; anything else is a bug: one line and exit 1 (SCRUTINY_DEBUG=1 raises)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:  # the command chose its exit code
            raise
        # no model server answered (BackendError) is the user's setup, not a bug
        except (ValueError, ImageError, StoreError, FileNotFoundError, BackendError) as e:
            _fail(" ".join(str(e).split()), 2)
        except SQLAlchemyError as e:  # a store file gone bad while it was read: what is wrong, and what to do
            from scrutiny.memory.engine import default_home, describe_failure

            _fail(describe_failure(e, os.environ.get("SCRUTINY_DB_URL") or str(default_home() / "scrutiny.db")), 2)
        except Exception as e:  # a bug: one line unless debugging
            if os.environ.get("SCRUTINY_DEBUG"):
                raise
            first = (str(e).splitlines() or [""])[0][:300]
            _fail(f"internal: {type(e).__name__}: {first} (set SCRUTINY_DEBUG=1 for the traceback)", 1)

    return wrapper


def _fail(line: str, code: int) -> None:
    err.print(f"error: {line}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code) from None


def make_judge(no_cache: bool, backend: str | None = None, model: str | None = None, tag_tools: bool = False) -> Judge:
    # one judgment at a terminal: a backend that is down is an error to fix, not an abstention
    config = JudgeConfig(cache=not no_cache, backend_errors="raise")
    if backend is None:
        return Judge(config=config)
    from scrutiny.agents.model import ModelPolicy

    return Judge(policy=ModelPolicy(make_backend(backend, model), native_tools=not tag_tools), config=config)


def make_backend(backend: str, model: str | None):
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


def read_rubric(path: Path | None):
    return load_rubric(path) if path is not None else None


def show_verdict(verdict: Verdict, as_json: bool, names: list[str]) -> None:
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
            s = next((s for s in verdict.criterion_scores if s.criterion == c.id and s.candidate == i), None)
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


def plural(count: int, noun: str) -> str:
    """ "1 item", "2 items"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_generator(spec: str):
    """`module:attr` or `file.py:attr` → the generator; a class is instantiated with no arguments."""
    import inspect

    obj = load_object(spec, "--generator")
    return obj() if inspect.isclass(obj) else obj


def parse_time(text: str | None):
    from scrutiny.traces import parse_when

    return parse_when(text)
