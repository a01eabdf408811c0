"""The build as the user sees it: the first line, a progress bar per running result, failures, the summary.

The console only listens to the scheduler's events; planning is in plan.py, computing in scheduler.py and the
workers, pages and the site in publish.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from generator.cache import ParseMemo
from generator.config import Project
from generator.files import FileSystemError, StatCache
from generator.plan import Choice, Item, plan, select
from generator.publish import PageError, SiteError, build_site, render_pages
from generator.store import LockBusy, ResultKey, ResultStore

if TYPE_CHECKING:  # a no-op build never loads the scheduler
    from generator.scheduler import Event, WorkerHandle


class ConsoleListener:
    """Shows the scheduler's events: a bar per running result, whose steps reset it; a line per failure."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[ResultKey, TaskID] = {}
        self.titles: dict[ResultKey, str] = {}
        self.computed = 0
        self.taken: set[ResultKey] = set()  # fresh: another build committed it while this one waited
        self.failures: list[str] = []

    def prefix(self, key: ResultKey) -> str:
        return escape(f"{key.label} · {self.titles.get(key, '')}")

    def __call__(self, event: Event) -> None:
        key, console = event.key, self.progress.console
        if event.title:
            self.titles[key] = event.title
        if event.kind == "started":
            console.print(f"[bold]{escape(event.label)}[/] {escape(event.title)}: {escape(event.description)}")
            self.tasks[key] = self.progress.add_task(self.prefix(key), total=None)
        elif event.kind == "progress" and key in self.tasks:
            if event.advance:
                self.progress.advance(self.tasks[key], event.advance)
            else:
                self.progress.reset(self.tasks[key], total=event.total, description=f"{self.prefix(key)} · {escape(event.description)}")
        elif event.kind == "log":
            console.print(f"  {escape(event.message)}")
        elif event.kind == "done":
            self.computed += event.computed
            if not event.computed:
                self.taken.add(key)
            self._finish(key, True)
        elif event.kind == "interrupted":
            self._finish(key, False)
        elif event.kind == "failed":
            self._finish(key, False)
            if event.blocked:
                self.failures.append(f"{event.label}: upstream failed")
                console.print(f"[red]✗ {escape(event.label)} {escape(event.title)}:[/] an upstream section failed")
            else:
                self.failures.append(f"{event.label} failed")
                where = f" (traceback: {event.log})" if event.log else ""
                console.print(f"[red]✗ {escape(event.label)} {escape(event.title)} failed:[/] {escape(event.message)}{escape(where)}")

    def _finish(self, key: ResultKey, ok: bool) -> None:
        task = self.tasks.pop(key, None)
        if task is None:
            return
        if ok:  # a finished bar is full, even for a step whose total was unknown
            done = max(next(t for t in self.progress.tasks if t.id == task).completed, 1)
            self.progress.update(task, total=done, completed=done)
        self.progress.update(task, description=("[green]✓[/] " if ok else "[red]✗[/] ") + self.prefix(key))
        self.progress.stop_task(task)


INTERRUPTED = 130  # the exit code of a build stopped by Ctrl+C, as a shell reports a command killed by SIGINT


class _Interruption(Exception):
    """Ctrl+C during the compute, with the scheduler's account of it."""

    def __init__(self, computed: int, stopped: list[ResultKey], unstopped: list[ResultKey]):
        super().__init__("interrupted")
        self.computed, self.stopped, self.unstopped = computed, stopped, unstopped


