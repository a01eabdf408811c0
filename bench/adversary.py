"""An adversary run of gen's reliability promises (issue 18): kills, races, bad specs, hostile text, damaged files.

Every scenario runs in a scratch copy of the project in a temporary folder (the working tree by default, or a commit
with --ref), through `python -m generator.cli` of the project's .venv (so the copy's own `generator/` runs, not the
editable install's), with the smoke profile, OMP_NUM_THREADS=1, and nothing but 127.0.0.1. Sentinel files beside the
copies, never inside one, catch what gen opens, changes or deletes outside its project (inotify, through watchdog).

Each family prints `family: tried N · survived S · lost L` and a reason for each loss (a result torn or lost, a file
outside the project touched, a traceback shown, a wrong exit code, a hang); the last line totals them, and the exit code
is 1 when anything was lost, 2 on bad usage.

    .venv/bin/python bench/adversary.py                       # every family, about 8 minutes on 2 free cores
    .venv/bin/python bench/adversary.py --quick               # one or two tries of each, about 3 minutes
    .venv/bin/python bench/adversary.py --family 5 --family 7 --keep   # some families; keep the scratch folder
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# One torch thread: with two, a small UNet spins far longer when another process holds a core.
ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
SMOKE = ("--profile", "smoke")
MANIFEST = "manifest.json"
B21, B20, A14 = "2.1/none/smoke", "2.0/none/smoke", "1.4/mnist/smoke"
B21_FILE = "b2_1_single_step_denoiser.py"
SETTLE_S = 0.7  # watchdog holds inotify events up to 0.5 s (to pair moves) before it delivers them

TEMPLATE = """\
{% extends "_base.md.j2" %}
{% block approach %}The approach, with math that must be typeset: \\(x_t = \\sqrt{\\bar\\alpha_t} x_0\\).{% endblock %}
{% block results %}
{% call(r) m.backend_tabs(results) %}
{% for f in r.figures %}
### {{ f.caption }}

/// tab | {{ f.caption }}

{{ m.wide(f) }}

///

{% endfor %}
Captions: {{ r.figures | map(attribute="caption") | join(" / ") }}.
{% endcall %}
{% endblock %}
"""

# Runs gen with os.replace and shutil.rmtree on result folders (cache/, artifacts/ but their dot-folders) counted, and
# kills the process with SIGKILL at the call named by GEN_ADVERSARY_KILL: "before:N", "after:N", "inside:N" (an rmtree
# that has removed one file), or "trace:FILE" to list the calls of a build.
KILL_HOOK = r'''
import os, shutil, signal, sys
sys.argv[0] = "gen"
mode, _, arg = os.environ["GEN_ADVERSARY_KILL"].partition(":")
calls = []
def rel(path):
    return os.path.relpath(os.fspath(path), os.getcwd())
def result_path(path):
    parts = rel(path).split(os.sep)
    return len(parts) > 2 and parts[0] in ("cache", "artifacts") and not parts[1].startswith(".")
def wrap(name, real):
    def call(*args, **kwargs):
        paths = [a for a in args[:2] if isinstance(a, (str, os.PathLike))]
        if not any(result_path(p) for p in paths):
            return real(*args, **kwargs)
        calls.append(name + " " + " -> ".join(rel(p) for p in paths))
        n = len(calls)
        if mode == "trace":
            with open(arg, "a") as log:
                log.write(calls[-1] + "\n")
        if mode == "before" and n == int(arg):
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "inside" and n == int(arg):
            for folder, _, files in os.walk(paths[0]):
                if files:
                    os.unlink(os.path.join(folder, files[0]))
                    break
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if mode == "after" and n == int(arg):
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return call
os.replace = wrap("replace", os.replace)
shutil.rmtree = wrap("rmtree", shutil.rmtree)
from generator.cli import main
main()
'''


class SetupError(RuntimeError):
    """The adversary could not set a scenario up (a baseline build failed, a file it edits changed shape)."""


# ---------------------------------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    """One family's tries: each survived, or lost with a reason."""

    name: str
    tried: int = 0
    losses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, label: str, problems: list[str]) -> None:
        self.tried += 1
        if problems:
            more = f" (+{len(problems) - 2} more)" if len(problems) > 2 else ""
            self.losses.append(f"{label}: {'; '.join(p if len(p) <= 200 else p[:199] + '…' for p in problems[:2])}{more}")

    @property
    def survived(self) -> int:
        return self.tried - len(self.losses)

    def line(self) -> str:
        return f"{self.name}: tried {self.tried} · survived {self.survived} · lost {len(self.losses)} · {self.seconds:.0f} s"


@dataclass
class Run:
    """A finished gen command: its exit code (None: it hung and was killed), what it printed, how long it took."""

    rc: int | None
    out: str
    seconds: float
    err: str = ""

    @property
    def text(self) -> str:
        return self.out + self.err


def exception_line(text: str) -> str | None:
    """The exception a traceback in `text` ends with (`ValueError: embedded null byte`), or None without one."""
    if "Traceback (most recent call last)" not in text:
        return None
    tail = text.rsplit("Traceback (most recent call last)", 1)[1].splitlines()[1:]
    return next((line.strip() for line in tail if line and not line.startswith(" ")), "a traceback")[:160]


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def expect(run: Run, codes: int | tuple[int, ...], what: str) -> list[str]:
    """Problems with a run that should have exited with one of `codes`, without a traceback."""
    codes = (codes,) if isinstance(codes, int) else codes
    problems = []
    if run.rc is None:
        problems.append(f"{what} hung (killed after {run.seconds:.0f} s)")
    elif run.rc not in codes:
        problems.append(f"{what} exited {run.rc}, expected {' or '.join(map(str, codes))}: {last_line(run.text)}")
    error = exception_line(run.text)
    if error:
        problems.append(f"{what} showed a traceback ({error})")
    return problems


def must(run: Run, what: str) -> Run:
    if run.rc != 0:
        raise SetupError(f"{what} exited {run.rc}: {exception_line(run.text) or last_line(run.text)}")
    return run


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------- processes


@dataclass
class Started:
    """A gen process running in its own process group (so that a kill reaches its workers too)."""

    process: subprocess.Popen
    output: Path
    errors: Path | None
    started: float

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> Run:
        try:
            rc: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        seconds = time.monotonic() - self.started
        self.kill()  # whatever it left running (a worker, a hung child)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        err = self.errors.read_text(errors="replace") if self.errors else ""
        return Run(rc, self.output.read_text(errors="replace"), seconds, err)

    def read(self) -> str:
        return self.output.read_text(errors="replace")


RUNNING: list[Started] = []


