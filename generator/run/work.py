"""A work unit: one result to compute, as a plain value that can be pickled and handed to a worker anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from generator.engine.store import ResultKey


@dataclass(frozen=True)
class WorkUnit:
    """Everything a worker needs to compute one result, and nothing that ties it to the planning process."""

    key: ResultKey
    title: str
    root: str  # the project folder: sections import its modules
    section_path: str  # the section module's file, loaded anew by the worker
    fingerprint: str
    inputs: dict[str, Any]  # spec, code, backend and upstream, as planned: the manifest records them
    reasons: tuple[str, ...]  # why it is computed, for the console
    backend_config: dict[str, Any] | None  # None for Part B
    upstream_artifacts: dict[str, str]  # section id → its artifact folder, for the sections it lists in `upstream`
    backend_upstream: dict[str, str]  # the same for the sections its backend reads (the mnist backend: 2.3 and 2.0)
    work_dir: str  # resumable scratch (training checkpoints), keyed by fingerprint
    # section id → {"params", "metrics"} of each upstream result, as its manifest holds them when this unit starts
    upstream_results: dict[str, dict] = field(default_factory=dict)
    # [tool.gen] precision of Part B ("auto", "fp32" or "bf16"): how the MNIST models compute
    precision: str = "auto"


@dataclass
class Computed:
    """What a worker sends back: the writers' records and where it ran. `files` carries the bytes of the figures and
    artifacts when the worker computed them somewhere the driver cannot see (a Ray node)."""

    figures: list[dict[str, Any]]
    metrics: dict[str, float]
    notes: dict[str, str]
    artifacts: list[str]
    backend: dict[str, Any]
    seconds: float
    device: str
    libraries: dict[str, str]
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # {"figures": {name: bytes}, "artifacts": {...}}


class WorkFailed(Exception):
    """A section's compute raised: the one-line error and the traceback, carried back from the worker."""

    def __init__(self, error: str, traceback_text: str):
        super().__init__(error)
        self.error = error
        self.traceback_text = traceback_text


class Reporter:
    """Progress sink; the build gives a rich one, tests a silent one."""

    def step(self, description: str, total: int | None) -> None:
        """A new step of the section begins, with `total` units of work (None: unknown)."""

    def advance(self, amount: int = 1) -> None:
        """`amount` units of the current step are done."""

    def log(self, message: str) -> None:
        """A line for the user, shown above the progress bars."""


class WorkerHandle(Protocol):
    """A warm worker as the scheduler sees it (in this process, in a worker process, or a Ray actor). It may also have
    `cancel() -> bool`: stop the unit it computes, so that `compute` raises (True), or say it is idle (False)."""

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed: ...