def run_build(project: Project, modules: list, choice: Choice, *, sections: Sequence[str], force: bool, dry_run: bool, site: bool, console: Console,
              started: float, compute: bool = True, jobs: int = 1, executor: str = "local", address: str | None = None,
              workers: list[WorkerHandle] | None = None, site_in_process: bool = False) -> int:
    """Plan, compute, render and publish; returns the exit code (0 ok, 1 a section or the site failed, 130 interrupted).

    `workers`: warm workers to compute on (gen serve keeps one); otherwise `jobs` of `executor` are opened for this build.
    Ctrl+C stops the build with one line; with `workers` given, KeyboardInterrupt is then raised again, for the
    long-lived caller (gen serve) to stop as well."""
    try:
        return _run_build(project, modules, choice, sections=sections, force=force, dry_run=dry_run, site=site, console=console, started=started,
                          compute=compute, jobs=jobs, executor=executor, address=address, workers=workers, site_in_process=site_in_process)
    except (KeyboardInterrupt, _Interruption) as stop:
        store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
        console.print(f"[red]{escape(interrupted_line(stop if isinstance(stop, _Interruption) else None, store))}[/]")
        if workers:
            raise KeyboardInterrupt from None
        return INTERRUPTED


def interrupted_line(stop: _Interruption | None, store: ResultStore) -> str:
    """One line on what an interrupted build kept: `interrupted: 2 results computed and kept; 2.1 stopped, its last good
    result kept`."""
    if stop is None:
        return "interrupted: computed results are kept; the next gen build goes on from there"
    line = f"interrupted: {stop.computed} result{'' if stop.computed == 1 else 's'} computed and kept"
    for key in stop.stopped:
        line += f"; {key.label} [{key.profile}] stopped, " + ("its last good result kept" if store.has_manifest(key) else "it had no result yet")
    for key in stop.unstopped:
        line += f"; {key.label} [{key.profile}] did not stop in time, the next build clears what it left"
    return line


def _run_build(project: Project, modules: list, choice: Choice, *, sections: Sequence[str], force: bool, dry_run: bool, site: bool, console: Console,
               started: float, compute: bool, jobs: int, executor: str, address: str | None, workers: list[WorkerHandle] | None,
               site_in_process: bool) -> int:
    console.print(f"gen build · profile [bold]{choice.profile}[/] ({escape(choice.profile_why)}) · backends [bold]{', '.join(choice.backends)}[/] ({escape(choice.backends_why)})"
                  + ("" if compute else " · --no-compute: pages from the cache"))
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    hashes, parsed = StatCache(project.artifacts_dir / ".stat-cache.json"), ParseMemo(project.artifacts_dir / ".parse-memo.json")
    unrecovered = _recover_leftovers(store, console) if compute and not dry_run else {}
    failures = [f"{key.label} leftovers" for key in unrecovered]  # the readers of such a result do not run
    the_plan = plan(project, modules, choice, hashes, parsed)
    in_scope = [i for i in the_plan.scope if not sections or i.key.section in sections]
    frozen = [i for i in in_scope if i.frozen]
    runnable: list[Item] = []
    selected: set[ResultKey] = set()  # chosen to compute (stale or forced): not fresh, unless another build made them so
    if compute:
        todo = select(the_plan, sections, project, hashes, force=force)
        selected = {item.key for item in todo}
        runnable, skip_failures = _runnable(todo, set(unrecovered), console)
        failures += skip_failures
    if frozen:
        console.print(f"[dim]– frozen: {escape(', '.join(f'{i.label} ({i.frozen})' for i in frozen))}; --profile {choice.profile} computes them anyway[/]")
    if dry_run:
        for item in runnable:
            console.print(escape(f"  would compute {item.label} {item.module.spec.title} [{item.key.profile}]: {'; '.join(item.reasons) or 'never computed'}"))
        console.print(f"plan: {len(runnable)} to compute, {sum(i.state == 'fresh' and not i.frozen for i in in_scope)} fresh (dry run: nothing computed)")
        return 0
    computed = 0
    if runnable:
        computed, taken, compute_failures = _compute(project, runnable, set(unrecovered), hashes, console, workers, jobs, executor, address)
        failures += compute_failures
        selected -= taken
        the_plan = plan(project, modules, choice, hashes, parsed)  # what the cache holds now, for the pages
    try:
        changed = render_pages(project, modules, the_plan, choice.backends)
    except PageError as error:
        failures.append("pages")
        console.print(f"[red]✗ a page failed to render:[/] {escape(str(error))}")
        changed = []
    site_note = "site skipped (--no-site)"
    if site:
        try:
            ran = build_site(project, in_process=site_in_process)
            site_note = f"site: {project.site_dir / 'index.html'}" + ("" if ran else " (unchanged)")
        except SiteError as error:
            failures.append("site")
            console.print(f"[red]✗ {escape(str(error))}[/]")
            site_note = "site: failed"
    parsed.save()
    hashes.save()
    in_scope = [i for i in the_plan.scope if not sections or i.key.section in sections]
    fresh = sum(1 for i in in_scope if i.state == "fresh" and not i.frozen and i.key not in selected)
    summary = f"computed {computed} · fresh {fresh}" + (f" · frozen {len(frozen)}" if frozen else "")
    summary += f" · failed {len(failures)} · pages changed {len(changed)} · {time.perf_counter() - started:.2f} s · {site_note}"
    console.print(("[red]" if failures else "[green]") + escape(summary) + "[/]")
    return 1 if failures else 0


