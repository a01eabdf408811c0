"""What the user sees of a build: every line comes from an event of generator/run/build.py (a `Note` about the build,
or the scheduler's `Event` about one result), drawn here with rich: a progress bar per running result, a line per
failure, the first line and the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from generator.run.build import Note

if TYPE_CHECKING:
    from generator.engine.store import ResultKey
    from generator.run.scheduler import Event

STYLES = {"plan": "", "frozen": "dim", "skipped": "dim", "would-compute": "", "computed": ""}


class ConsoleListener:
    """Draws a build's events: notes as lines, results as progress bars (whose steps reset them) and failure lines."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.tasks: dict[ResultKey, TaskID] = {}
        self.titles: dict[ResultKey, str] = {}

    def __call__(self, event: Note | Event) -> None:
        if isinstance(event, Note):
            self._note(event)
        else:
            self._result(event)

    def _note(self, note: Note) -> None:
        if note.kind == "computed":  # the compute is over: its bars stay as they ended
            if self.progress is not None:
                self.progress.stop()
                self.progress = None
            return
        style = "red" if note.failed else ("green" if note.kind == "summary" else STYLES.get(note.kind, ""))
        self.console.print(f"[{style}]{escape(note.text)}[/]" if style else escape(note.text))

    def _bars(self) -> Progress:
        if self.progress is None:
            columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            self.progress = Progress(*columns, console=self.console, transient=False)
            self.progress.start()
        return self.progress

    def prefix(self, key: ResultKey) -> str:
        return escape(f"{key.label} · {self.titles.get(key, '')}")

    def _result(self, event: Event) -> None:
        key, progress = event.key, self._bars()
        if event.title:
            self.titles[key] = event.title
        if event.kind == "started":
            progress.console.print(f"[bold]{escape(event.label)}[/] {escape(event.title)}: {escape(event.description)}")
            self.tasks[key] = progress.add_task(self.prefix(key), total=None)
        elif event.kind == "progress" and key in self.tasks:
            if event.advance:
                progress.advance(self.tasks[key], event.advance)
            else:
                progress.reset(self.tasks[key], total=event.total, description=f"{self.prefix(key)} · {escape(event.description)}")
        elif event.kind == "log":
            progress.console.print(f"  {escape(event.message)}")
        elif event.kind in ("done", "interrupted", "failed"):
            self._finish(key, event.kind == "done")
        if event.kind == "failed":
            if event.blocked:
                progress.console.print(f"[red]✗ {escape(event.label)} {escape(event.title)}:[/] an upstream section failed")
            else:
                where = f" (traceback: {event.log})" if event.log else ""
                progress.console.print(f"[red]✗ {escape(event.label)} {escape(event.title)} failed:[/] {escape(event.message)}{escape(where)}")

    def _finish(self, key: ResultKey, ok: bool) -> None:
        task = self.tasks.pop(key, None)
        if task is None or self.progress is None:
            return
        if ok:  # a finished bar is full, even for a step whose total was unknown
            done = max(next(t for t in self.progress.tasks if t.id == task).completed, 1)
            self.progress.update(task, total=done, completed=done)
        self.progress.update(task, description=("[green]✓[/] " if ok else "[red]✗[/] ") + self.prefix(key))
        self.progress.stop_task(task)
