"""The init server: a new pid namespace per kernel, with the reaper as its init, made outside the zygote's memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_processes import until

from autograder.isolation import confine, inits, zygote
from autograder.isolation.bwrap import DEFAULT_LIMITS, Cgroup
from autograder.isolation.inits import SERVER, Inits

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not zygote._can_confine(), reason="only root with CAP_SYS_ADMIN makes pid namespaces"
)

# Starts an init server from a process of its own, prints the server's pid, and waits for EOF on stdin (or its end).
PARENT = r"""
import sys
from autograder.isolation.inits import Inits
server = Inits()
server.start()
print(server.server, flush=True)
sys.stdin.read()
"""


def pid_of(pidfd: int) -> int:
    for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    raise AssertionError("not a pidfd")


def status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def gone(pid: int) -> bool:
    return status(pid).get("State", "Z").startswith("Z")


@pytest.fixture
def server() -> Inits:
    made = Inits()
    made.start()
    yield made
    made.close()


def test_each_init_is_the_reaper_as_pid_1_of_a_namespace_of_its_own(server: Inits) -> None:
    first, second = server.take(), server.take()
    try:
        pids = [pid_of(first), pid_of(second)]
        for pid in pids:
            assert until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] in (
                (confine.compiled_reaper() or "").encode(), sys.executable.encode()))
            assert status(pid)["NSpid"].split()[-1] == "1"
            assert int(status(pid)["PPid"]) == server.server  # not ours: the zygote's memory is never mapped for it
            assert int(status(pid)["VmRSS"].split()[0]) < 64 * 1024
        namespaces = {os.readlink(f"/proc/{pid}/ns/pid") for pid in pids}
        assert len(namespaces) == 2 and os.readlink("/proc/self/ns/pid") not in namespaces
    finally:
        for pidfd in (first, second):
            inits.kill(pidfd)
            os.close(pidfd)
    assert until(lambda: all(gone(pid) for pid in pids))


def test_a_fork_into_the_namespace_is_its_pid_2_and_the_next_child_is_born_at_home(server: Inits) -> None:
    init = server.take()
    home = os.open("/proc/self/ns/pid", os.O_RDONLY)
    try:
        read, write = os.pipe()
        child = confine.fork_into_pid_namespace(init, home)
        if child == 0:  # pragma: no cover - the child only reports
            os.write(write, str(os.getpid()).encode())
            os._exit(0)
        os.close(write)
        assert os.read(read, 16) == b"2"
        os.waitpid(child, 0)
        assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    finally:
        inits.kill(init)
        os.close(init)
        os.close(home)


def test_a_killed_init_takes_its_namespace_with_it(server: Inits) -> None:
    init = server.take()
    home = os.open("/proc/self/ns/pid", os.O_RDONLY)
    try:
        child = confine.fork_into_pid_namespace(init, home)
        if child == 0:  # pragma: no cover
            time.sleep(60)
            os._exit(0)
        inits.kill(init)
        _, code = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(code) == -signal.SIGKILL
    finally:
        os.close(init)
        os.close(home)


def test_a_server_that_died_is_replaced(server: Inits) -> None:
    first = server.server
    os.kill(first, signal.SIGKILL)
    os.waitpid(first, 0)  # as the zygote's wait loop would
    init = server.take()
    try:
        assert server.server not in (0, first)
        assert status(pid_of(init))["NSpid"].split()[-1] == "1"
    finally:
        inits.kill(init)
        os.close(init)


def test_inits_outlive_a_server_that_died_and_end_with_the_zygotes_pipe(server: Inits) -> None:
    """A server replaced (or killed) takes no running kernel along; closing ours (as the zygote's end does) ends them all."""
    taken = server.take()
    server.ask()  # and one made ahead, never taken
    pid = pid_of(taken)
    first = server.server
    assert until(lambda: len(Path(f"/proc/{first}/task/{first}/children").read_text().split()) == 2)
    ahead = int(Path(f"/proc/{first}/task/{first}/children").read_text().split()[-1])
    try:
        os.kill(first, signal.SIGKILL)
        os.waitpid(first, 0)  # as the zygote's wait loop would
        time.sleep(0.2)
        assert not gone(pid) and not gone(ahead)
        replaced = server.take()  # the one made ahead, still there, or a new server's
        os.close(replaced)
        server.close()
        assert until(lambda: gone(pid) and gone(ahead)), "an init outlived the zygote's pipe"
    finally:
        os.close(taken)


def test_an_init_that_ended_before_it_was_taken_is_passed_over(server: Inits) -> None:
    server.ask()
    first = server.server
    assert until(lambda: Path(f"/proc/{first}/task/{first}/children").read_text().split() != [])
    ahead = int(Path(f"/proc/{first}/task/{first}/children").read_text().split()[0])
    os.kill(ahead, signal.SIGKILL)
    assert until(lambda: gone(ahead))
    init = server.take()
    try:
        assert pid_of(init) != ahead and not gone(pid_of(init))
    finally:
        inits.kill(init)
        os.close(init)


def test_the_server_dies_with_its_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid = int(parent.stdout.readline())
        assert until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3:4] == [str(SERVER).encode()])
        parent.kill()
        assert until(lambda: gone(pid)), "the init server outlived its parent"
    finally:
        parent.kill()
        parent.wait(timeout=20)