def _runnable(todo: list[Item], unrecovered: set[ResultKey], console: Console) -> tuple[list[Item], list[str]]:
    """The items that can run here; those whose backend cannot are skipped with one line (a failure when named)."""
    runnable, failures = [], []
    skipped: dict[tuple[str, str], list[str]] = {}
    for item in todo:
        if item.skip:
            if item.explicit_backend:
                failures.append(f"{item.label}: {item.skip}")
                console.print(f"[red]✗ {item.label} {escape(item.module.spec.title)}:[/] {escape(item.skip)}")
            else:
                skipped.setdefault((item.key.backend, item.skip), []).append(item.key.section)
        elif item.key not in unrecovered:  # its leftovers are in the way; that was said once already
            runnable.append(item)
    for (backend, reason), section_ids in skipped.items():
        console.print(f"[dim]– skipped {backend} for {', '.join(section_ids)}: {escape(reason)}[/]")
    return runnable, failures


def _compute(project: Project, runnable: list[Item], unrecovered: set[ResultKey], hashes: StatCache, console: Console,
             workers: list[WorkerHandle] | None, jobs: int, executor: str, address: str | None) -> tuple[int, set[ResultKey], list[str]]:
    """Run the scheduler on the workers with a console listener: how many it computed, which another build
    computed meanwhile, the failures."""
    from generator.executors import open_workers
    from generator.scheduler import Interrupted, Scheduler

    log_file: list[Path] = []

    def log_path() -> Path:
        if not log_file:
            log_file.append(project.logs_dir / f"gen-build-{time.strftime('%Y%m%d-%H%M%S')}.log")
        return log_file[0]

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    listener = None
    try:
        with Progress(*columns, console=console, transient=False) as progress, open_workers(project, jobs, executor, address, workers) as pool:
            listener = ConsoleListener(progress)
            Scheduler(project, pool, listener, hashes, log_path).run(runnable, failed=unrecovered)
    except Interrupted as stop:
        raise _Interruption(listener.computed, stop.stopped, stop.unstopped) from None
    except KeyboardInterrupt:  # while the workers opened or closed: nothing was computing
        raise _Interruption(listener.computed if listener else 0, [], []) from None
    return listener.computed, listener.taken, listener.failures


def _recover_leftovers(store: ResultStore, console: Console) -> dict[ResultKey, str]:
    """Clear what dead builds left (staging and old folders), each under its result's lock; a live writer's are skipped.
    Returns the results whose leftovers could not be cleared, with why."""
    unrecovered = {}
    for key in store.leftover_keys():
        try:
            with store.lock(key, wait=False):
                store.recover(key)
        except LockBusy:
            continue
        except FileSystemError as error:
            unrecovered[key] = str(error)
            console.print(f"[red]✗ {escape(str(key))}:[/] {escape(str(error))}")
    return unrecovered
