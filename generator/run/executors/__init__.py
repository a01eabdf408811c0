"""Where work units run: in this process (`--jobs 1`), in N warm worker processes (`--jobs N`), or on Ray actors
(`--executor ray`). Each gives the scheduler a list of workers with the same `compute(unit, out_dir, artifact_dir,
reporter)`; the scheduler stages and commits every result itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from generator.engine.config import Project
from generator.run.work import WorkerHandle

EXECUTORS = ("local", "ray")


class ExecutorError(RuntimeError):
    """The chosen executor cannot start (Ray not installed, no cluster at the address): one sentence."""


@contextmanager
def open_workers(project: Project, jobs: int, executor: str, address: str | None, given: list[WorkerHandle] | None = None) -> Iterator[list[WorkerHandle]]:
    """The build's warm workers, closed (their processes or actors ended) when the build is done; `given` ones (gen
    serve's) are used as they are and stay open."""
    if given:
        yield given
        return
    if executor == "ray":
        from generator.run.executors.ray import RayWorkers

        pool = RayWorkers(project, jobs, address)
        try:
            yield pool.workers
        finally:
            pool.close()
        return
    from generator.run.executors.local import ProcessWorker, gpu_assignments

    if jobs == 1 and project.section_timeout is None:
        from generator.run.worker import Worker

        yield [Worker(project.root, project.code_packages, project.threads)]
        return
    # With a time limit even --jobs 1 computes in a worker process: a section stuck inside C (a sleep, a deadlock, one
    # huge op) can only be stopped by ending the process it runs in.
    workers = [ProcessWorker(project.root, project.code_packages, env, project.threads) for env in gpu_assignments(jobs)]
    try:
        yield workers
    finally:
        for worker in workers:
            worker.close()
