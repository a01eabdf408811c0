"""One build as a story of phases: recover leftovers, plan once, select, compute, render, publish, sum up.

Everything the build has to say is an event to its listener (generator/console.py draws them): a `Note` for the build
as a whole, the scheduler's `Event` for one result. Planning is in engine/plan.py, computing in scheduler.py and the
workers, pages and the site in site/publish.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from generator.engine.config import Project
from generator.engine.files import FileSystemError, StatCache
from generator.engine.fingerprints import ParseMemo
from generator.engine.plan import Choice, Item, Plan, plan, replan, select
from generator.engine.store import LockBusy, ResultKey, ResultStore
from generator.site.publish import PageError, SiteError, build_site, render_pages

if TYPE_CHECKING:  # a no-op build never loads the scheduler
    from generator.run.scheduler import Event
    from generator.run.work import WorkerHandle

INTERRUPTED = 130  # the exit code of a build stopped by Ctrl+C, as a shell reports a command killed by SIGINT


@dataclass(frozen=True)
class BuildOptions:
    """What `gen build` (or gen serve's rebuild) asks for."""

    sections: tuple[str, ...] = ()
    force: bool = False
    dry_run: bool = False
    site: bool = True
    compute: bool = True
    jobs: int = 1
    executor: str = "local"
    address: str | None = None
    # Warm workers to compute on (gen serve keeps one); otherwise `jobs` of `executor` are opened for this build.
    workers: list[WorkerHandle] | None = None
    # Runs MkDocs in place of the subprocess (gen serve's in-process preview builder).
    mkdocs: Callable[[Project], None] | None = None
    started: float = field(default_factory=time.perf_counter)  # the wall time counts from here


@dataclass(frozen=True)
class Note:
    """A line about the build as a whole. kind: plan (the first line), frozen, skipped, would-compute, failed (a
    result or part that fails without computing), page-failed, site-failed, interrupted, summary."""

    kind: str
    text: str
    failed: bool = False


Listener = Callable[["Note | Event"], None]


class _Tally:
    """Counts what the scheduler reports, for the summary, and passes every event on to the listener."""

    def __init__(self, listener: Listener) -> None:
        self.listener, self.computed, self.taken, self.failures = listener, 0, set(), []

    def __call__(self, event: Event) -> None:
        if event.kind == "done":
            self.computed += event.computed
            if not event.computed:  # another build committed it while this one waited: fresh, not computed here
                self.taken.add(event.key)
        elif event.kind == "failed":
            self.failures.append(f"{event.label}: upstream failed" if event.blocked else f"{event.label} failed")
        self.listener(event)


class _Interruption(Exception):
    """Ctrl+C during the compute, with the scheduler's account of it."""

    def __init__(self, computed: int, stopped: list[ResultKey], unstopped: list[ResultKey]):
        super().__init__("interrupted")
        self.computed, self.stopped, self.unstopped = computed, stopped, unstopped


def run_build(project: Project, modules: list, choice: Choice, options: BuildOptions, listener: Listener) -> int:
    """Plan, compute, render and publish; returns the exit code (0 ok, 1 a section or the site failed, 130 interrupted).

    Ctrl+C stops the build with one note; with `options.workers` given, KeyboardInterrupt is then raised again, for the
    long-lived caller (gen serve) to stop as well."""
    try:
        return _Build(project, modules, choice, options, listener).run()
    except (KeyboardInterrupt, _Interruption) as stop:
        listener(Note("interrupted", interrupted_line(stop if isinstance(stop, _Interruption) else None, project.store()), failed=True))
        if options.workers:
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


class _Build:
    """The phases of one build over one plan; `failures` collects what makes the exit code 1."""

    def __init__(self, project: Project, modules: list, choice: Choice, options: BuildOptions, listener: Listener) -> None:
        self.project, self.modules, self.choice, self.options, self.say = project, modules, choice, options, listener
        self.store = project.store()
        self.hashes = StatCache(project.artifacts_dir / ".stat-cache.json")
        self.parsed = ParseMemo(project.artifacts_dir / ".parse-memo.json")
        self.failures: list[str] = []

    def run(self) -> int:
        options, choice = self.options, self.choice
        self.say(Note("plan", f"gen build · profile {choice.profile} ({choice.profile_why}) · backends {', '.join(choice.backends)} ({choice.backends_why})"
                              + ("" if options.compute else " · --no-compute: pages from the cache")))
        unrecovered = self._recover_leftovers() if options.compute and not options.dry_run else set()
        the_plan = plan(self.project, self.modules, choice, self.hashes, self.parsed)
        frozen = [i for i in self._in_scope(the_plan) if i.frozen]
        todo = select(the_plan, options.sections, self.project, self.hashes, force=options.force) if options.compute else []
        runnable = self._runnable(todo, unrecovered)
        if frozen:
            self.say(Note("frozen", f"– frozen: {', '.join(f'{i.label} ({i.frozen})' for i in frozen)}; --profile {choice.profile} computes them anyway"))
        if options.dry_run:
            return self._dry_run(the_plan, runnable)
        tally = self._compute(runnable, unrecovered) if runnable else None
        if tally is not None:  # the results it committed, read back into the same plan for the pages
            the_plan = replan(the_plan, self.project, self.hashes)
        changed = self._render(the_plan)
        site_note = self._publish()
        self.parsed.save()
        self.hashes.save()
        self._summary(the_plan, {i.key for i in todo} - (tally.taken if tally else set()), tally.computed if tally else 0, len(frozen), len(changed), site_note)
        return 1 if self.failures else 0

    def _in_scope(self, the_plan: Plan) -> list[Item]:
        return [i for i in the_plan.scope if not self.options.sections or i.key.section in self.options.sections]

    def _recover_leftovers(self) -> set[ResultKey]:
        """Clear what dead builds left (staging and old folders), each under its result's lock; a live writer's are
        skipped. Returns the results whose leftovers could not be cleared: they and their readers do not run."""
        unrecovered = set()
        for key in self.store.leftover_keys():
            try:
                with self.store.lock(key, wait=False):
                    self.store.recover(key)
            except LockBusy:
                continue
            except FileSystemError as error:
                unrecovered.add(key)
                self.failures.append(f"{key.label} leftovers")
                self.say(Note("failed", f"✗ {key}: {error}", failed=True))
        return unrecovered

    def _runnable(self, todo: list[Item], unrecovered: set[ResultKey]) -> list[Item]:
        """The items that can run here; those whose backend cannot are skipped with one note (a failure when named)."""
        runnable, skipped = [], {}
        for item in todo:
            if item.skip:
                if item.explicit_backend:
                    self.failures.append(f"{item.label}: {item.skip}")
                    self.say(Note("failed", f"✗ {item.label} {item.module.spec.title}: {item.skip}", failed=True))
                else:
                    skipped.setdefault((item.key.backend, item.skip), []).append(item.key.section)
            elif item.key not in unrecovered:  # its leftovers are in the way; that was said once already
                runnable.append(item)
        for (backend, reason), section_ids in skipped.items():
            self.say(Note("skipped", f"– skipped {backend} for {', '.join(section_ids)}: {reason}"))
        return runnable

    def _dry_run(self, the_plan: Plan, runnable: list[Item]) -> int:
        for item in runnable:
            self.say(Note("would-compute", f"  would compute {item.label} {item.module.spec.title} [{item.key.profile}]: {'; '.join(item.reasons) or 'never computed'}"))
        fresh = sum(i.state == "fresh" and not i.frozen for i in self._in_scope(the_plan))
        self.say(Note("summary", f"plan: {len(runnable)} to compute, {fresh} fresh (dry run: nothing computed)"))
        return 0

    def _compute(self, runnable: list[Item], unrecovered: set[ResultKey]) -> _Tally:
        """Run the scheduler on the workers; the tally says how many it computed, which another build computed
        meanwhile, and what failed."""
        from generator.run.executors import open_workers
        from generator.run.scheduler import Interrupted, Scheduler

        log_file: list[Path] = []

        def log_path() -> Path:
            if not log_file:
                log_file.append(self.project.logs_dir / f"gen-build-{time.strftime('%Y%m%d-%H%M%S')}.log")
            return log_file[0]

        options, tally = self.options, _Tally(self.say)
        try:
            with open_workers(self.project, options.jobs, options.executor, options.address, options.workers) as pool:
                Scheduler(self.project, pool, tally, self.hashes, log_path).run(runnable, failed=unrecovered)
        except Interrupted as stop:
            raise _Interruption(tally.computed, stop.stopped, stop.unstopped) from None
        except KeyboardInterrupt:  # while the workers opened or closed: nothing was computing
            raise _Interruption(tally.computed, [], []) from None
        finally:
            self.say(Note("computed", ""))
        self.failures += tally.failures
        return tally

    def _render(self, the_plan: Plan) -> list[Path]:
        try:
            return render_pages(self.project, self.modules, the_plan, self.choice.backends)
        except PageError as error:
            self.failures.append("pages")
            self.say(Note("page-failed", f"✗ a page failed to render: {error}", failed=True))
            return []

    def _publish(self) -> str:
        if not self.options.site:
            return "site skipped (--no-site)"
        try:
            ran = build_site(self.project, mkdocs=self.options.mkdocs)
        except SiteError as error:
            self.failures.append("site")
            self.say(Note("site-failed", f"✗ {error}", failed=True))
            return "site: failed"
        return f"site: {self.project.site_dir / 'index.html'}" + ("" if ran else " (unchanged)")

    def _summary(self, the_plan: Plan, selected: set[ResultKey], computed: int, frozen: int, changed: int, site_note: str) -> None:
        # fresh: results the build did not have to compute (a selected one is fresh only if another build made it so)
        fresh = sum(1 for i in self._in_scope(the_plan) if i.state == "fresh" and not i.frozen and i.key not in selected)
        summary = f"computed {computed} · fresh {fresh}" + (f" · frozen {frozen}" if frozen else "")
        summary += f" · failed {len(self.failures)} · pages changed {changed} · {time.perf_counter() - self.options.started:.2f} s · {site_note}"
        self.say(Note("summary", summary, failed=bool(self.failures)))