def test_the_server_ends_when_its_channel_closes() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    alive, held = os.pipe()  # as the zygote's: held here while the test lasts
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SERVER), str(theirs.fileno()), str(os.getpid()), str(alive), "-", confine.REAPER],
        pass_fds=[theirs.fileno(), alive],
    )
    theirs.close()
    ours.close()
    assert server.wait(timeout=20) == 0


def test_a_server_that_cannot_make_a_namespace_says_why() -> None:
    """In a cgroup with room for itself alone its fork fails: the answer is the reason, and take raises it."""
    group = Cgroup.create(f"initserver-test-{os.getpid()}", DEFAULT_LIMITS.merged(processes=1))
    if group is None:
        pytest.skip("no cgroup can be made here")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    alive, held = os.pipe()  # as the zygote's: held here while the test lasts
    try:
        server = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SERVER), str(theirs.fileno()), str(os.getpid()), str(alive), "-", confine.REAPER],
            pass_fds=[theirs.fileno(), alive],
            preexec_fn=lambda: [Path(folder, "cgroup.procs").write_text("0") for folder in group.dirs],
        )
        theirs.close()
        ours.settimeout(20)
        ours.send(b"n")
        data, fds, _, _ = socket.recv_fds(ours, 4096, 1)
        assert fds == []
        assert data.startswith(b"cannot make a pid namespace: ") and b"emporarily unavailable" in data, data
        ours.close()
        assert server.wait(timeout=20) == 0
    finally:
        ours.close()
        group.kill_all()
        group.remove()


def test_a_compiled_reaper_that_cannot_run_here_is_passed_over_for_the_python_one(tmp_path: Path) -> None:
    binary = tmp_path / confine.COMPILED_REAPER
    binary.write_bytes(b"not a program")
    binary.chmod(0o755)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    alive, held = os.pipe()  # as the zygote's: held here while the test lasts
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SERVER), str(theirs.fileno()), str(os.getpid()), str(alive), str(binary), confine.REAPER],
        pass_fds=[theirs.fileno(), alive],
    )
    theirs.close()
    try:
        ours.settimeout(20)
        ours.send(b"n")
        data, fds, _, _ = socket.recv_fds(ours, 4096, 1)
        assert data == inits.OK and len(fds) == 1
        pid = pid_of(fds[0])
        assert until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:4] == [
            sys.executable.encode(), b"-I", b"-S", b"-c"])
        inits.kill(fds[0])
        os.close(fds[0])
    finally:
        ours.close()
        server.wait(timeout=20)


def test_the_server_and_its_inits_hold_nothing_of_the_zygotes_output(server: Inits) -> None:
    """Their standard input and output are /dev/null (the zygote's output is a pipe to the grader, read until its end)."""
    init = server.take()
    try:
        for pid in (server.server, pid_of(init)):
            assert until(lambda: all(os.readlink(f"/proc/{pid}/fd/{fd}") == os.devnull for fd in (0, 1))), pid
    finally:
        inits.kill(init)
        os.close(init)
