"""A warm worker: computes work units one after another and keeps what is expensive to load.

It keeps torch, diffusers and every backend it has built (models and prompt embeddings) between units, and imports
anew only the project modules whose files changed since it imported them (with the modules that import them), so
an edit to a section costs its compute, not the start-up. A unit that raises is reported and the worker goes on.

Every unit computes with the same number of torch threads (`Project.threads`), so a figure does not depend on which
worker, or how many, computed it; and with its working folder set to a scratch folder of its own, so that a relative
`open("x.png", "w")` lands there and is dropped instead of in the project.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from generator.engine.fingerprints import canonical_json
from generator.run.context import Context
from generator.run.work import Computed, Reporter, WorkFailed, WorkUnit

LIBRARIES = ("torch", "diffusers", "transformers", "numpy")


class Worker:
    """Computes work units in this process, warm: see the module's docstring."""

    def __init__(self, root: Path, packages: tuple[str, ...], threads: int | None = None):
        self.root = root.resolve()
        self.packages = packages
        self.threads = threads if threads is not None else _project_threads(self.root)
        self._lock = threading.Lock()  # guards the two below against `cancel` from another thread
        self._computing: int | None = None  # the id of the thread running a section's compute
        self._cancelled = False
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        self._backends: dict[str, Any] = {}
        # gen's modules loaded before the first unit are the engine this worker runs on: never imported anew in it.
        self._engine = {name for name in sys.modules if name.split(".")[0] == "generator" and self._project_file(name)}
        self._imported: dict[str, str] = {name: self._digest(name) for name in self._engine}

    # ------------------------------------------------------------ module freshness

    def _project_file(self, name: str) -> Path | None:
        """The file of a loaded module of this project (its code packages, sections, gen itself); None otherwise."""
        if name.split(".")[0] not in (*self.packages, "sections", "generator"):
            return None
        path = getattr(sys.modules.get(name), "__file__", None)
        return Path(path) if path else None

    def _digest(self, name: str) -> str:
        path = self._project_file(name)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
        except OSError:
            return ""

    def engine_changed(self) -> list[str]:
        """The engine modules whose files changed since this worker loaded them: only a new process can use them."""
        return sorted(name for name in self._engine if self._digest(name) != self._imported[name])

    def refresh(self) -> list[str]:
        """Forget the project modules whose files changed, and every project module that imports one of them
        (the engine's own modules stay as loaded: see `engine_changed`)."""
        project = {name for name in sys.modules if self._project_file(name)}
        for name in project - set(self._imported):
            self._imported[name] = self._digest(name)
        changed = {name for name in project - self._engine if self._digest(name) != self._imported[name]}
        stale = set(changed)
        while True:  # a module that imported a stale one holds its old objects: it goes too
            more = {name for name in project - stale - self._engine if _imports_any(sys.modules[name], stale)}
            if not more:
                break
            stale |= more
        for name in stale:
            del sys.modules[name]
            del self._imported[name]
        if any(not name.startswith("sections.") for name in stale):
            self._backends.clear()  # a backend built from old classes
        return sorted(stale)

    # ------------------------------------------------------------ computing

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed:
        """Run the unit's compute function into the staging folders; raises WorkFailed when the section raises, and
        KeyboardInterrupt when `cancel` stopped it."""
        self.refresh()
        if self.threads:
            use_threads(self.threads)
        os.environ["GEN_PRECISION"] = unit.precision  # how the MNIST models compute ([tool.gen] precision; mnist/precision.py)
        started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix="gen-compute-"))
        try:
            home = os.getcwd()
        except OSError:  # the folder gen was started in is gone
            home = str(self.root)
        ctx = None
        with self._lock:
            self._computing, self._cancelled = threading.get_ident(), False
        try:
            try:
                # Only one unit computes at a time in a process (--jobs 1 has one in-process worker): the working folder
                # is the process's, and a relative path a section opens should land in this scratch folder, not the project.
                os.chdir(scratch)
                module = _load_section(unit)
                ctx = self._context(unit, module.SECTION, out_dir, artifact_dir, reporter)
                module.compute(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001 - a section may fail any way; the worker goes on
                text = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise WorkFailed(f"{type(error).__name__}: {text}" if text else type(error).__name__, traceback.format_exc()) from None
            finally:
                self._done_computing()
        finally:  # `cancel`'s one KeyboardInterrupt may land in the block above, so this one runs whole
            self._done_computing()
            os.chdir(home)
            shutil.rmtree(scratch, ignore_errors=True)
            self._remember_new_modules()
        if self._cancelled:  # it finished as it was stopped: stopped all the same
            raise KeyboardInterrupt
        backend = ctx._backend.describe() if ctx._backend is not None and hasattr(ctx._backend, "describe") else {}
        return Computed(ctx.figures, ctx.metrics, ctx.notes, ctx.artifacts, backend, time.perf_counter() - started, device_name(), library_versions())

    def cancel(self) -> bool:
        """Stop the compute running on another thread of this process: KeyboardInterrupt is raised in it at its next
        Python line (a long call into C finishes first). False when nothing is computing."""
        with self._lock:
            if self._computing is None or self._cancelled:
                return self._cancelled
            self._cancelled = True  # once per unit: a second KeyboardInterrupt could land after the first was handled
            _raise_in_thread(self._computing, KeyboardInterrupt)
            return True

    def _done_computing(self) -> None:
        """No compute runs any more: `cancel` has nothing to stop, and a KeyboardInterrupt it sent that has not landed
        yet is withdrawn, so it cannot land later in what runs the unit (the commit)."""
        with self._lock:
            if self._computing is not None and self._cancelled:
                _raise_in_thread(self._computing, None)
            self._computing = None

    def _remember_new_modules(self) -> None:
        for name in list(sys.modules):
            if name not in self._imported and self._project_file(name):
                self._imported[name] = self._digest(name)

    def _context(self, unit: WorkUnit, section: Any, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Context:
        key = unit.key
        return Context(
            section=section,
            profile=key.profile,
            backend_name=key.backend,
            backend_loader=(lambda: self._backend(unit)) if key.backend else None,
            prompts=unit.inputs["spec"]["prompts"],
            root=self.root,
            out_dir=out_dir,
            artifact_dir=artifact_dir,
            work_dir=Path(unit.work_dir),
            upstream_artifacts={s: Path(p) for s, p in unit.upstream_artifacts.items()},
            upstream_results=unit.upstream_results,
            reporter=reporter,
        )

    def _backend(self, unit: WorkUnit) -> Any:
        """The unit's backend, built once per configuration and per version of the upstream results it reads."""
        from generator.diffusion.backends import BACKENDS

        upstream = {s: Path(p) for s, p in unit.backend_upstream.items()}
        identity = canonical_json([unit.key.backend, unit.backend_config, {s: _artifact_fingerprint(p) for s, p in upstream.items()}])
        if identity not in self._backends:
            self._backends[identity] = BACKENDS[unit.key.backend].load(unit.backend_config, upstream)
        return self._backends[identity]


def use_threads(count: int) -> None:
    """Compute with `count` intra-op threads: torch's now if it is loaded, else the moment it is imported (the
    environment is not enough: torch caps OMP_NUM_THREADS at the cores it counts, not torch.set_num_threads, so a
    worker that imported torch earlier could compute with another count); the environment for other libraries.

    OpenMP threads with no work wait asleep (OMP_WAIT_POLICY=PASSIVE, unless the environment says otherwise; read when
    torch loads): spinning, they took the cores that other workers or processes needed. That changes no result, and
    on two cores shared with other jobs (load 4) Part A's smoke build on the mnist backend took 5-8 s instead of 104-110 s."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(count)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _TORCH_THREADS.count = count
    if _TORCH_THREADS not in sys.meta_path:
        sys.meta_path.insert(0, _TORCH_THREADS)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads") and torch.get_num_threads() != count:
        torch.set_num_threads(count)


class _ThreadsOnImport:
    """An import finder that only watches: when torch is imported, its loader sets the thread count once it has run."""

    count = 0

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "torch" or not self.count:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            run, count = spec.loader.exec_module, self.count

            def exec_module(module: Any) -> None:
                run(module)
                module.set_num_threads(count)

            spec.loader.exec_module = exec_module  # this spec's own loader object: nothing else is patched
        return spec


_TORCH_THREADS = _ThreadsOnImport()


def _project_threads(root: Path) -> int | None:
    """The project's thread count, for a worker started without one (gen serve's); None leaves torch's default."""
    from generator.engine.config import ConfigError, find_project

    try:
        return find_project(root).threads
    except ConfigError:
        return None


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    """Have `exception` raised in the thread at its next Python line; None withdraws one not raised yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


def _imports_any(module: Any, names: set[str]) -> bool:
    """Whether the module holds a reference to one of the named modules or to something defined in one."""
    for value in vars(module).values():
        owner = getattr(value, "__name__", None) if isinstance(value, type(sys)) else getattr(value, "__module__", None)
        if owner in names:
            return True
    return False


def _artifact_fingerprint(folder: Path) -> str:
    """The fingerprint of the result whose artifacts are in `folder` ("" when there are none)."""
    import json

    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError):
        return ""


def _load_section(unit: WorkUnit) -> Any:
    """The section module, executed anew from its file: sections are what users edit."""
    path = Path(unit.section_path)
    spec = importlib.util.spec_from_file_location(f"sections.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_name() -> str:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    import platform

    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
