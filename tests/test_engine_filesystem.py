"""File-system errors outside a section's compute: one sentence naming the path and what to do, exit 1, the other
results still built; and `gen status` only reads."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from conftest import gen_env


def _read_only_works() -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp && ! touch /tmp/.gen-ro-probe"],
                           capture_output=True)
    return probe.returncode == 0


needs_read_only = pytest.mark.skipif(not _read_only_works(), reason="needs `unshare -rm` to mount a folder read-only")


def read_only(*folders) -> tuple[str, ...]:
    """A command prefix that runs the command with `folders` mounted read-only (in a private mount namespace)."""
    mounts = " && ".join(f"mount --bind {shlex.quote(str(f))} {shlex.quote(str(f))} && mount -o remount,bind,ro {shlex.quote(str(f))}" for f in folders)
    return ("unshare", "-rm", "sh", "-c", f'{mounts} && exec "$@"', "sh")


def one_line(result, text: str) -> str:
    """The one line of the output that carries `text`; no traceback anywhere."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if text in line]
    assert len(lines) == 1, output
    return lines[0]


@needs_read_only
def test_a_read_only_result_folder_with_force_is_one_sentence_and_the_rest_still_builds(project):
    project.gen("build", "--no-site")
    result = project.gen("build", "--no-site", "--force", check=1, wrapper=read_only(project.root / "cache/2.1"))
    line = one_line(result, "cache/2.1/none/quick.new")
    assert "cannot create cache/2.1/none/quick.new: the file system is read-only; make cache/ writable and build again" in line
    assert "computed 1 · fresh 0 · failed 2" in result.stdout  # 2.3 built; 2.2 reads 2.1, so it waits for a good 2.1


@needs_read_only
def test_a_read_only_cache_with_a_stray_staging_folder(project):
    project.gen("build", "--no-site", "--profile", "smoke")
    project.write("cache/2.1/none/smoke.new/half.png", "half")
    cache = project.root / "cache"
    status = project.gen("status", "--profile", "smoke", wrapper=read_only(cache))
    assert "Traceback" not in status.stdout + status.stderr and "fresh" in status.stdout
    result = project.gen("build", "--no-site", "--profile", "smoke", check=1, wrapper=read_only(cache))
    line = one_line(result, "smoke.new")
    assert "cannot remove the leftover of an interrupted build cache/2.1/none/smoke.new: the file system is read-only; make cache/ writable" in line
    assert "computed 0 · fresh 3 · failed 1" in result.stdout
    assert (cache / "2.1/none/smoke.new/half.png").is_file()


# A build whose fsync fails as a full disk fails it, for the manifest of 2.1 only.
DISK_FULL = """
import errno, os, sys
real_fsync = os.fsync
def fsync(fd):
    if "/2.1/none/quick.new/.manifest.json" in os.readlink(f"/proc/self/fd/{fd}"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    real_fsync(fd)
os.fsync = fsync
from generator.cli import main
sys.argv = ["gen", *sys.argv[1:]]
main()
"""


def test_a_full_disk_while_writing_the_manifest_keeps_the_last_result_and_leaves_nothing_behind(project):
    project.gen("build", "--no-site")
    manifest = project.root / "cache/2.1/none/quick/manifest.json"
    before = manifest.read_bytes()
    for name in ("b1", "b3"):
        source = project.root / f"sections/{name}.py"
        source.write_text(source.read_text().replace("params={'scale'", "params={'offset': 1, 'scale'"))
    result = subprocess.run([sys.executable, "-c", DISK_FULL, "build", "--no-site"], cwd=project.root, capture_output=True, text=True, env=gen_env(), timeout=120)
    assert result.returncode == 1
    line = one_line(result, "disk is full")
    assert "cannot write cache/2.1/none/quick.new/manifest.json: the disk is full; free some space and build again" in line
    assert "computed 1" in result.stdout  # 2.3; 2.2 reads 2.1, so it waits for a good 2.1
    assert manifest.read_bytes() == before
    assert not list(project.root.glob("cache/**/.*.tmp")) and not list(project.root.glob("cache/*/*/*.new"))


@pytest.mark.parametrize("leftover", ["quick.new", "quick.old"])
def test_a_plain_file_where_a_result_folder_belongs_is_one_sentence(project, leftover):
    project.gen("build", "--no-site")
    project.write(f"cache/2.1/none/{leftover}", "not a folder")
    assert "Traceback" not in project.gen("status").stderr
    result = project.gen("build", "--no-site", "--force", check=1)
    line = one_line(result, leftover)
    assert f"cache/2.1/none/{leftover} is a file where gen keeps a folder; remove it and build again" in line
    assert "computed 1 · fresh 0 · failed 2" in result.stdout  # 2.3 built; 2.2 reads 2.1, so it waits for a good 2.1


@needs_read_only
def test_a_page_that_cannot_be_written_is_one_sentence(project):
    project.gen("build", "--no-site")
    project.write("templates/page.md.j2", (project.root / "templates/page.md.j2").read_text().replace("value =", "the value is"))
    result = project.gen("build", "--no-site", check=1, wrapper=read_only(project.root / "docs/part-b"))
    assert "cannot write docs/part-b/2.1.md: the file system is read-only; make docs/ writable and build again" in one_line(result, "2.1.md")


def test_status_only_reads(project):
    project.gen("build", "--no-site")
    project.write("cache/2.1/none/quick.new/half.png", "half")
    project.write("cache/2.3/none/quick.old/manifest.json", "{}")
    (project.root / "cache/2.2/none/quick/square.png").write_bytes(b"damaged")
    before = {path: path.stat().st_mtime_ns for path in project.root.rglob("*")}
    out = project.gen("status").stdout
    assert "damaged: square.png" in out
    assert {path: path.stat().st_mtime_ns for path in project.root.rglob("*")} == before
