"""The one progress bar: on stderr, with n/N, items per second and the time left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "–/s", style="progress.data.speed")


class ProgressBar:
    """`ProgressBar("judging", total)` shows at once; without a total it shows on `start(total)`.
    `advance()` may be called from any coroutine or thread; `close()` always."""

    def __init__(self, label: str, total: int | None = None, console: Console | None = None) -> None:
        self._label = label
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._task = None
        if total is not None:
            self.start(total)

    def start(self, total: int) -> None:
        self._task = self._progress.add_task(self._label, total=total)
        self._progress.start()

    def advance(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()
