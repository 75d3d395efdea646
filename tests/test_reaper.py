"""The reaper a warm kernel's namespace init becomes: the C one (`make install`) and the Python one do the same."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_processes import until

from autograder.isolation.confine import COMPILED_REAPER, REAPER, compiled_reaper

PYTHON_REAPER = [sys.executable, "-I", "-S", "-c", REAPER]

# Forks CHILDREN children that exit after a moment, then becomes the reaper (the rest of argv) with the pipe fd given,
# as the namespace's init is: its children are orphans it must reap.
WITH_CHILDREN = r"""
import os, sys, time
children, reaper = int(sys.argv[1]), sys.argv[2:]
for _ in range(children):
    if os.fork() == 0:
        time.sleep(0.2)
        os._exit(3)
print(os.getpid(), flush=True)
os.execv(reaper[0], reaper)
"""

# Starts the reaper with the pipe fd it was given (as the init server does), prints the reaper's pid, and waits for
# EOF on stdin (or to be killed).
PARENT = r"""
import subprocess, sys
read, reaper = int(sys.argv[1]), sys.argv[2:]
started = subprocess.Popen([*reaper, str(read)], pass_fds=[read])
print(started.pid, flush=True)
sys.stdin.read()
"""


def reapers() -> list[pytest.param]:
    compiled = compiled_reaper()
    return [
        pytest.param(PYTHON_REAPER, id="python"),
        pytest.param(
            [compiled] if compiled else None,
            id="compiled",
            marks=pytest.mark.skipif(compiled is None, reason="no C compiler: `make install` built no autograder-reaper"),
        ),
    ]


def spawn(reaper: list[str], *, parent_alive: bool = True, **options: object) -> tuple[subprocess.Popen, int | None]:
    """The reaper, run from here with a pipe whose write end we keep (or close first: as if we had died before it asked)."""
    read, write = os.pipe()
    if not parent_alive:
        os.close(write)
    extra = options.pop("pass_fds", ())
    process = subprocess.Popen([*reaper, str(read)], pass_fds=[read, *extra], **options)
    os.close(read)
    return process, write if parent_alive else None


def state(pid: int) -> str:
    """A process's state letter (Z: a zombie nobody reaped), or "gone"."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("\nState:", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def test_make_install_builds_the_compiled_reaper_where_a_compiler_is() -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here: the Python reaper is used")
    assert compiled_reaper() == os.path.join(os.path.dirname(sys.executable), COMPILED_REAPER)


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_reaps_its_children_and_outlives_them(reaper: list[str]) -> None:
    """The init of a kernel's namespace: every orphan reaped (no zombie left), and it waits on until it is killed."""
    read, write = os.pipe()
    process = subprocess.Popen([sys.executable, "-c", WITH_CHILDREN, "3", *reaper, str(read)], pass_fds=[read], stdout=subprocess.PIPE)
    os.close(read)
    try:
        assert int(process.stdout.readline()) == process.pid
        children = lambda: [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        assert until(lambda: state(process.pid) != "gone" and Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(reaper[0].encode()))
        assert until(lambda: not children()), f"children left: {[(pid, state(pid)) for pid in children()]}"
        time.sleep(0.2)
        assert process.poll() is None
    finally:
        process.kill()
        os.close(write)
    assert process.wait(timeout=20) == -signal.SIGKILL


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_exits_at_once_if_the_zygote_died_before_it_could_ask(reaper: list[str]) -> None:
    process, _ = spawn(reaper, parent_alive=False)
    assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_ends_when_the_zygote_does(reaper: list[str]) -> None:
    """Its pipe's writer (the zygote) gone, it exits, and its namespace with it."""
    process, write = spawn(reaper)
    try:
        assert until(lambda: Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(reaper[0].encode()))
        time.sleep(0.1)
        assert process.poll() is None
    finally:
        os.close(write)
    assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_outlives_its_parent_while_the_zygote_lives(reaper: list[str]) -> None:
    """Its parent is the init server, which may die or be replaced while kernels run: they must not go with it."""
    read, write = os.pipe()
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(read), *reaper], pass_fds=[read], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    os.close(read)
    try:
        pid = int(parent.stdout.readline())
        assert until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().startswith(reaper[0].encode()))
        parent.kill()
        parent.wait(timeout=20)
        time.sleep(0.2)
        assert state(pid) not in ("gone", "Z"), "the reaper died with its parent"
    finally:
        parent.kill()
        os.close(write)
    assert until(lambda: state(pid) in ("gone", "Z")), "the reaper outlived the zygote's pipe"


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_keeps_no_fd_but_its_standard_streams_and_its_pipe(reaper: list[str]) -> None:
    extra_read, extra_write = os.pipe()
    process, write = spawn(reaper, pass_fds=[extra_read])
    watched = process.args[-1]
    extra = os.readlink(f"/proc/self/fd/{extra_read}")

    def inherited() -> list[str]:  # what it holds of ours (not its own signal fd or wake-up pipe)
        fds = sorted(os.listdir(f"/proc/{process.pid}/fd"), key=int)
        return [fd for fd in fds if int(fd) <= 2 or fd == watched or os.readlink(f"/proc/{process.pid}/fd/{fd}") == extra]

    try:
        running = lambda: Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(reaper[0].encode())
        assert until(lambda: running() and inherited() == ["0", "1", "2", watched]), inherited()
    finally:
        process.kill()
        process.wait(timeout=20)
        for fd in (extra_read, extra_write, write):
            os.close(fd)


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_with_arguments_it_cannot_use_exits_1(reaper: list[str]) -> None:
    """No fd, one not open, one that is not a number, or more than one."""
    for arguments in ([], ["999"], ["not-an-fd"], ["0", "1"]):
        assert subprocess.run([*reaper, *arguments], timeout=20, stdin=subprocess.DEVNULL).returncode == 1, arguments


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_makes_itself_undumpable(reaper: list[str]) -> None:
    """Its /proc entries become root's whatever its uid (65534 when run by root): no ptrace and no /proc/N/fd into it."""
    root = os.geteuid() == 0
    if root and not reachable_by_others(reaper[0]):
        pytest.skip(f"{reaper[0]} cannot be run by another uid here (the sandbox binds the interpreter's tree for it)")
    process, write = spawn(reaper, **({"user": 65534, "group": 65534, "extra_groups": []} if root else {}))
    try:
        expected_uid = "65534" if root else str(os.geteuid())
        def undumpable() -> bool:
            try:
                running = Path(f"/proc/{process.pid}/cmdline").read_bytes()
                owner = os.stat(f"/proc/{process.pid}/fd").st_uid
                uid = Path(f"/proc/{process.pid}/status").read_text().split("\nUid:", 1)[1].split()[0]
            except (OSError, IndexError):  # between the fork, the exec and the end
                return False
            return running.startswith(reaper[0].encode()) and owner == 0 and uid == expected_uid
        assert until(undumpable), f"the reaper, running as uid {expected_uid}, stayed dumpable (or never ran)"
    finally:
        process.kill()
        process.wait(timeout=20)
        os.close(write)