class Project:
    """A scratch copy of the project, and gen run in it as a user would."""

    def __init__(self, root: Path, python: str, logs: Path):
        self.root, self.python, self.logs = root, python, logs
        self.runs = 0

    def start(self, *args: str, env: dict[str, str | None] | None = None, code: str | None = None, split: bool = False) -> Started:
        """Start `gen ARGS` (or `python -c CODE ARGS`); env values of None are removed from the environment."""
        self.runs += 1
        stem = self.logs / f"{self.root.name}-{self.runs:03d}"
        environment = {**os.environ, **ENV}
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        command = [self.python, "-c", code, *args] if code else [self.python, "-m", "generator.cli", *args]
        output, errors = stem.with_suffix(".out"), stem.with_suffix(".err") if split else None
        with open(output, "w") as out, open(errors or os.devnull, "w") as err:
            process = subprocess.Popen(command, cwd=self.root, stdout=out, stderr=err if split else subprocess.STDOUT, env=environment,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        started = Started(process, output, errors, time.monotonic())
        RUNNING.append(started)
        return started

    def gen(self, *args: str, timeout: float = 180, env: dict[str, str | None] | None = None, code: str | None = None, split: bool = False) -> Run:
        return self.start(*args, env=env, code=code, split=split).wait(timeout)

    def build(self, *args: str, timeout: float = 180, env: dict[str, str | None] | None = None) -> Run:
        """`gen build --profile smoke --no-site ARGS`."""
        return self.gen("build", *SMOKE, "--no-site", *args, timeout=timeout, env=env)

    # ------------------------------------------------------------ what is on disk

    def result(self, key: str) -> Path:
        return self.root / "cache" / key

    def manifest(self, key: str, folder: Path | None = None) -> dict | None:
        try:
            return json.loads(((folder or self.result(key)) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def whole(self, key: str, folder: Path | None = None, artifacts: bool = True) -> list[str]:
        """How the figures (and artifacts) of a result differ from what its manifest records."""
        folder = folder or self.result(key)
        manifest = self.manifest(key, folder)
        if manifest is None:
            return [f"{folder.relative_to(self.root)} has no readable manifest"]
        checks = [(folder, manifest.get("figures", []), "file")]
        if artifacts and manifest.get("artifacts"):
            checks.append((self.root / "artifacts" / key, manifest["artifacts"], "name"))
        problems = []
        for where, entries, name_key in checks:
            for entry in entries:
                path = where / entry[name_key]
                if not path.is_file():
                    problems.append(f"{path.relative_to(self.root)} is missing")
                elif path.stat().st_size != entry.get("bytes") or sha256(path.read_bytes()) != entry.get("sha256"):
                    problems.append(f"{path.relative_to(self.root)} does not match its manifest")
        return problems

    def leftovers(self, key: str) -> list[str]:
        final = self.result(key)
        found = [final.with_name(f"{final.name}.{s}") for s in ("new", "old")]
        found += [(self.root / "artifacts" / key).with_name(f"{final.name}.{s}") for s in ("new", "old")]
        found = [p for p in found if p.exists()] + (list(final.glob(".*.tmp")) if final.is_dir() else [])
        return [f"leftover {p.relative_to(self.root)}" for p in found]

    def row(self, key: str) -> dict | None:
        """The result's row of `gen status --json`."""
        section, backend, profile = key.split("/")
        args = ["status", "--profile", profile, "--section", section, "--json"] + ([] if backend == "none" else ["--backend", backend])
        run = self.gen(*args, timeout=60)
        try:
            rows = json.loads(run.out)
        except ValueError:
            return None
        return next((r for r in rows if r["section"] == section and (r["backend"] or "none") == backend), None)

    def fresh_and_whole(self, key: str) -> list[str]:
        row = self.row(key)
        problems = [] if row and row["state"] == "fresh" else [f"gen status: {key} is {row['state'] + ' ' + str(row['reasons']) if row else 'unreadable'}"]
        return problems + self.whole(key) + self.leftovers(key)

    def survives_kill(self, key: str) -> list[str]:
        """Right after a kill: the result is whole, or a half-done swap left a whole new or old folder to finish it with."""
        final = self.result(key)
        if (final / MANIFEST).is_file():
            return self.whole(key, artifacts=False)
        for name in ("new", "old"):
            folder = final.with_name(f"{final.name}.{name}")
            if (folder / MANIFEST).is_file() and not self.whole(key, folder, artifacts=False):
                return []
        return [f"the result is gone: no whole {final.name}, {final.name}.new or {final.name}.old in {final.parent.relative_to(self.root)}"]

    def rebuilds(self, key: str, args: tuple[str, ...]) -> list[str]:
        """The next (plain) build succeeds and leaves the result fresh and whole."""
        return expect(self.build(*args), 0, "the next build") + self.fresh_and_whole(key)

    def edit(self, rel: str, change: Callable[[str], str]) -> None:
        path = self.root / rel
        before = path.read_text()
        after = change(before)
        if after == before:
            raise SetupError(f"{rel} does not have the shape the adversary edits; update bench/adversary.py")
        path.write_text(after)

    def slow_training(self) -> None:
        """2.1's smoke profile trains 3 epochs of 512 digits (about a second each): long enough to act between epochs."""
        def change(text: str) -> str:
            def smoke(match: re.Match) -> str:
                line = re.sub(r'"epochs": \d+', '"epochs": 3', match.group(0))
                line = re.sub(r'"max_train_images": \d+', '"max_train_images": 512', line)
                return re.sub(r'"sample_epochs": \[[^\]]*\]', '"sample_epochs": [1, 3]', line)
            return re.sub(r'^\s*"smoke": \{.*$', smoke, text, count=1, flags=re.M)
        self.edit(f"sections/{B21_FILE}", change)

    def figures_of_site(self) -> Iterator[Path]:
        yield from (p for p in (self.root / "site").rglob("*") if p.is_file() or p.is_symlink())

    def work_checkpoints(self) -> list[Path]:
        return sorted((self.root / "artifacts" / ".work" / "2.1" / "none").glob("smoke-*/epoch-*.safetensors"))


# ---------------------------------------------------------------------------------------------------- outside


class Outside:
    """Sentinel files beside the scratch projects, never inside one: gen must neither open, change nor delete them."""

    def __init__(self, folder: Path):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self.folder = folder
        self.files = {
            "passwd": b"root:x:0:0:adversary sentinel, not a real passwd:/root:/bin/sh\n",
            "hostname": b"adversary-sentinel-host\n",
            "victim/2.1/none/smoke/manifest.json": b'{"note": "a result outside the project: gen clean must leave it"}\n',
            "victim/2.1/none/smoke/noising.png": b"\x89PNG\r\n\x1a\nadversary sentinel\n",
        }
        self.identity: dict[str, tuple[int, int, int]] = {}
        self._write_all()
        self.opened: list[str] = []
        opened = self.opened

        class Opened(FileSystemEventHandler):
            def on_opened(self, event) -> None:  # noqa: ANN001 - watchdog's event class
                opened.append(os.fsdecode(event.src_path))

        self.observer = Observer()
        self.observer.schedule(Opened(), str(folder), recursive=True)
        self.observer.start()
        time.sleep(SETTLE_S)
        self.opened.clear()

    def path(self, name: str) -> Path:
        return self.folder / name

    def _write_all(self) -> None:
        for name, data in self.files.items():
            path = self.path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_symlink():
                path.unlink()
            path.write_bytes(data)
            stat = path.stat()
            self.identity[name] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def touched(self, settle: bool = True) -> list[str]:
        """What was opened, changed or deleted out here since the last call (which then puts everything back)."""
        if settle:
            time.sleep(SETTLE_S)
        problems = [f"opened {Path(p).relative_to(self.folder.parent)} outside the project" for p in dict.fromkeys(self.opened)]
        self.opened.clear()
        for name, identity in self.identity.items():
            try:
                stat = self.path(name).stat()
            except OSError:
                problems.append(f"deleted {self.folder.name}/{name} outside the project")
                continue
            if (stat.st_size, stat.st_mtime_ns, stat.st_ino) != identity:
                problems.append(f"changed {self.folder.name}/{name} outside the project")
        if any(not p.startswith("opened") for p in problems):
            self._write_all()
            time.sleep(SETTLE_S)
            self.opened.clear()  # our own writes
        return problems

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


# ---------------------------------------------------------------------------------------------------- the scratch world


class World:
    """The temporary folder: a pristine export of the project, one copy per family, the sentinels, the logs."""

    def __init__(self, source: Path, ref: str | None):
        self.source = source
        self.tmp = Path(tempfile.mkdtemp(prefix="gen-adversary-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.pristine = self.tmp / "pristine"
        self.commit = export(source, ref, self.pristine)
        venv = source / ".venv" / "bin" / "python"
        self.python = str(venv) if venv.is_file() else sys.executable
        self.outside = Outside(self.tmp / "outside")

    def project(self, name: str, sections: tuple[str, ...] = (B21_FILE,)) -> Project:
        """A fresh copy with only the named section modules (and the shared `_` helpers)."""
        root = self.tmp / name
        shutil.copytree(self.pristine, root, symlinks=True)
        for path in (root / "sections").glob("*.py"):
            if not path.name.startswith("_") and path.name not in sections:
                path.unlink()
        node_modules = self.source / "node_modules"
        if node_modules.is_dir():
            (root / "node_modules").symlink_to(node_modules)
        (root / "templates" / "adversary.md.j2").write_text(TEMPLATE)
        return Project(root, self.python, self.logs)


def export(source: Path, ref: str | None, destination: Path) -> str:
    """Copy the project (a commit with `ref`, else the working tree's tracked and unignored files) and describe it."""
    git = ["git", "-C", str(source)]
    destination.mkdir()
    if ref:
        commit = subprocess.run([*git, "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run([*git, "archive", "--format=tar", commit], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(destination, filter="data")
        return commit[:12]
    listed = subprocess.run([*git, "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        path = source / rel
        if not (path.is_file() or path.is_symlink()):
            continue  # deleted in the working tree
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileNotFoundError):  # removed while we copied
            if path.is_symlink():
                target.symlink_to(os.readlink(path))
            else:
                shutil.copy2(path, target)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip() or "no commit"
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=normal"], capture_output=True, text=True).stdout.splitlines()
    return f"{head} + working tree ({len(dirty)} uncommitted path(s))" if dirty else head


# ---------------------------------------------------------------------------------------------------- small helpers


def wait_for(predicate: Callable[[], bool], seconds: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 10) -> int | str:
    """The status code of GET path on 127.0.0.1:port, or why there was none."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return f"no response ({type(error).__name__})"
    finally:
        connection.close()


def descendants(pid: int) -> list[int]:
    """Every live process below pid, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return -1


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def overwrite_tensors(path: Path, wanted: Callable[[str], bool], fill: bytes = b"\xff") -> int:
    """Overwrite the bytes of the safetensors tensors whose names `wanted` accepts (0xFF: NaN in float32); how many."""
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    damaged = 0
    for name, info in header.items():
        if name != "__metadata__" and wanted(name):
            begin, end = info["data_offsets"]
            data[8 + length + begin : 8 + length + end] = fill * (end - begin)
            damaged += 1
    path.write_bytes(bytes(data))
    return damaged


def finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def spread(points: list, count: int) -> list:
    """The first `count` points (all of them, and then from the start again, when count is larger)."""
    return [points[n % len(points)] for n in range(count)]


@contextmanager
def serving(project: Project, timeout: float = 120) -> Iterator[tuple[Started, int]]:
    """`gen serve --profile smoke` on a free port of 127.0.0.1, stopped as Ctrl+C would stop it."""
    port = free_port()
    server = project.start("serve", *SMOKE, "--port", str(port))
    try:
        if not wait_for(lambda: "serving a preview" in server.read() or server.process.poll() is not None, timeout, step=0.1):
            raise SetupError(f"gen serve did not start in {timeout:.0f} s: {last_line(server.read())}")
        if server.process.poll() is not None:
            raise SetupError(f"gen serve exited {server.process.returncode}: {exception_line(server.read()) or last_line(server.read())}")
        yield server, port
    finally:
        server.kill(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=15)
        server.kill()


def summaries(text: str) -> int:
    """How many builds a gen output reports as finished (its summary lines)."""
    return len(re.findall(r"^computed \d+ · fresh \d+", text, re.M))


# ---------------------------------------------------------------------------------------------------- 1. kill at random times


def kill_during_build(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """SIGKILL a forced build of 2.1 (Part B) or 1.4 on mnist (Part A) at a random moment; the last good result or the new
    one stays whole, and the next build succeeds."""
    sections = (B21_FILE, "b2_0_digit_classifier.py", "b2_3_class_conditioned.py", "a1_4_iterative_denoising.py")
    project = world.project("f1-kill", sections)
    targets = [(B21, ("--section", "2.1")), (A14, ("--section", "1.4", "--backend", "mnist"))]
    length = {}
    for key, args in targets:
        must(project.build(*args), f"the first build of {key}")
        length[key] = must(project.build("--force", *args), f"a forced build of {key}").seconds
    staged = 0
    for n in range(tries):
        key, args = targets[n % len(targets)]
        delay = rng.uniform(0.1, length[key])
        build = project.start("build", *SMOKE, "--no-site", "--force", *args)
        ended = wait_for(lambda build=build: build.process.poll() is not None, delay)
        build.kill()
        build.wait(30)
        staged += project.result(key).with_name("smoke.new").exists()
        note = " (it had finished)" if ended else ""
        problems = project.survives_kill(key) + project.rebuilds(key, args)
        tally.record(f"kill {n + 1}, {key} at {delay:.1f} s{note}", problems + world.outside.touched(n == tries - 1))
    tally.notes.append(f"{staged} of {tries} kills left a result half written (the others hit start-up, planning or the end)")


# ---------------------------------------------------------------------------------------------------- 2. kill at commit points


def kill_at_commit(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """SIGKILL 2.0 (figures and an artifact) before and after each rename and removal of its commit, and inside a removal."""
    project = world.project("f2-commit", ("b2_0_digit_classifier.py",))
    args = ("--section", "2.0")
    must(project.build(*args), "the first build of 2.0")
    trace = world.tmp / "commit-trace.txt"
    must(project.gen("build", *SMOKE, "--no-site", "--force", *args, code=KILL_HOOK, env={"GEN_ADVERSARY_KILL": f"trace:{trace}"}), "a traced build")
    calls = [re.sub(r"\.[^/ ]*\.\d+\.tmp", ".tmp", c) for c in trace.read_text().splitlines()]
    if not calls:
        raise SetupError("a forced build of 2.0 renamed nothing in cache/ or artifacts/")
    # Killed before call n+1 is killed after call n: one point between each two calls, and one inside each removal.
    points = [("before:1", f"before {calls[0]}")] + [(f"after:{n}", f"after {call}") for n, call in enumerate(calls, 1)]
    points += [(f"inside:{n}", f"inside {call}") for n, call in enumerate(calls, 1) if call.startswith("rmtree")]
    points.sort(key=interest)
    for n, (point, label) in enumerate(spread(points, tries)):
        run = project.gen("build", *SMOKE, "--no-site", "--force", *args, code=KILL_HOOK, env={"GEN_ADVERSARY_KILL": point})
        problems = [] if run.rc == -signal.SIGKILL else [f"the kill point was not reached (exit {run.rc}: {last_line(run.text)})"]
        problems += project.survives_kill(B20) + project.rebuilds(B20, args)
        tally.record(f"kill {label}", problems + world.outside.touched(n == tries - 1))


def interest(point: tuple[str, str]) -> int:
    """Half-done swaps first (the old folder moved away, the new one not yet in), then removals, then manifests written."""
    label = point[1]
    if label.startswith("after replace") and label.endswith(".old"):
        return 0
    if label.startswith("inside"):
        return 1
    return 2 if label.startswith("after") and label.endswith("manifest.json") else 3


# ---------------------------------------------------------------------------------------------------- 3. concurrent builds


def concurrent_builds(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """Two forced builds of the same result at once: both succeed, one waits, the result is whole."""
    project = world.project("f3-pairs")
    must(project.build("--section", "2.1"), "the first build of 2.1")
    waited = 0
    for n in range(tries):
        pair = [project.start("build", *SMOKE, "--no-site", "--force", "--section", "2.1") for _ in range(2)]
        runs = [build.wait(180) for build in pair]
        waited += sum("waiting for it to finish" in run.out for run in runs)
        problems = expect(runs[0], 0, "the first build") + expect(runs[1], 0, "the second build")
        if any(len(re.findall("waiting", run.out)) > 1 for run in runs):
            problems.append("a build said it was waiting more than once")
        tally.record(f"pair {n + 1}", problems + project.fresh_and_whole(B21) + world.outside.touched(n == tries - 1))
    tally.notes.append(f"{waited} of {2 * tries} builds waited for the other")


# ---------------------------------------------------------------------------------------------------- 4. serve and clean


def serve_and_clean(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """A build while `gen serve` rebuilds the same result, and `gen clean` while a build computes it: each waits its turn."""
    project = world.project("f4-serve")
    must(project.gen("build", *SMOKE, "--section", "2.1"), "the first build of 2.1")
    with serving(project) as (server, port):
        for n in range((tries + 1) // 2):
            seen = summaries(server.read())
            # A code edit makes 2.1 stale: serve rebuilds it while this build computes it too.
            with (project.root / "sections" / B21_FILE).open("a") as module:
                module.write(f"\nADVERSARY_EDIT = {n}\n")
            run = project.build("--section", "2.1")
            rebuilt = wait_for(lambda seen=seen: summaries(server.read()) > seen, 120, step=0.1)
            log = server.read()
            problems = expect(run, 0, "the build") + ([] if rebuilt else ["gen serve did not rebuild after the edit"])
            problems += [f"gen serve: {line.strip()[:160]}" for line in log.splitlines() if line.strip().startswith("✗")]
            error = exception_line(log)
            problems += [f"gen serve showed a traceback ({error})"] if error else []
            status = http_status(port, "/")
            problems += [] if status == 200 else [f"gen serve answered GET / with {status}"]
            tally.record(f"build during serve {n + 1}", problems + project.fresh_and_whole(B21) + world.outside.touched(False))
    project.slow_training()
    must(project.build("--section", "2.1"), "a build of the slower 2.1")
    for n in range(tries // 2):
        build = project.start("build", *SMOKE, "--no-site", "--force", "--section", "2.1")
        staged = wait_for(lambda: project.result(B21).with_name("smoke.new").is_dir(), 60)
        clean = project.gen("clean", "--section", "2.1", "--profile", "smoke", timeout=120)
        run = build.wait(120)
        problems = expect(run, 0, "the build") + expect(clean, 0, "gen clean") + ([] if staged else ["the build never staged (not raced)"])
        if project.result(B21).exists():
            problems += project.whole(B21)
        problems += project.leftovers(B21)
        if "waiting" not in clean.out:
            tally.notes.append(f"clean {n + 1} did not wait (the build had finished)")
        problems += project.rebuilds(B21, ("--section", "2.1"))
        tally.record(f"clean during build {n + 1}", problems + world.outside.touched(n == tries // 2 - 1))


# ---------------------------------------------------------------------------------------------------- 5. bad specs

SPEC_FIELDS = {"id": "'2.8'", "part": "'B'", "title": "'Adversary'", "template": "'adversary.md.j2'", "params": "{'scale': 1.0}"}
PART_A = {"id": "'1.98'", "part": "'A'", "backends": "['tiny']", "uses_model": "False", "prompts": "{'tiny': ['a photo']}"}
COMPUTE = "def compute(ctx):\n    import numpy as np\n\n    ctx.figure('square', np.full((8, 8), 0.5), 'a square', value_range=(0.0, 1.0))\n"
OTHER = "from generator.engine.section import Section\n\nSECTION = Section(id='2.7', part='B', title='Other', template='adversary.md.j2')\n\n\n" + COMPUTE


def spec(prelude: str = "", tail: str = "", compute: str = COMPUTE, **fields: str) -> str:
    """A section module: SPEC_FIELDS with `fields` changed (None drops a field), then `compute` and `tail`."""
    merged = {k: v for k, v in {**SPEC_FIELDS, **fields}.items() if v is not None}
    return f"from generator.engine.section import Section\n{prelude}\n\nSECTION = Section({', '.join(f'{k}={v}' for k, v in merged.items())})\n\n\n{compute}{tail}"


# (what is wrong, the module's text or bytes, what the one line must name); each must be refused with exit 2.
SPEC_VARIANTS: list[tuple[str, str | bytes, str]] = [
    ("param is a lambda", spec(params="{'f': lambda x: x}"), "params.f"),
    ("param is an object", spec(params="{'o': object()}"), "params.o"),
    ("param key is an int", spec(params="{1: 'a'}"), "params"),
    ("param is NaN", spec(params="{'x': float('nan')}"), "params.x"),
    ("param is a set", spec(params="{'x': {3}}"), "params.x"),
    ("param is bytes", spec(params="{'x': b'raw'}"), "params.x"),
    ("param is complex", spec(params="{'x': 1j}"), "params.x"),
    ("nested param key is an int", spec(params="{'x': {'y': {2: 3}}}"), "params.x"),
    ("params is a list", spec(params="[1, 2]"), "params"),
    ("params is a string", spec(params="'scale=1'"), "params"),
    ("seed is 2**32", spec(seeds="[2**32]"), "seeds[0]"),
    ("seed is -1", spec(seeds="[-1]"), "seeds[0]"),
    ("seed is 2**70", spec(seeds="[2**70]"), "seeds[0]"),
    ("seed is a string", spec(seeds="['1729']"), "seeds[0]"),
    ("seed is a float", spec(seeds="[1.5]"), "seeds[0]"),
    ("seeds is an int", spec(seeds="1729"), "seeds"),
    ("prompts as a string", spec(**{**PART_A, "prompts": "{'tiny': 'seven'}"}), "prompts.tiny"),
    ("prompt is an int", spec(**{**PART_A, "prompts": "{'tiny': [7]}"}), "prompts.tiny[0]"),
    ("prompts for an unknown backend", spec(**{**PART_A, "prompts": "{'dalle': ['a cat']}"}), "prompts"),
    ("prompts is a list", spec(**{**PART_A, "prompts": "['a cat']"}), "prompts"),
    ("input file does not exist", spec(**PART_A, inputs="{'photo': 'inputs/nope.png'}"), "inputs.photo"),
    ("unknown builtin input", spec(**PART_A, inputs="{'photo': {'tiny': 'builtin:nope'}}"), "inputs.photo"),
    ("id climbs out", spec(id="'../x'"), "id"),
    ("id has a newline", spec(id="'9.9\\n'"), "id"),
    ("id is empty", spec(id="''"), "id"),
    ("id is a word", spec(id="'intro'"), "id"),
    ("id has an empty part", spec(id="'2..8'"), "id"),
    ("id is a float", spec(id="2.8"), "id"),
    ("id is already used", spec(id="'2.7'"), "id"),
    ("template does not exist", spec(template="'nope.md.j2'"), "template"),
    ("template climbs out", spec(template="'../pyproject.toml'"), "template"),
    ("part is C", spec(part="'C'"), "part"),
    ("upstream is a string", spec(upstream="'2.7'"), "upstream"),
    ("upstream does not exist", spec(upstream="['9.9']"), "upstream"),
    ("upstream reads itself", spec(upstream="['2.8']"), "upstream"),
    ("backend does not exist", spec(**{**PART_A, "backends": "['tiny', 'dalle']"}), "backends"),
    ("profile overrides an unknown param", spec(profiles="{'smoke': {'nope': 1}}"), "profiles.smoke"),
    ("unknown profile", spec(profiles="{'huge': {'scale': 2.0}}"), "profiles"),
    ("profile param is a set", spec(profiles="{'smoke': {'scale': {3}}}"), "profiles.smoke.scale"),
    ("no compute", spec(compute=""), "compute"),
    ("compute is not a function", spec(compute="compute = 3\n"), "compute"),
    ("import raises", spec(tail="\nraise RuntimeError('adversary')\n"), "module"),
    ("sys.exit on import", spec(tail="\nimport sys\nsys.exit()\n"), "module"),
    ("KeyboardInterrupt on import", spec(tail="\nraise KeyboardInterrupt\n"), "module"),
    ("syntax error", spec(tail="\ndef broken(:\n"), "zz_adversary.py"),
    ("imports a missing module", spec(prelude="import gen_adversary_no_such_module"), "zz_adversary.py"),
    ("not UTF-8", spec().encode() + b"\nNOTE = '\xff\xfe'\n", "zz_adversary.py"),
    ("no SECTION", COMPUTE, "zz_adversary.py"),
    ("SECTION is a dict", "SECTION = {'id': '2.8'}\n\n\n" + COMPUTE, "SECTION"),
    ("unknown field", spec(colour="'red'"), "zz_adversary.py"),
]


def one_error(run: Run, names: str) -> list[str]:
    """Exit 2 with one error message on stderr (wrapped at the console's width at most), naming `names`, no traceback."""
    problems = expect(run, 2, "gen build")
    message = " ".join(run.err.split())
    if message.count("error:") != 1 or not message.startswith("error:"):
        problems.append(f"not one error line: {message[:160] or last_line(run.out)}")
    elif names not in message:
        problems.append(f"the error does not name {names}: {message[:160]}")
    if len(run.err.strip().splitlines()) > max(1, math.ceil(len(message) / 150)):
        problems.append(f"{len(run.err.strip().splitlines())} lines on stderr for a {len(message)}-character message")
    extra = [line for line in run.out.splitlines() if line.strip() and not line.startswith("gen build ·")]
    return problems + ([f"stdout: {extra[0][:160]}"] if extra else [])


def bad_specs(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """Each bad spec (and bad [tool.gen] table) is one line naming the file and the field, exit 2, nothing computed."""
    project = world.project("f5-specs", sections=())
    (project.root / "sections" / "zz_other.py").write_text(OTHER)
    module = project.root / "sections" / "zz_adversary.py"
    module.write_text(spec())
    must(project.build(), "a build with the valid base spec")  # the variants differ from a spec that builds
    shutil.rmtree(project.root / "cache")
    pyproject = (project.root / "pyproject.toml").read_text()
    variants: list[tuple[str, str | bytes, str, str]] = [(label, text, names, "sections/zz_adversary.py") for label, text, names in SPEC_VARIANTS]
    variants.append(("pyproject.toml is not TOML", pyproject.replace("[tool.gen]", "[tool.gen", 1), "pyproject.toml", "pyproject.toml"))
    chosen = spread(variants, tries)
    for n, (label, text, names, rel) in enumerate(chosen):
        path = project.root / rel
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        run = project.gen("build", *SMOKE, "--no-site", split=True, timeout=120)
        problems = one_error(run, names)
        if (project.root / "cache").exists():
            problems.append("it computed results")
            shutil.rmtree(project.root / "cache")
        tally.record(label, problems + world.outside.touched(n == len(chosen) - 1))
        module.write_text(spec())
        (project.root / "pyproject.toml").write_text(pyproject)


# ---------------------------------------------------------------------------------------------------- 6. injection

PAYLOADS = [
    ("<script>", "<script>alert(101)</script>", "101"),
    ("onerror attribute", '<img src=x onerror="alert(102)">', "102"),
    ("markdown javascript: link", "[click](javascript:alert(103)) ![x](javascript:alert(103))", "103"),
    ("jinja", "{{ 7*7 }} {% raw %} {{ alert(104) }}", "104"),
    ("MathJax \\href", "$\\href{javascript:alert(105)}{x}$ \\(\\href{javascript:alert(105)}{y}\\)", "105"),
]


def injection(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """Hostile prompts become captions, headings and tab labels; in headless Chromium nothing runs and all shows verbatim."""
    chromium = Path("/usr/bin/chromium")  # tests/browser_check.py launches this one
    if not chromium.is_file():
        tally.notes.append("skipped: Chromium is not installed (apt-get install chromium)")
        return
    project = world.project("f6-inject", sections=())
    prompts = [payload for _, payload, _ in PAYLOADS]
    (project.root / "sections" / "a1_98_payloads.py").write_text(
        "from generator.engine.section import Section\n\n"
        f"SECTION = Section(id='1.98', part='A', title='Payloads', template='adversary.md.j2', backends=['tiny'], uses_model=False,\n"
        f"                  prompts={{'tiny': {prompts!r}}})\n\n\n"
        "def compute(ctx):\n    import numpy as np\n\n"
        "    for prompt in ctx.prompts:\n        ctx.figure(prompt, np.full((8, 8), 0.5), prompt, value_range=(0.0, 1.0))\n")
    must(project.gen("build", *SMOKE, "--backend", "tiny"), "the build of the payload page")
    check = [str(project.root / "tests" / "browser_check.py"), str(project.root / "site")]
    # In a network namespace of its own (loopback only) where the system allows one, as the test suite runs it.
    isolated = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0 if shutil.which("unshare") else False
    command = (["unshare", "-n"] if isolated else []) + [world.python, *check]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=project.root, env={**os.environ, **ENV})
        report = json.loads(result.stdout)
    except (subprocess.TimeoutExpired, ValueError) as error:
        raise SetupError(f"tests/browser_check.py gave no report ({type(error).__name__}): {last_line(getattr(error, 'stderr', '') or '')}") from None
    page, home = report["pages"].get("part-a/1.98"), report["pages"].get(".", {})
    if page is None:
        raise SetupError(f"the payload page is not in the site: {sorted(report['pages'])}")
    facts = [page, page.get("lightbox", {}), home]
    chosen = PAYLOADS[:tries]
    outside = world.outside.touched()
    for n, (label, payload, marker) in enumerate(chosen):
        made = [f"{kind} {value}"[:120] for f in facts for kind in ("jsUrls", "handlers", "userScripts", "userElements")
                for value in f.get(kind, []) if f"alert({marker})" in str(value)]
        problems = [f"became live: {made[0]}"] if made else []
        problems += [f"a dialog opened: {d}" for d in report["dialogs"] if marker in d]
        if payload not in page["figcaptions"]:
            problems.append(f"the caption is not shown verbatim: {[c for c in page['figcaptions'] if marker in c][:1]}")
        if "href" in label and page["mathjax"] != page["arithmatex"]:
            problems.append(f"math typeset from user text ({page['mathjax']} typeset, {page['arithmatex']} marked)")
        tally.record(label, problems + (outside if n == len(chosen) - 1 else []))
    tally.notes.append(f"browser check {'in a network namespace' if isolated else 'on loopback'}; {len(report['external_requests'])} request(s) left 127.0.0.1")


# ---------------------------------------------------------------------------------------------------- 7. damaged figures


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def damaged_figures(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """A truncated, deleted or bit-flipped figure: `gen status` names it, and a plain build recomputes the result."""
    project = world.project("f7-figures")
    must(project.build("--section", "2.1"), "the first build of 2.1")
    damages = [("truncated", lambda p: os.truncate(p, 20), "damaged"), ("deleted", Path.unlink, "missing"), ("bit-flipped", flip_byte, "damaged")]
    for n in range(tries):
        kind, damage, word = damages[n % len(damages)]
        figures = (project.manifest(B21) or {}).get("figures", [])
        if not figures:
            raise SetupError("2.1 has no figures in its manifest")
        name = figures[n % len(figures)]["file"]
        damage(project.result(B21) / name)
        row = project.row(B21)
        problems = [] if row and f"{word}: {name}" in row["reasons"] and row["state"] == "stale" else [f"gen status says {row and (row['state'], row['reasons'])}"]
        run = project.build("--section", "2.1")
        problems += expect(run, 0, "the next build") + ([] if "computed 1" in run.out else [f"the build did not recompute: {last_line(run.out)}"])
        tally.record(f"{kind} {name}", problems + project.fresh_and_whole(B21) + world.outside.touched(n == tries - 1))


# ---------------------------------------------------------------------------------------------------- 8. killed worker


def killed_worker(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """--jobs 2 and the busy worker process killed: one sentence, exit 1, the last result whole, the next build fine."""
    project = world.project("f8-worker")
    project.slow_training()
    must(project.build("--section", "2.1"), "the first build of 2.1")
    for n in range(tries):
        before = project.manifest(B21)
        build = project.start("build", *SMOKE, "--no-site", "--force", "--jobs", "2", "--section", "2.1")
        staged = wait_for(lambda: project.result(B21).with_name("smoke.new").is_dir(), 60)
        time.sleep(1.0)  # into the compute
        workers = [pid for pid in descendants(build.process.pid) if "multiprocessing" in cmdline(pid) and "resource_tracker" not in cmdline(pid)]
        if not staged or not workers:
            build.wait(120)
            raise SetupError(f"no worker process to kill (staged: {staged}, workers: {workers})")
        victim = max(workers, key=cpu_ticks)
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        run = build.wait(120)
        problems = expect(run, 1, "the build")
        failures = [line.strip() for line in run.out.splitlines() if line.strip().startswith("✗")]
        if len(failures) != 1:
            problems.append(f"{len(failures)} failure lines: {failures[:2]}")
        if project.manifest(B21) != before:
            problems.append("the last good manifest changed")
        problems += project.whole(B21) + project.leftovers(B21)
        problems += expect(project.build("--force", "--jobs", "2", "--section", "2.1"), 0, "the next build") + project.fresh_and_whole(B21)
        tally.record(f"worker killed {n + 1}" + (f" ({failures[0][:100]})" if len(failures) == 1 else ""), problems + world.outside.touched(n == tries - 1))


# ---------------------------------------------------------------------------------------------------- 9. damaged data


def damaged_data(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """A copy of data/mnist with a flipped byte, a truncated file or a wrong magic number: Part B stops in one sentence."""
    source = world.source / "data" / "mnist"
    if not (source / "train-images.idx3-ubyte").is_file():
        tally.notes.append(f"skipped: {source} holds no official MNIST split (scripts/setup fetches it)")
        return
    project = world.project("f9-data")
    data = project.root / "data" / "mnist"
    shutil.copytree(source, data)
    must(project.build("--section", "2.1", timeout=300), "the first build of 2.1 on the official split")
    damages = [
        ("a flipped byte", "train-images.idx3-ubyte", flip_byte),
        ("a truncated file", "train-labels.idx1-ubyte", lambda p: os.truncate(p, p.stat().st_size // 2)),
        ("a wrong magic number", "t10k-images.idx3-ubyte", lambda p: p.write_bytes(b"\x00\x00\x09\x09" + p.read_bytes()[4:])),
    ]
    for n in range(tries):
        label, name, damage = damages[n % len(damages)]
        before = project.manifest(B21)
        damage(data / name)
        run = project.build("--section", "2.1", timeout=300)
        problems = expect(run, 1, "the build")
        failures = [line.strip() for line in run.out.splitlines() if line.strip().startswith("✗")]
        if len(failures) != 1 or name not in " ".join(run.out.split()):
            problems.append(f"not one sentence naming {name}: {failures[:2] or last_line(run.out)}")
        if project.manifest(B21) != before or project.whole(B21):
            problems.append("the last good result changed")
        shutil.copy2(source / name, data / name)
        tally.record(f"{label} in {name}", problems + world.outside.touched(n == tries - 1))


# ---------------------------------------------------------------------------------------------------- 10. issue 18's findings


def new_findings(world: World, tally: Tally, tries: int, rng: random.Random) -> None:
    """Issue 18's findings, each a check that turns to survived when its fix lands."""
    project = world.project("f10-findings")
    must(project.gen("build", *SMOKE, "--section", "2.1"), "the first build of 2.1")
    slow = world.project("f10-training")
    slow.slow_training()
    must(slow.build("--section", "2.1"), "the first build of the slower 2.1")
    checks = [half_swap_new, half_swap_old, manifest_absolute, manifest_climbing, figure_links, clean_through_link, serve_null_byte,
              serve_long_path, damaged_checkpoint, damaged_rng, jobs_identical, jobs_identical_default_threads, sigint, section_timeout]
    for check in checks[:tries]:
        label = (check.__doc__ or check.__name__).split("\n")[0].rstrip(".")
        target = slow if check in (damaged_checkpoint, damaged_rng, sigint) else project
        try:
            problems = check(world, target)
        except SetupError as error:
            problems = [f"setup: {error}"]
        tally.record(label, problems + world.outside.touched())


def half_swap_new(world: World, project: Project) -> list[str]:
    """A swap killed after the old folder went, before the new one moved in, shows as interrupted, not missing."""
    final = project.result(B21)
    final.rename(final.with_name("smoke.new"))
    return interrupted_then_finished(project)


def half_swap_old(world: World, project: Project) -> list[str]:
    """A swap killed with the old result in smoke.old and the new one whole in smoke.new shows as interrupted, not missing."""
    final = project.result(B21)
    shutil.copytree(final, final.with_name("smoke.new"))
    final.rename(final.with_name("smoke.old"))
    return interrupted_then_finished(project)


def interrupted_then_finished(project: Project) -> list[str]:
    before = sorted((str(p), p.stat().st_mtime_ns) for p in (project.root / "cache").rglob("*"))
    row = project.row(B21)
    words = f"{row['state']} {' '.join(row['reasons'])}" if row else "no row"
    problems = [] if "interrupted" in words and row and row["state"] != "missing" else [f"gen status says {words!r}"]
    if sorted((str(p), p.stat().st_mtime_ns) for p in (project.root / "cache").rglob("*")) != before:
        problems.append("gen status changed cache/")
    run = project.build("--section", "2.1")
    return problems + expect(run, 0, "the next build") + ([] if "computed 0" in run.out else ["the next build recomputed it"]) + project.fresh_and_whole(B21)


def poisoned_manifest(world: World, project: Project, name: str, sentinel: str) -> list[str]:
    """Name `name` as a figure of 2.1, with the size and hash of the sentinel it leads to; nothing may open it."""
    manifest_path = project.result(B21) / MANIFEST
    good = manifest_path.read_bytes()
    manifest = json.loads(good)
    data = world.outside.files[sentinel]
    manifest["figures"][0].update(file=name, bytes=len(data), sha256=sha256(data))
    manifest_path.write_text(json.dumps(manifest, indent=2))
    world.outside.touched()
    (project.root / "site" / ".gen-stamp").unlink(missing_ok=True)  # so that MkDocs publishes again
    runs = [(project.gen("status", *SMOKE), "gen status"), (project.gen("build", *SMOKE, "--section", "2.1"), "gen build")]
    problems = [p for run, what in runs for p in expect(run, (0, 1), what)]
    problems += world.outside.touched()
    problems += published(project, world.outside.files[sentinel])
    must(project.build("--force", "--section", "2.1"), "a forced build to restore 2.1")
    return problems


def published(project: Project, *contents: bytes) -> list[str]:
    """Files of site/ that hold any of `contents`, or are links leading out of the project."""
    found = []
    for path in project.figures_of_site():
        if path.is_symlink():
            if project.root.resolve() not in path.resolve().parents:
                found.append(f"site/{path.relative_to(project.root / 'site')} is a link out of the project")
        elif path.stat().st_size in {len(c) for c in contents} and path.read_bytes() in contents:
            found.append(f"published {path.relative_to(project.root)} with the bytes of a file outside the project")
    return found


def manifest_absolute(world: World, project: Project) -> list[str]:
    """A manifest figure named by an absolute path outside (as /etc/hostname) is not opened."""
    return poisoned_manifest(world, project, str(world.outside.path("hostname")), "hostname")


def manifest_climbing(world: World, project: Project) -> list[str]:
    """A manifest figure named ../../../… out of the project (as ../../../../etc/passwd) is not opened."""
    climb = os.path.relpath(world.outside.path("passwd"), project.result(B21))
    return poisoned_manifest(world, project, climb, "passwd")


def figure_links(world: World, project: Project) -> list[str]:
    """A link in cache/ to /etc/passwd (or to a file beside the project) is not published."""
    folder = project.result(B21)
    links = [(folder / "evil.png", Path("/etc/passwd")), (folder / "evil-sentinel.png", world.outside.path("passwd"))]
    for link, target in links:
        link.symlink_to(target)
    world.outside.touched()
    (project.root / "site" / ".gen-stamp").unlink(missing_ok=True)  # so that MkDocs publishes again
    run = project.gen("build", *SMOKE, "--section", "2.1")
    problems = expect(run, (0, 1), "gen build") + world.outside.touched()
    problems += published(project, Path("/etc/passwd").read_bytes(), world.outside.files["passwd"])
    for link, _ in links:
        link.unlink(missing_ok=True)
    return problems


def clean_through_link(world: World, project: Project) -> list[str]:
    """`gen clean` through a cache/2.1 that links out of the project deletes nothing there."""
    section = project.root / "cache" / "2.1"
    stash = world.tmp / "f10-stash-2.1"
    section.rename(stash)
    section.symlink_to(world.outside.path("victim/2.1"))
    world.outside.touched()
    run = project.gen("clean", "--section", "2.1")
    problems = expect(run, (0, 1), "gen clean") + world.outside.touched()
    if section.is_symlink():
        section.unlink()
    elif section.exists():
        shutil.rmtree(section)
    stash.rename(section)
    return problems


def serve_request(world: World, project: Project, path: str) -> list[str]:
    with serving(project) as (server, port):
        status = http_status(port, path)
        after = http_status(port, "/")
        time.sleep(0.3)
        log = server.read()
    problems = [] if isinstance(status, int) and 400 <= status < 500 else [f"answered {status}, not a 4xx"]
    problems += [] if after == 200 else [f"GET / afterwards answered {after}"]
    error = exception_line(log)
    return problems + ([f"gen serve showed a traceback ({error})"] if error else [])


def serve_null_byte(world: World, project: Project) -> list[str]:
    """`gen serve` answers GET /%00/etc/passwd with a 4xx and no traceback."""
    return serve_request(world, project, "/%00/etc/passwd")


def serve_long_path(world: World, project: Project) -> list[str]:
    """`gen serve` answers a 10,000-character path with a 4xx and no traceback."""
    return serve_request(world, project, "/" + "a" * 10_000)


def kill_after_first_epoch(project: Project) -> list[Path]:
    """Start a forced build of 2.1 and SIGKILL it once its first epoch's checkpoint is written; the checkpoints left."""
    build = project.start("build", *SMOKE, "--no-site", "--force", "--section", "2.1")
    written = wait_for(lambda: any(p.name == "epoch-001.safetensors" for p in project.work_checkpoints()) or build.process.poll() is not None, 120, step=0.01)
    build.kill()
    build.wait(30)
    checkpoints = project.work_checkpoints()
    if not written or not checkpoints:
        raise SetupError(f"no checkpoint to damage: {last_line(build.read())}")
    return checkpoints


def resumed_result(project: Project, attempts: int) -> tuple[list[Run], list[str]]:
    """Forced builds (which resume from the checkpoints) until one succeeds, at most `attempts`; why the result is bad."""
    runs = []
    for _ in range(attempts):
        runs.append(project.build("--force", "--section", "2.1"))
        if runs[-1].rc == 0:
            break
    manifest = project.manifest(B21) or {}
    problems = [] if finite(manifest.get("metrics", {})) else [f"a result with non-finite metrics: {manifest.get('metrics')}"]
    return runs, problems


def damaged_checkpoint(world: World, project: Project) -> list[str]:
    """A checkpoint whose weights were overwritten (NaN bytes) after a kill never yields a fresh NaN result."""
    for path in kill_after_first_epoch(project):
        overwrite_tensors(path, lambda name: name.startswith(("model.", "ema.")))
    runs, problems = resumed_result(project, 1)
    problems += expect(runs[-1], (0, 1), "the next build")
    if runs[-1].rc == 1:
        problems += project.whole(B21)  # it refused: the last good result stands
    problems += expect(project.build("--force", "--section", "2.1"), 0, "the build after")
    forget_checkpoints(project)
    return problems


def damaged_rng(world: World, project: Project) -> list[str]:
    """A checkpoint whose RNG state was overwritten does not fail every later build."""
    for path in kill_after_first_epoch(project):
        overwrite_tensors(path, lambda name: name == "rng")
    runs, problems = resumed_result(project, 2)
    if all(run.rc != 0 for run in runs):
        failures = [line.strip() for line in runs[-1].out.splitlines() if line.strip().startswith("✗")]
        problems.append(f"{len(runs)} builds in a row failed: {(failures or [last_line(runs[-1].text)])[0]}")
    forget_checkpoints(project)
    return problems + [p for run in runs for p in expect(run, (0, 1), "a later build")]


def forget_checkpoints(project: Project) -> None:
    """Remove what a damaged training left, so that the next check starts from a clean work folder."""
    shutil.rmtree(project.root / "artifacts" / ".work" / "2.1", ignore_errors=True)


def same_results(project: Project, env: dict[str, str | None]) -> list[str]:
    """2.1 built with --jobs 1 and then --jobs 2 gives the same figures and metrics."""
    outcomes = []
    for jobs in ("1", "2"):
        must(project.build("--force", "--jobs", jobs, "--section", "2.1", env=env), f"a build with --jobs {jobs}")
        manifest = project.manifest(B21) or {}
        outcomes.append(({f["file"]: f["sha256"] for f in manifest.get("figures", [])}, manifest.get("metrics")))
    (one_figures, one_metrics), (two_figures, two_metrics) = outcomes
    problems = [f"{name} differs" for name in sorted(one_figures) if one_figures[name] != two_figures.get(name)]
    differing = sorted(k for k in set(one_metrics or {}) | set(two_metrics or {}) if (one_metrics or {}).get(k) != (two_metrics or {}).get(k))
    return problems + ([f"metrics differ: {', '.join(differing[:3])}"] if differing else [])


def jobs_identical(world: World, project: Project) -> list[str]:
    """--jobs 2 gives the same 2.1 figures and metrics as --jobs 1 (OMP_NUM_THREADS=1)."""
    return same_results(project, {})


def jobs_identical_default_threads(world: World, project: Project) -> list[str]:
    """--jobs 2 gives the same 2.1 figures and metrics as --jobs 1 (OMP_NUM_THREADS unset, as a user runs it)."""
    return same_results(project, {"OMP_NUM_THREADS": None})


def sigint(world: World, project: Project) -> list[str]:
    """SIGINT (Ctrl+C) during a build exits 130 with one line and keeps the last good result."""
    before = project.manifest(B21)
    build = project.start("build", *SMOKE, "--no-site", "--force", "--section", "2.1")
    if not wait_for(lambda: project.result(B21).with_name("smoke.new").is_dir(), 60):
        build.wait(60)
        raise SetupError("the build never staged")
    time.sleep(1.0)
    build.kill(signal.SIGINT)
    run = build.wait(60)
    problems = expect(run, 130, "the interrupted build")
    if "KeyboardInterrupt" in run.out:
        problems.append("it printed KeyboardInterrupt")
    if project.manifest(B21) != before:
        problems.append("the last good manifest changed")
    return problems + project.whole(B21) + project.leftovers(B21)


def section_timeout(world: World, project: Project) -> list[str]:
    """A section that never returns trips [tool.gen] section_timeout; the others still build."""
    pyproject = project.root / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace("[tool.gen]\n", "[tool.gen]\nsection_timeout = 3\n", 1))
    hang = project.root / "sections" / "zz_hang.py"
    hang.write_text(spec(id="'2.9'", compute="def compute(ctx):\n    import time\n\n    while True:\n        time.sleep(0.2)\n"))
    try:
        run = project.build(timeout=45)
    finally:
        hang.unlink()
        pyproject.write_text(original)
    problems = expect(run, 1, "the build")
    failures = [line.strip() for line in run.out.splitlines() if line.strip().startswith("✗")]
    if run.rc is not None and not any("2.9" in line for line in failures):
        problems.append(f"no failure line for 2.9: {last_line(run.out)}")
    return problems + project.fresh_and_whole(B21)


# ---------------------------------------------------------------------------------------------------- main

# number: (name, run, default tries, tries with --quick)
FAMILIES: dict[int, tuple[str, Callable[[World, Tally, int, random.Random], None], int, int]] = {
    1: ("1 kill during build", kill_during_build, 13, 2),
    2: ("2 kill at commit points", kill_at_commit, 10, 2),
    3: ("3 concurrent builds", concurrent_builds, 10, 1),
    4: ("4 serve and clean", serve_and_clean, 4, 2),
    5: ("5 bad specs", bad_specs, len(SPEC_VARIANTS) + 1, 2),
    6: ("6 injection", injection, len(PAYLOADS), len(PAYLOADS)),
    7: ("7 damaged figures", damaged_figures, 3, 1),
    8: ("8 killed worker", killed_worker, 2, 1),
    9: ("9 damaged data", damaged_data, 3, 1),
    10: ("10 issue 18 findings", new_findings, 14, 2),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one or two tries of each family")
    parser.add_argument("--family", type=int, action="append", choices=sorted(FAMILIES), help="run only these families (repeatable)")
    parser.add_argument("--project", type=Path, default=REPO, help="the gen project to copy (default: this repository)")
    parser.add_argument("--ref", help="copy this commit instead of the working tree")
    parser.add_argument("--seed", type=int, default=18, help="seed of the random kill times")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (its logs/ hold every gen output)")
    options = parser.parse_args(argv)
    started = time.monotonic()
    world = World(options.project.resolve(), options.ref)
    print(f"gen adversary · {world.commit} · scratch {world.tmp} · seed {options.seed}{' · quick' if options.quick else ''}", flush=True)
    tallies = []
    try:
        for number in sorted(set(options.family or FAMILIES)):
            name, run, tries, quick = FAMILIES[number]
            tally = Tally(name)
            begun = time.monotonic()
            try:
                run(world, tally, quick if options.quick else tries, random.Random(options.seed * 100 + number))
            except SetupError as error:
                tally.record("setup", [str(error)])
            tally.seconds = time.monotonic() - begun
            tallies.append(tally)
            print(tally.line(), flush=True)
            for loss in tally.losses:
                print(f"  lost: {loss}", flush=True)
            for note in tally.notes:
                print(f"  note: {note}", flush=True)
    finally:
        for started_process in RUNNING:
            started_process.kill()
        world.outside.close()
        if not options.keep:
            shutil.rmtree(world.tmp, ignore_errors=True)
    tried, lost = sum(t.tried for t in tallies), sum(len(t.losses) for t in tallies)
    print(f"total: tried {tried} · survived {tried - lost} · lost {lost} · wall {time.monotonic() - started:.0f} s", flush=True)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
