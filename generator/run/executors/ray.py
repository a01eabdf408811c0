"""Warm workers as Ray actors, for builds that outgrow one machine: `gen build --executor ray [--address ADDR]`.

Each actor holds a `Worker` (so its models stay loaded between units) and computes into a folder of its own; the
figures and artifacts come back to the driver as bytes, and the scheduler writes them through the same locked,
atomic store as a local build. The upstream artifacts a unit reads go to the actor the same way when its node cannot
see the driver's folders. An actor asks Ray for the GPUs its backend needs: `num_gpus` in the backend's
`[tool.gen.backend.NAME]` table, else 1 for deepfloyd on CUDA and 0 otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.engine.config import Project
from generator.run.executors import ExecutorError
from generator.run.work import Computed, Reporter, WorkFailed, WorkUnit

# What a cluster's nodes need of the project is its code, templates and data; never its results or environments.
UPLOAD_EXCLUDES = ["cache/", "artifacts/", "site/", "logs/", ".venv/", "node_modules/", ".git/", "docs/part-a/", "docs/part-b/"]


class _Actor:
    """The Ray actor: a warm worker on a cluster node."""

    def __init__(self, root: str, packages: tuple[str, ...], threads: int):
        from generator.run.worker import Worker

        # On another node the project is Ray's copy of it (the runtime env's working_dir, the actor's cwd).
        self.driver_root = Path(root)
        self.root = self.driver_root if self.driver_root.is_dir() else Path.cwd()
        self.worker = Worker(self.root, packages, threads)  # the driver's count, not the one Ray gives an actor

    def compute(self, unit: WorkUnit, shipped: dict[str, dict[str, bytes]]) -> tuple[str, Any, str]:
        scratch = Path(tempfile.mkdtemp(prefix="gen-ray-"))
        try:
            unit = self._localise(unit, shipped, scratch)
            out_dir, artifact_dir = scratch / "out", scratch / "artifacts"
            out_dir.mkdir()
            try:
                computed = self.worker.compute(unit, out_dir, artifact_dir, Reporter())
            except WorkFailed as failure:
                return ("failed", failure.error, failure.traceback_text)
            computed.files = {
                "figures": {f["file"]: (out_dir / f["file"]).read_bytes() for f in computed.figures},
                "artifacts": {name: (artifact_dir / name).read_bytes() for name in computed.artifacts},
            }
            return ("done", computed, "")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _localise(self, unit: WorkUnit, shipped: dict[str, dict[str, bytes]], scratch: Path) -> WorkUnit:
        """The unit with paths that exist on this node: the project's copy, and upstream artifacts from their bytes."""
        if self.root == self.driver_root:
            return unit

        def here(folders: dict[str, str]) -> dict[str, str]:
            local = {}
            for section in folders:
                target = scratch / "upstream" / section
                target.mkdir(parents=True, exist_ok=True)
                for name, data in shipped.get(section, {}).items():
                    (target / name).write_bytes(data)
                local[section] = str(target)
            return local

        section_path = self.root / Path(unit.section_path).relative_to(self.driver_root)
        return replace(unit, root=str(self.root), section_path=str(section_path), upstream_artifacts=here(unit.upstream_artifacts),
                       backend_upstream=here(unit.backend_upstream), work_dir=str(scratch / "work"))


def _shipment(unit: WorkUnit) -> dict[str, dict[str, bytes]]:
    """The bytes of every upstream artifact the unit may read, by section."""
    shipped: dict[str, dict[str, bytes]] = {}
    for section, folder in {**unit.backend_upstream, **unit.upstream_artifacts}.items():
        path = Path(folder)
        shipped[section] = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()} if path.is_dir() else {}
    return shipped


def num_gpus(project: Project, backend: str | None) -> float:
    """The GPUs an actor for this backend asks Ray for."""
    if backend is None:
        return 0
    config = project.backend_config(backend)
    if "num_gpus" in config:
        return float(config["num_gpus"])
    return 1 if backend == "deepfloyd" and config.get("device", "cuda") == "cuda" else 0


class RayWorker:
    """One slot of the scheduler: an actor per GPU need, created on first use and kept for the build."""

    def __init__(self, project: Project, actor_class: Any):
        self.project, self.actor_class = project, actor_class
        self.actors: dict[float, Any] = {}
        self._lock = threading.Lock()  # `cancel` comes from another thread than `compute`
        self._running: Any = None  # the actor computing a unit now

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed:
        import ray

        gpus = num_gpus(self.project, unit.key.backend)
        with self._lock:
            if gpus not in self.actors:
                self.actors[gpus] = self.actor_class.options(num_cpus=1, num_gpus=gpus).remote(
                    str(self.project.root), self.project.code_packages, self.project.threads)
            self._running = self.actors[gpus]
        try:
            kind, value, traceback_text = ray.get(self._running.compute.remote(unit, _shipment(unit)))
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as error:
            self.actors.pop(gpus, None)  # a new actor computes the next unit
            raise WorkFailed("the Ray actor computing it died (killed, out of memory, or its node was lost)", str(error)) from None
        finally:
            with self._lock:
                self._running = None
        if kind == "failed":
            raise WorkFailed(value, traceback_text)
        return value

    def cancel(self) -> bool:
        """Kill the actor computing a unit (its `compute` then raises WorkFailed); False when none is."""
        import ray

        with self._lock:
            if self._running is None:
                return False
            ray.kill(self._running, no_restart=True)
            return True

    def close(self) -> None:
        import ray

        for actor in self.actors.values():
            ray.kill(actor)
        self.actors.clear()


class RayWorkers:
    """`jobs` actor slots on the Ray cluster at `address` (RAY_ADDRESS, or a local Ray when neither is given)."""

    def __init__(self, project: Project, jobs: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        self.started_ray = False
        if not ray.is_initialized():
            runtime_env = {"working_dir": str(project.root), "excludes": UPLOAD_EXCLUDES} if address else None
            try:
                ray.init(address=address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as error:
                raise ExecutorError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {str(error).splitlines()[0]}") from None
            self.started_ray = True
        actor_class = ray.remote(_Actor)
        self.workers = [RayWorker(project, actor_class) for _ in range(jobs)]

    def close(self) -> None:
        import ray

        for worker in self.workers:
            worker.close()
        if self.started_ray:
            ray.shutdown()
