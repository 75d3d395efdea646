"""The reaper a warm kernel's supervisor and namespace init become: the C one (`make install`) and the Python one do the same."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.isolation import confine
from autograder.isolation.confine import COMPILED_REAPER, REAPER, compiled_reaper

PYTHON_REAPER = [sys.executable, "-I", "-S", "-c", REAPER]

# Forks a child that does MODE, then becomes the reaper (the rest of argv) for it, as the supervisor and the init do.
# "gate" and "held" first drop to uid 65534 when root (an undumpable process's /proc entries are root's whatever its
# uid). The child of "gate" waits for EOF on a pipe whose write end the reaper gets (and must close), then says by its
# status whether the reaper was already undumpable; the child of "held" waits for EOF on stdin (the test's). In
# "sibling", another child of the reaper's ends first: the reaper must go on waiting for its own.
PARENT = r"""
import os, signal, sys, time
mode, reaper = sys.argv[1], sys.argv[2:]
if mode in ("gate", "held") and os.geteuid() == 0:
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
if mode == "sibling" and os.fork() == 0:
    os._exit(9)
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.close(write)
    if mode == "exit":
        os._exit(7)
    if mode == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "gate":
        os.read(read, 1)  # EOF once the reaper closed its end
        os._exit(5 if os.stat(f"/proc/{os.getppid()}/fd").st_uid == 0 else 4)
    if mode == "held":
        sys.stdin.read()
        os._exit(0)
    if mode == "orphan":
        if os.fork() == 0:
            os._exit(0)
        os._exit(3)
    if mode == "sibling":
        time.sleep(0.3)
        os._exit(7)
    os._exit(99)
os.close(read)
extra = []
if mode == "gate":
    os.set_inheritable(write, True)
    extra = [str(write)]
else:
    os.close(write)
os.execv(reaper[0], reaper + [str(child)] + extra)
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


def parent_of(mode: str, reaper: list[str], **options: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PARENT, mode, *reaper], **options)


def test_make_install_builds_the_compiled_reaper_where_a_compiler_is() -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here: the Python reaper is used")
    assert compiled_reaper() == os.path.join(os.path.dirname(sys.executable), COMPILED_REAPER)


@pytest.mark.parametrize("reaper", reapers())
@pytest.mark.parametrize(("mode", "code"), [("exit", 7), ("killed", (-signal.SIGKILL) & 255), ("orphan", 3), ("sibling", 7)])
def test_the_reaper_exits_with_its_childs_status(reaper: list[str], mode: str, code: int) -> None:
    """The child's own status (a signal as Python reports it, modulo 256), whatever other child of its ends first."""
    parent = parent_of(mode, reaper)
    assert parent.wait(timeout=20) == code


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_is_undumpable_when_the_gate_opens(reaper: list[str]) -> None:
    """What the kernel waits for before any student code: the gate's EOF, and by then no ptrace or /proc/1/fd into the init.

    Checked as the child sees it after the EOF: a reaper that never turns undumpable fails here; the order within the
    reaper (undumpable first, then the gate) is its code's first lines, which no timing from outside can pin down."""
    if os.geteuid() == 0 and not reachable_by_others(reaper[0]):
        pytest.skip(f"{reaper[0]} cannot be run by another uid here (the sandbox binds the interpreter's tree for it)")
    assert parent_of("gate", reaper).wait(timeout=20) == 5


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_with_a_child_it_does_not_have_exits_1(reaper: list[str]) -> None:
    for arguments in (["1"], ["not-a-pid"], []):
        assert subprocess.run([*reaper, *arguments], timeout=20).returncode == 1


@pytest.mark.parametrize("reaper", reapers())
def test_the_reaper_makes_itself_undumpable(reaper: list[str]) -> None:
    """Its /proc entries become root's whatever its uid (65534 when run by root): no ptrace and no /proc/N/fd into it."""
    if os.geteuid() == 0 and not reachable_by_others(reaper[0]):
        pytest.skip(f"{reaper[0]} cannot be run by another uid here (the sandbox binds the interpreter's tree for it)")
    parent = parent_of("held", reaper, stdin=subprocess.PIPE)
    try:
        expected_uid = "65534" if os.geteuid() == 0 else str(os.geteuid())
        deadline = time.monotonic() + 20
        undumpable = False
        while not undumpable and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                running = Path(f"/proc/{parent.pid}/cmdline").read_bytes().split(b"\0")
                owner = os.stat(f"/proc/{parent.pid}/fd").st_uid
                uid = Path(f"/proc/{parent.pid}/status").read_text().split("\nUid:", 1)[1].split()[0]
            except (OSError, IndexError):  # between the fork, the exec and the end
                continue
            undumpable = running[: len(reaper)] == [part.encode() for part in reaper] and owner == 0 and uid == expected_uid
        assert undumpable, f"the reaper, running as uid {expected_uid}, stayed dumpable (or never ran)"
    finally:
        parent.stdin.close()
    assert parent.wait(timeout=20) == 0


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


def test_a_compiled_reaper_that_cannot_run_here_falls_back_to_the_python_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """exec_reaper in a child: a file that is not a program for this machine is passed over, and the child still reaps."""
    binary = tmp_path / COMPILED_REAPER
    binary.write_bytes(b"not a program")
    binary.chmod(0o755)
    monkeypatch.setattr(confine, "compiled_reaper", lambda: str(binary))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            child = os.fork()
            if child == 0:
                os._exit(6)
            confine.exec_reaper(child)
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 6
