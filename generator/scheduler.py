"""The scheduler: owns the order of the results to compute and the workers that compute them, and says what happens
as events (queued, started, progress, log, done, failed). The console, `gen serve` and tests only listen.

Each result is computed by one worker at a time, upstream first (graphlib): a result becomes ready when every result
it reads is done. For each, on a thread of its own, the scheduler takes the result's lock, checks it is still
needed, stages it, has a worker compute it, and commits it, all through the one locked, atomic store; so a result is
written the same way whether this process, a worker process or a Ray actor computed it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Protocol

from generator.build import commit, unit_for
from generator.config import Project
from generator.context import Reporter
from generator.files import FileSystemError, StatCache
from generator.plan import Item, still_needed
from generator.store import ResultKey, ResultStore
from generator.work import Computed, WorkFailed, WorkUnit


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

    @property
    def label(self) -> str:
        return self.key.label


class WorkerHandle(Protocol):
    """A warm worker as the scheduler sees it (in this process, in a worker process, or a Ray actor)."""

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed: ...


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
        self.store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
        self.workers = list(workers)
        self.listener = listener
        self.hashes = hashes
        self.log_path = log_path
        self._events: queue.Queue = queue.Queue()
        self._log_lock = threading.Lock()
        self._hash_lock = threading.Lock()

    def run(self, items: Sequence[Item], failed: set[ResultKey] = frozenset()) -> dict[ResultKey, Event]:
        """Compute `items` (upstream first); a reader of a result in `failed`, or of one that fails, is not run.
        Returns each item's last event: done or failed."""
        by_key = {item.key: item for item in items}
        rank = {key: n for n, key in enumerate(by_key)}
        sorter = TopologicalSorter({key: [u for u in item.upstream if u in by_key] for key, item in by_key.items()})
        sorter.prepare()
        failed, results, idle, running = set(failed), {}, list(self.workers), 0
        ready: list[ResultKey] = []
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
                threading.Thread(target=self._slot, args=(worker, item), daemon=True).start()
                running += 1
            if not running and not ready:
                return results
            message = self._events.get()
            if isinstance(message, Event):
                self._emit(message)
                continue
            worker, event = message
            idle.append(worker)
            running -= 1
            results[event.key] = self._emit(event)
            if event.kind == "failed":
                failed.add(event.key)
            sorter.done(event.key)

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
                unit = unit_for(self.project, item)
                self._events.put(Event("started", key, title, description="; ".join(unit.reasons)))
                out_dir, artifact_dir = self.store.stage(key)
                try:
                    computed = worker.compute(unit, out_dir, artifact_dir, _QueueReporter(self._events, key))
                except WorkFailed as failure:
                    self.store.abort(key)
                    return self._failed(key, title, failure.error, self._write_log(key, failure.traceback_text), started)
                except BaseException:
                    self.store.abort(key)
                    raise
                try:
                    commit(self.project, self.store, unit, computed, out_dir, artifact_dir)
                except (FileSystemError, OSError) as error:
                    self.store.abort(key)
                    return self._failed(key, title, str(error), None, started)
                return Event("done", key, title, seconds=computed.seconds)
        except FileSystemError as error:
            return self._failed(key, title, str(error), None, started)

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

