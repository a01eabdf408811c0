"""The build as the user sees it: the first line, progress bars, failures, the summary; and `gen serve`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from generator.build import Outcome, run_item
from generator.cache import PARSE_MEMO
from generator.config import Project
from generator.context import Reporter
from generator.files import FileSystemError, StatCache
from generator.plan import Choice, Item, Plan, plan, select, still_needed
from generator.publish import PageError, SiteError, build_site, render_pages
from generator.store import LockBusy, ResultKey, ResultStore


class RichReporter(Reporter):
    """A bar per section; each step of the section resets it with its own description and total."""

    def __init__(self, progress: Progress, item: Item):
        self.progress = progress
        self.prefix = escape(f"{item.label} · {item.module.spec.title}")
        self.task = progress.add_task(self.prefix, total=None)

    def step(self, description: str, total: int | None) -> None:
        self.progress.reset(self.task, total=total, description=f"{self.prefix} · {description}")

    def advance(self, amount: int = 1) -> None:
        self.progress.advance(self.task, amount)

    def log(self, message: str) -> None:
        self.progress.console.print(f"  {message}")

    def finish(self, ok: bool) -> None:
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        if ok:  # a finished bar is full, even for a step whose total was unknown
            done = max(next(t for t in self.progress.tasks if t.id == self.task).completed, 1)
            self.progress.update(self.task, total=done, completed=done)
        self.progress.update(self.task, description=f"{mark} {self.prefix}")
        self.progress.stop_task(self.task)


def run_build(project: Project, modules: list, choice: Choice, *, sections: Sequence[str], force: bool, dry_run: bool, site: bool, console: Console, started: float) -> int:
    """Plan, compute, render and publish; returns the exit code (0 ok, 1 a section or the site failed)."""
    console.print(f"gen build · profile [bold]{choice.profile}[/] ({escape(choice.profile_why)}) · backends [bold]{', '.join(choice.backends)}[/] ({escape(choice.backends_why)})")
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    hashes = load_memos(project)
    unrecovered = {} if dry_run else _recover_leftovers(store, console)
    failures = [f"{_parse(str(key))} leftovers" for key in unrecovered]  # the readers of such a result do not run
    the_plan = plan(project, modules, choice, hashes)
    todo = select(the_plan, sections, project, hashes, force=force)
    in_scope = [i for i in the_plan.scope if not sections or i.key.section in sections]
    runnable = []
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
    frozen = [i for i in in_scope if i.frozen]
    if frozen:
        console.print(f"[dim]– frozen: {escape(', '.join(f'{i.label} ({i.frozen})' for i in frozen))}; --profile {choice.profile} computes them anyway[/]")
    if dry_run:
        for item in runnable:
            why = "; ".join(item.reasons) if item.manifest else "never computed"
            console.print(escape(f"  would compute {item.label} {item.module.spec.title} [{item.key.profile}]: {why}"))
        console.print(f"plan: {len(runnable)} to compute, {sum(i.state == 'fresh' and not i.frozen for i in in_scope)} fresh (dry run: nothing computed)")
        return 0
    computed = 0
    log_file: list[Path] = []

    def log_path() -> Path:
        if not log_file:
            log_file.append(project.logs_dir / f"gen-build-{time.strftime('%Y%m%d-%H%M%S')}.log")
        return log_file[0]

    if runnable:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            for item in runnable:
                if any(f.startswith(f"{_parse(u)} ") for u in item.inputs["upstream"] for f in failures):
                    failures.append(f"{item.label}: upstream failed")
                    console.print(f"[red]✗ {item.label} {escape(item.module.spec.title)}:[/] an upstream section failed")
                    continue
                reporter = RichReporter(progress, item)
                outcome = _run_locked(project, store, item, the_plan, reporter, hashes, log_path)
                reporter.finish(outcome is None or outcome.ok)
                if outcome is None:
                    continue
                if outcome.ok:
                    computed += 1
                else:
                    failures.append(f"{item.label} failed")
                    where = f" (traceback: {outcome.log})" if outcome.log else ""
                    console.print(f"[red]✗ {item.label} {escape(item.module.spec.title)} failed:[/] {escape(outcome.error)}{escape(where)}")
    try:
        changed = render_pages(project, modules, the_plan, choice.backends)
    except PageError as error:
        failures.append("pages")
        console.print(f"[red]✗ a page failed to render:[/] {escape(str(error))}")
        changed = []
    site_note = "site skipped (--no-site)"
    if site:
        try:
            ran = build_site(project)
            site_note = f"site: {project.site_dir / 'index.html'}" + ("" if ran else " (unchanged)")
        except SiteError as error:
            failures.append("site")
            console.print(f"[red]✗ {escape(str(error))}[/]")
            site_note = "site: failed"
    save_memos(hashes)
    fresh = sum(1 for i in in_scope if i.state == "fresh" and not i.frozen) - computed
    summary = f"computed {computed} · fresh {max(fresh, 0)}" + (f" · frozen {len(frozen)}" if frozen else "")
    summary += f" · failed {len(failures)} · pages changed {len(changed)} · {time.perf_counter() - started:.2f} s · {site_note}"
    console.print(("[red]" if failures else "[green]") + escape(summary) + "[/]")
    return 1 if failures else 0


def load_memos(project: Project) -> StatCache:
    """The on-disk memos a build and `gen status` read: parsed modules and file hashes by stat."""
    PARSE_MEMO.load(project.artifacts_dir / ".parse-memo.json")
    return StatCache(project.artifacts_dir / ".stat-cache.json")


def save_memos(hashes: StatCache) -> None:
    PARSE_MEMO.save()
    hashes.save()


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


def _run_locked(project: Project, store: ResultStore, item: Item, the_plan: Plan, reporter: RichReporter, hashes: StatCache, log_path: Callable[[], Path]) -> Outcome | None:
    """Compute one result holding its lock; None when another build made it fresh while this one waited."""

    def on_wait() -> None:
        reporter.log(escape(f"{item.label} [{item.key.profile}]: another build is computing it; waiting for it to finish"))

    try:
        with store.lock(item.key, on_wait=on_wait):
            if not still_needed(item, project, hashes):
                reporter.log(escape(f"{item.label} [{item.key.profile}]: fresh, computed by the other build"))
                return None
            why = "; ".join(item.reasons) if item.manifest else "never computed"
            reporter.log(f"[bold]{escape(item.label)}[/] {escape(item.module.spec.title)}: {escape(why)}")
            return run_item(project, item, the_plan.items, reporter, log_path)
    except FileSystemError as error:
        return Outcome(item, False, 0.0, str(error))


def _parse(key: str) -> str:
    section, backend, _ = key.split("/")
    return section if backend == "none" else f"{section} · {backend}"


def _watched(project: Project) -> dict[Path, int]:
    """Files whose edits trigger a rebuild: sections, templates, hand-written docs, the generator itself."""
    stamps = {}
    generated = {project.docs_dir / "index.md", project.docs_dir / "part-a", project.docs_dir / "part-b"}
    for folder in (project.sections_dir, project.templates_dir, project.docs_dir, project.root / "generator"):
        for path in folder.rglob("*"):
            if path.is_file() and not any(g == path or g in path.parents for g in generated) and "__pycache__" not in path.parts:
                stamps[path] = path.stat().st_mtime_ns
    return stamps


def serve_forever(project: Project, *, port: int, profile: str | None, backends: Sequence[str], interval: float, console: Console) -> None:
    """Serve site/ on 127.0.0.1 and rebuild (stale sections, pages, site) whenever a watched file changes."""
    import functools
    import http.server
    import subprocess
    import sys
    import threading

    def rebuild() -> None:
        # A fresh process, so edited project modules are imported anew.
        command = [sys.executable, "-m", "generator.cli", "build"]
        command += ["--profile", profile] if profile else []
        for name in backends:
            command += ["--backend", name]
        subprocess.run(command, cwd=project.root)

    rebuild()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(project.site_dir))
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    console.print(f"serving {project.site_dir} at http://127.0.0.1:{port}/ (Ctrl+C stops)")
    seen = _watched(project)
    try:
        while True:
            time.sleep(interval)
            now = _watched(project)
            if now != seen:
                changed = sorted({p for p in set(now) | set(seen) if now.get(p) != seen.get(p)})
                console.print(f"changed: {', '.join(str(p.relative_to(project.root)) for p in changed[:5])}")
                rebuild()
                seen = _watched(project)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.shutdown()
