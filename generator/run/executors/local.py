"""Warm worker processes: each runs a `Worker` in a process of its own and computes the units it is sent.

The process stays up between units and between builds of `gen serve`, so torch, diffusers and loaded backends stay
warm; a section that raises is reported and the process goes on. A process that dies (killed, out of memory) or
whose engine modules changed is started anew for the next unit. `cancel` kills the process of a unit that must stop
(Ctrl+C, a section past its time limit): what it was writing is staging, which the scheduler discards.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from generator.run.work import Computed, Reporter, WorkFailed, WorkUnit


def gpu_assignments(jobs: int) -> list[dict[str, str]]:
    """Each worker's environment: on a machine with several GPUs, a GPU of its own (CUDA_VISIBLE_DEVICES). On a CPU
    the workers share the cores, each computing with the project's thread count (the worker sets it), not a share:
    a thread count that followed `--jobs` would change how torch adds up, and so the figures' last bits."""
    gpus = visible_gpus()
    if len(gpus) > 1:
        return [{"CUDA_VISIBLE_DEVICES": gpus[n % len(gpus)]} for n in range(jobs)]
    return [{} for _ in range(jobs)]


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, by index, without importing torch."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(n) for n, line in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


class _PipeReporter(Reporter):
    def __init__(self, conn: Connection):
        self.conn = conn

    def step(self, description: str, total: int | None) -> None:
        self.conn.send(("step", description, total))

    def advance(self, amount: int = 1) -> None:
        self.conn.send(("advance", amount))

    def log(self, message: str) -> None:
        self.conn.send(("log", message))


def _serve(conn: Connection, root: str, packages: tuple[str, ...], env: dict[str, str], threads: int | None) -> None:
    """The worker process: compute each unit it receives until told to stop (None) or its engine changed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the driver's to handle: it aborts staging and stops us
    os.environ.update(env)
    from generator.run.worker import Worker

    worker = Worker(Path(root), packages, threads)
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        changed = worker.engine_changed()
        if changed:  # gen's own code was edited: a new process imports it (the driver sends the unit again)
            conn.send(("restart", ", ".join(changed)))
            return
        unit, out_dir, artifact_dir = message
        try:
            computed = worker.compute(unit, Path(out_dir), Path(artifact_dir), _PipeReporter(conn))
        except WorkFailed as failure:
            conn.send(("failed", failure.error, failure.traceback_text))
            continue
        conn.send(("done", computed))


class ProcessWorker:
    """The scheduler's handle on one warm worker process (started on first use, and again after it died)."""

    def __init__(self, root: Path, packages: tuple[str, ...], env: dict[str, str] | None = None, threads: int | None = None):
        self.root, self.packages, self.env, self.threads = str(root), packages, dict(env or {}), threads
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # `cancel` comes from another thread than `compute`
        self._busy = False
        self._stopped = False  # `cancel` came for the unit now computing

    def start(self) -> None:
        """Start the process now (it imports only the engine; torch loads with the first unit that needs it)."""
        if self._process is not None and self._process.is_alive():
            return
        context = multiprocessing.get_context("spawn")  # fork would copy this process's threads and locks
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.root, self.packages, self.env, self.threads), daemon=True)
        # The process is born with Ctrl+C blocked (the mask survives exec), so a Ctrl+C while it starts up, before it
        # ignores SIGINT itself, does not print a KeyboardInterrupt traceback from it: the driver handles Ctrl+C.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed:
        with self._lock:
            self._busy, self._stopped = True, False
        try:
            return self._compute(unit, out_dir, artifact_dir, reporter)
        finally:
            with self._lock:
                self._busy = False

    def cancel(self) -> bool:
        """Kill the process while it computes a unit (its `compute` then raises WorkFailed); False when it is idle."""
        with self._lock:
            if not self._busy:
                return False
            self._stopped = True
            process = self._process
            if process is not None:
                process.kill()
            return True

    def _compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed:
        for _ in range(2):  # a second time only after the process restarted for changed engine modules
            with self._lock:
                if self._stopped:  # cancelled before its process (re)started
                    raise WorkFailed("the unit was stopped before it started", "")
                self.start()
            try:
                self._conn.send((unit, str(out_dir), str(artifact_dir)))
            except OSError:  # it died between units (killed as it finished one, or out of memory)
                self._process.join(timeout=5)
                self._process = None
                raise WorkFailed("the worker process died before it got the unit", f"worker process for {unit.key}: pipe closed\n") from None
            while True:
                try:
                    message = self._conn.recv()
                except EOFError:
                    self._process.join(timeout=5)
                    code = self._process.exitcode
                    self._process = None
                    raise WorkFailed(f"the worker process died (exit code {code})", f"worker process for {unit.key} exited with {code}\n") from None
                kind = message[0]
                if kind == "step":
                    reporter.step(message[1], message[2])
                elif kind == "advance":
                    reporter.advance(message[1])
                elif kind == "log":
                    reporter.log(message[1])
                elif kind == "done":
                    return message[1]
                elif kind == "failed":
                    raise WorkFailed(message[1], message[2])
                else:  # restart
                    self._process.join(timeout=30)
                    self._process = None
                    break
        raise WorkFailed("the worker process could not load the changed engine modules", "")

    def close(self) -> None:
        process = self._process
        if process is None:
            return
        if self._busy:  # a unit still running (Ctrl+C, and it did not stop): its staging is discarded anyway
            process.kill()
        else:
            try:
                self._conn.send(None)
            except OSError:
                pass
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        self._process = None
