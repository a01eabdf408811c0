"""The scheduler: owns the order of the results to compute and the workers that compute them, and says what happens
as events (queued, started, progress, log, done, failed). The console, `gen serve` and tests only listen.

Each result is computed by one worker at a time, upstream first (graphlib): a result becomes ready when every result
it reads is done. For each, on a thread of its own, the scheduler takes the result's lock, checks it is still
needed, stages it, has a worker compute it, and commits it, all through the one locked, atomic store; so a result is
written the same way whether this process, a worker process or a Ray actor computed it.

A unit that must stop is cancelled through its worker (`cancel`: a worker process or Ray actor is killed, the
in-process worker gets a KeyboardInterrupt in its compute thread), and its staging is discarded, so its last good
result stays: when it runs past `[tool.gen] section_timeout` (it fails, and the others go on), and when the build is
interrupted (Ctrl+C: `run` stops every running unit, lets a commit under way finish, and raises `Interrupted`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

from generator.engine.config import Project
from generator.engine.files import FileSystemError, StatCache
from generator.engine.plan import Item, still_needed
from generator.engine.store import ResultKey
from generator.run.units import commit, drop_unrecorded, unit_for
from generator.run.work import Computed, Reporter, WorkerHandle, WorkFailed, WorkUnit

# How long an interrupted build waits for its running units to stop (a long call into C finishes first in-process).
STOP_GRACE_S = 10.0

@dataclass(frozen=True)
class Event:
    """Something that happened to a result: queued, started, progress (a new step, or `advance`), log, done, failed."""

    kind: str
    key: ResultKey
    title: str = ""
    description: str = ""  # progress: the step; started: why it is computed
    total: int | None = None
    advance: int = 0
    message: str = ""  # log: the line; failed: the one-line error
    computed: bool = True  # done: False when another build committed it while this one waited
    seconds: float = 0.0
    log: Path | None = None  # failed: where the traceback went
    blocked: bool = False  # failed: not run, because a result it reads failed
    # The kinds above, and "interrupted": the build was interrupted while this result computed (staging discarded).

    @property
    def label(self) -> str:
        return self.key.label


class Interrupted(Exception):
    """The build was interrupted (Ctrl+C): every result's last event, and the results stopped mid-compute (or, in
    `unstopped`, still running when the build gave up waiting: their staging is cleared by the next build)."""

    def __init__(self, results: dict[ResultKey, Event], stopped: list[ResultKey], unstopped: list[ResultKey]):
        super().__init__("interrupted")
        self.results, self.stopped, self.unstopped = results, stopped, unstopped


class _QueueReporter(Reporter):
    """A worker's progress, as events on the scheduler's queue (listeners run on the scheduler's thread only)."""

    def __init__(self, events: queue.Queue, key: ResultKey):
        self.events, self.key = events, key

    def step(self, description: str, total: int | None) -> None:
        self.events.put(Event("progress", self.key, description=description, total=total))

    def advance(self, amount: int = 1) -> None:
        self.events.put(Event("progress", self.key, advance=amount))

    def log(self, message: str) -> None:
        self.events.put(Event("log", self.key, message=message))


class Scheduler:
    """Computes results on its workers in dependency order; see the module's docstring."""

    def __init__(self, project: Project, workers: Sequence[WorkerHandle], listener: Callable[[Event], None], hashes: StatCache, log_path: Callable[[], Path]):
        self.project = project
        self.store = project.store()
        self.workers = list(workers)
        self.listener = listener
        self.hashes = hashes
        self.log_path = log_path
        self.timeout = project.section_timeout
        self._events: queue.Queue = queue.Queue()
        self._log_lock = threading.Lock()
        self._hash_lock = threading.Lock()
        self._stopping = threading.Event()  # interrupted: no unit starts any more
        self._cancel_lock = threading.Lock()
        self._cancelled: dict[ResultKey, str] = {}  # why a unit was cancelled: "timeout" or "interrupt"

    def run(self, items: Sequence[Item], failed: set[ResultKey] = frozenset()) -> dict[ResultKey, Event]:
        """Compute `items` (upstream first); a reader of a result in `failed`, or of one that fails, is not run.
        Returns each item's last event: done or failed. Raises Interrupted on KeyboardInterrupt (Ctrl+C), once the
        running units have stopped."""
        by_key = {item.key: item for item in items}
        rank = {key: n for n, key in enumerate(by_key)}
        sorter = TopologicalSorter({key: [u for u in item.upstream if u in by_key] for key, item in by_key.items()})
        sorter.prepare()
        failed, results, idle = set(failed), {}, list(self.workers)
        running: dict[ResultKey, WorkerHandle] = {}
        ready: list[ResultKey] = []
        try:
            for item in items:
                self.listener(Event("queued", item.key, item.module.spec.title))
            while True:
                ready = sorted([*ready, *sorter.get_ready()], key=rank.__getitem__)
                while ready and (idle or any(u in failed for u in by_key[ready[0]].upstream)):
                    item = by_key[ready.pop(0)]
                    if any(u in failed for u in item.upstream):
                        results[item.key] = self._emit(Event("failed", item.key, item.module.spec.title, message="an upstream section failed", blocked=True))
                        failed.add(item.key)
                        sorter.done(item.key)
                        continue
                    worker = idle.pop(0)
                    running[item.key] = worker
                    threading.Thread(target=self._slot, args=(worker, item), daemon=True).start()
                if not running and not ready:
                    return results
                message = self._events.get()
                if isinstance(message, Event):
                    self._emit(message)
                    continue
                worker, event = message
                idle.append(worker)
                del running[event.key]
                results[event.key] = self._emit(event)
                if event.kind == "failed":
                    failed.add(event.key)
                sorter.done(event.key)
        except KeyboardInterrupt:
            raise self._interrupt(results, running) from None

    def _interrupt(self, results: dict[ResultKey, Event], running: dict[ResultKey, WorkerHandle]) -> Interrupted:
        """Stop the running units and wait (a while) for their slots: each discards its staging, or finishes the
        commit it had begun. A second Ctrl+C stops the wait."""
        self._stopping.set()
        stopped: list[ResultKey] = []
        deadline = time.monotonic() + STOP_GRACE_S
        try:
            while running and time.monotonic() < deadline:
                # Again and again: a slot that was between its checks and its compute when first asked starts it later.
                for key, worker in running.items():
                    self._cancel(worker, key, "interrupt")
                try:
                    message = self._events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(message, Event):
                    continue  # progress of a unit being stopped: nobody is watching any more
                _, event = message
                running.pop(event.key, None)
                results[event.key] = self._emit(event)
                if event.kind == "interrupted":
                    stopped.append(event.key)
        except KeyboardInterrupt:
            pass
        return Interrupted(results, stopped, list(running))

    def _cancel(self, worker: WorkerHandle, key: ResultKey, why: str) -> None:
        """Cancel the unit `worker` computes for `key` (why: "timeout" or "interrupt"), if it can be and still runs."""
        cancel = getattr(worker, "cancel", None)
        if cancel is None:
            return
        with self._cancel_lock:  # the slot reads the reason under this lock, once its compute has raised
            if key in self._cancelled:
                return
            self._cancelled[key] = why
            if not cancel():
                del self._cancelled[key]

    def _emit(self, event: Event) -> Event:
        self.listener(event)
        return event

    def _slot(self, worker: WorkerHandle, item: Item) -> None:
        try:
            event = self._compute_locked(worker, item)
        except BaseException as error:  # noqa: BLE001 - whatever happens, the scheduler hears of it and frees the worker
            event = Event("failed", item.key, item.module.spec.title, message=f"{type(error).__name__}: {error}")
        self._events.put((worker, event))

    def _compute_locked(self, worker: WorkerHandle, item: Item) -> Event:
        """Hold the result's lock, check it is still needed, stage, compute, commit; keep the last good result on failure."""
        key, title = item.key, item.module.spec.title

        def on_wait() -> None:
            self._events.put(Event("log", key, message=f"{item.label} [{key.profile}]: another build is computing it; waiting for it to finish"))

        started = time.perf_counter()
        try:
            with self.store.lock(key, on_wait=on_wait):
                with self._hash_lock:
                    needed = still_needed(item, self.project, self.hashes)
                if not needed:
                    self._events.put(Event("log", key, message=f"{item.label} [{key.profile}]: fresh, computed by the other build"))
                    return Event("done", key, title, computed=False)
                if self._stopping.is_set():
                    return Event("interrupted", key, title)
                unit = unit_for(self.project, item)
                self._events.put(Event("started", key, title, description="; ".join(unit.reasons)))
                out_dir, artifact_dir = self.store.stage(key)
                try:
                    computed = self._compute_timed(worker, unit, out_dir, artifact_dir)
                except BaseException as error:
                    self.store.abort(key)
                    with self._cancel_lock:
                        why = self._cancelled.pop(key, None)
                    if why == "interrupt":
                        return Event("interrupted", key, title, seconds=time.perf_counter() - started)
                    if why == "timeout":
                        message = (f"ran past section_timeout = {self.timeout:g} s and was stopped; raise section_timeout in [tool.gen] of "
                                   "pyproject.toml or fix the section")
                        return self._failed(key, title, message, None, started)
                    if isinstance(error, WorkFailed):
                        return self._failed(key, title, error.error, self._write_log(key, error.traceback_text), started)
                    raise
                with self._cancel_lock:
                    self._cancelled.pop(key, None)  # it had finished: what it computed is good
                try:
                    dropped = drop_unrecorded(computed, out_dir, artifact_dir)
                    if dropped:
                        self._events.put(Event("log", key, message=f"{item.label} [{key.profile}]: not published, written beside its figures without ctx: {', '.join(dropped)}"))
                    commit(self.project, self.store, unit, computed, out_dir, artifact_dir)
                except (FileSystemError, OSError) as error:
                    self.store.abort(key)
                    return self._failed(key, title, str(error), None, started)
                return Event("done", key, title, seconds=computed.seconds)
        except FileSystemError as error:
            return self._failed(key, title, str(error), None, started)

    def _compute_timed(self, worker: WorkerHandle, unit: WorkUnit, out_dir: Path, artifact_dir: Path) -> Computed:
        """Have the worker compute the unit, cancelled when it runs past the section time limit."""
        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, self._cancel, args=(worker, unit.key, "timeout"))
            timer.daemon = True
            timer.start()
        try:
            return worker.compute(unit, out_dir, artifact_dir, _QueueReporter(self._events, unit.key))
        finally:
            if timer is not None:
                timer.cancel()

    def _failed(self, key: ResultKey, title: str, error: str, log: Path | None, started: float) -> Event:
        self.store.record_failure(key, error, log)
        return Event("failed", key, title, message=error, log=log, seconds=time.perf_counter() - started)

    def _write_log(self, key: ResultKey, traceback_text: str) -> Path | None:
        """Append the traceback to the build's log; None when the log cannot be written."""
        with self._log_lock:
            path = self.log_path()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as log:
                    log.write(f"=== {key} failed at {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback_text}\n")
            except OSError:
                return None
            return path

