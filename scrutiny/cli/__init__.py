"""The `scrutiny` command line: judge, compare, rank, edit, and inspect traces.

Every command prints JSON with `--json`; errors are one line on stderr and a non-zero exit.

One module per command group: `judging` (judge, compare, rank, edit, refine), `traces`, `runs`,
`labels`, `skills` (and bench), `serving` (train, serve, view); `common` holds what they share.
"""

from scrutiny.cli import judging, serving, skills  # noqa: F401 - their commands register on `app`
from scrutiny.cli.common import app
from scrutiny.cli.labels import label_app
from scrutiny.cli.runs import runs_app
from scrutiny.cli.skills import skills_app
from scrutiny.cli.traces import traces_app
from scrutiny.core.malloc import limit_arenas

app.add_typer(traces_app, name="traces")
app.add_typer(runs_app, name="runs")
app.add_typer(label_app, name="label")
app.add_typer(skills_app, name="skills")


def main() -> None:
    limit_arenas()  # scrutiny owns this process: fewer malloc arenas (`scrutiny.core.malloc`)
    app()


__all__ = ["app", "main"]
