"""Makes, for the zygote, the pid namespace of each warm kernel, with a tiny reaper as its init (pid 1).

The zygote forks each kernel into a pid namespace of its own. Were the zygote to start that namespace's init itself
(a fork, or even a vfork, then an exec), for a moment a second process would map its memory (torch and all, about
290 MiB), which a sum of RSS counts once more. This small process, which the zygote starts before it imports
anything heavy, makes them instead: for each request byte on its socket, a new pid namespace whose first process
execs the reaper; the answer is a pidfd on that init, through which the zygote forks the kernel into the namespace
(setns) and later kills the init (and with it the namespace). The zygote asks one ahead, so an init is ready when a
kernel is asked for.

Run as `python -I -S initserver.py CHANNEL_FD PARENT_PID ALIVE_FD COMPILED_REAPER PYTHON_REAPER_SOURCE`, by the
zygote only (it holds the other end of CHANNEL_FD, and the write end of the pipe ALIVE_FD reads; COMPILED_REAPER is
"-" where there is none). It imports only what comes with the interpreter (5 ms of CPU to start, once per zygote),
dies with its parent, and exits when the channel closes. Each init gets ALIVE_FD (the reaper's argument): inits die
with the zygote, not with this process, so that a server that died or was replaced takes no running kernel along.
"""

import _ctypes
import _signal
import _socket
import os
import select
import sys

CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
REAP_EVERY_S = 1.0  # ended inits (killed by the zygote) are reaped at least this often, even with no request
OK = b"ok"


class _CInt(_ctypes._SimpleCData):
    """ctypes.c_int, without importing ctypes."""

    _type_ = "i"


class _CFunction(_ctypes.CFuncPtr):
    """A cdecl C function returning int (what ctypes.CDLL's functions are)."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _CInt


class _ThisProcess:
    """The symbols already loaded in this process (libc among them), as ctypes.CDLL(None) has them."""

    _handle = _ctypes.dlopen(None)


def _libc(name: str) -> _CFunction:
    return _CFunction((name, _ThisProcess()))


def _check(result: int, step: str) -> None:
    if result != 0:
        code = _ctypes.get_errno()
        raise OSError(code, f"{step}: {os.strerror(code)}")


def new_init(home: int, alive: int, compiled: str, source: str) -> int:
    """A new pid namespace whose pid 1 execs the reaper: a pidfd on it (opened before it could be reaped)."""
    _check(_libc("unshare")(CLONE_NEWPID), "unshare pid namespace")
    try:
        pid = os.fork()
    except BaseException:
        _check(_libc("setns")(home, CLONE_NEWPID), "set the pid namespace back")
        raise
    if pid == 0:  # pid 1 of the new namespace
        try:
            os.setsid()
            os.set_inheritable(alive, True)
            if compiled != "-":
                try:
                    os.execv(compiled, [compiled, str(alive)])
                except OSError:  # built for another machine, or gone since: the Python one does the same
                    pass
            os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", source, str(alive)])
        finally:
            os._exit(1)  # the namespace dies with it: the zygote's fork into it fails, and that kernel is refused
    _check(_libc("setns")(home, CLONE_NEWPID), "set the pid namespace back")
    return os.pidfd_open(pid)


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def answer(channel: _socket.socket, pidfd: int | None, error: str = "") -> None:
    """OK with the pidfd, or the error's text; a zygote that has gone is noticed at the next recv."""
    try:
        if pidfd is None:
            channel.sendmsg([error.encode()[:4000]])
        else:
            channel.sendmsg([OK], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pidfd.to_bytes(4, sys.byteorder))])
    except OSError:
        pass


def serve(channel: _socket.socket, alive: int, compiled: str, source: str) -> int:
    home = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    while True:
        ready, _, _ = select.select([channel], [], [], REAP_EVERY_S)
        reap()
        if not ready:
            continue
        try:
            request = channel.recv(1)
        except OSError:
            request = b""
        if not request:  # the zygote closed its end (or died): nothing more to make
            return 0
        try:
            pidfd = new_init(home, alive, compiled, source)
        except OSError as error:
            answer(channel, None, f"cannot make a pid namespace: {error.strerror or error}")
            continue
        try:
            answer(channel, pidfd)
        finally:
            os.close(pidfd)


def main(argv: list) -> int:
    if len(argv) != 6 or not all(argv[n].isdigit() for n in (1, 2, 3)):
        print("usage: initserver.py CHANNEL_FD PARENT_PID ALIVE_FD COMPILED_REAPER PYTHON_REAPER_SOURCE", file=sys.stderr)
        return 2
    if _libc("prctl")(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != int(argv[2]):
        return 1  # the zygote died before the line above took effect
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    for fd in (int(argv[1]), int(argv[3])):
        os.set_inheritable(fd, False)  # an init gets ALIVE_FD alone, by name, just before its exec
    channel = _socket.socket(fileno=int(argv[1]))
    return serve(channel, int(argv[3]), argv[4], argv[5])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