def reachable_by_others(path: str) -> bool:
    """Whether a process of another uid could run this program: every folder on its real path searchable by others."""
    real = Path(os.path.realpath(path))
    return all(os.stat(folder).st_mode & 0o001 for folder in real.parents) and bool(os.stat(real).st_mode & 0o001)


def test_only_a_compiled_reaper_that_only_its_owner_can_change_is_used(tmp_path: Path) -> None:
    assert compiled_reaper(str(tmp_path)) is None
    binary = tmp_path / COMPILED_REAPER
    binary.write_bytes(b"\x7fELF")
    binary.chmod(0o755)
    assert compiled_reaper(str(tmp_path)) == str(binary)
    binary.chmod(0o711)  # as make installs it: runnable, not readable by others
    assert compiled_reaper(str(tmp_path)) == str(binary)
    for mode in (0o775, 0o757, 0o644, 0o4755, 0o2755):  # writable by its group or anyone, not executable, set-id
        binary.chmod(mode)
        assert compiled_reaper(str(tmp_path)) is None
    binary.chmod(0o755)
    link = tmp_path / "elsewhere"
    binary.rename(link)
    binary.symlink_to(link)  # a link, even to a file that would do
    assert compiled_reaper(str(tmp_path)) is None
    binary.unlink()
    link.rename(binary)
    if os.geteuid() == 0:
        os.chown(binary, 65534, 65534)  # neither root's nor the folder's owner's
        assert compiled_reaper(str(tmp_path)) is None
    binary.unlink()
    binary.mkdir()
    assert compiled_reaper(str(tmp_path)) is None
