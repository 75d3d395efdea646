"""The zygote's end of its init server (initserver.py): a fresh pid namespace, with its init, for each kernel."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "initserver.py"
OK = b"ok"  # the server's answer that comes with a pidfd (any other is the reason it made none)
ANSWER_BYTES = 4096
ANSWER_TIMEOUT_S = 10.0  # an init is made in about a millisecond: a server this slow is taken for dead and replaced
ATTEMPTS = 3  # answers read per kernel: a dead server is replaced, an init that already ended is passed over


class Inits:
    """Asks the init server for each kernel's pid namespace init, one ahead; replaces a server that died.

    The inits watch a pipe whose write end only this object holds (`close`, or this process's end, closes it): they
    die with this process, never with a server, so replacing one leaves every running kernel as it is.
    """

    def __init__(self) -> None:
        self._channel: socket.socket | None = None
        self.server = 0  # its pid (this process's child, which the zygote's wait loop may reap: see _handle)
        self._handle = -1  # a pidfd on it, opened before anything here could reap it: no signal to a reused pid
        self._asked = False
        self._alive: tuple[int, int] | None = None  # the inits' pipe (read end, write end)

    def start(self) -> None:
        """Spawn the server (a vfork and an exec: this process's memory is never mapped by a second process)."""
        from autograder.isolation import confine

        if self._alive is None:
            self._alive = os.pipe()
        alive = self._alive[0]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            for fd in (theirs.fileno(), alive):
                os.set_inheritable(fd, True)
            command = [str(theirs.fileno()), str(os.getpid()), str(alive), confine.compiled_reaper() or "-", confine.REAPER]
            self.server = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-S", str(SERVER), *command],
                os.environ,
                # Its standard error is the zygote's log; nothing of it or of its inits holds the zygote's output
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 0, 1)],
            )
            self._handle = os.pidfd_open(self.server)
        except OSError:
            ours.close()
            raise
        finally:
            os.set_inheritable(alive, False)
            theirs.close()
        ours.settimeout(ANSWER_TIMEOUT_S)
        self._channel = ours
        self._asked = False

    def ask(self) -> None:
        """Ask for the next init now, so that it is ready when the next kernel is asked for (a dead server: see take)."""
        if self._asked or self._channel is None:
            return
        try:
            self._channel.send(b"n")
            self._asked = True
        except OSError:
            pass

    def take(self) -> int:
        """A pidfd on the init of a new pid namespace, which the caller owns; OSError if none could be made."""
        for _ in range(ATTEMPTS):
            if self._channel is None:
                self.start()
            self.ask()
            try:
                data, fds, _, _ = socket.recv_fds(self._channel, ANSWER_BYTES, 1)
            except OSError:  # timed out, or the server is gone
                data, fds = b"", []
            self._asked = False
            for fd in fds:
                os.set_inheritable(fd, False)
            if data == OK and len(fds) == 1:
                if not _ended(fds[0]):
                    return fds[0]
                os.close(fds[0])  # killed since it was made (no one here did): another
                continue
            for fd in fds:
                os.close(fd)
            if data:
                raise OSError(data.decode(errors="replace"))
            self._stop_server()
        raise OSError(f"no pid namespace could be made in {ATTEMPTS} attempts (the process that makes them ended)")

    def close(self) -> None:
        """Stop the server and let go of the pipe: every init of ours, taken or not, exits (and its namespace ends)."""
        self._stop_server()
        if self._alive is not None:
            for fd in self._alive:
                os.close(fd)
            self._alive = None

    def _stop_server(self) -> None:
        """Stop the server alone: its inits go on (each ends when the zygote kills it, or with the zygote)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._handle >= 0:
            kill(self._handle)
            try:
                os.waitid(os.P_PIDFD, self._handle, os.WEXITED)
            except ChildProcessError:  # already reaped (by the zygote's wait loop)
                pass
            os.close(self._handle)
            self._handle = -1
            self.server = 0
        self._asked = False


def _ended(pidfd: int) -> bool:
    """Whether the process has exited (a pidfd is readable then)."""
    return bool(select.select([pidfd], [], [], 0)[0])


def kill(init: int) -> None:
    """SIGKILL a namespace's init through its pidfd (no pid that could be reused): the whole namespace dies."""
    try:
        signal.pidfd_send_signal(init, signal.SIGKILL)
    except ProcessLookupError:
        pass
