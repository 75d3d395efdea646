"""Processes kept warm between commands (`autograder warm`): found by what they run, started detached, stopped on idle.

Each `grade` or `autograde` normally starts its own zygote, and waits about 1.7 s for it to import torch:
most of a one-notebook grading. An instructor who grades notebook after notebook, or a batch run again,
can keep processes warm instead. Later commands on this machine find them; they exit after a stretch
with no kernel and no request (or on `autograder warm --stop`).

They are found by a key: the interpreter and its flags, the files of this package and of the kernel stub,
the packages they import, and the environment they import under. Any of them changed, the key changes and
the old ones are never used (they idle out). Their folder and sockets are root's alone; one found with any
other owner or wider rights is ignored, since whoever answers on such a socket hands out kernels or runs
commands. A process is known by the pid the kernel reports for its socket's listener, never by a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import math
import os
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from autograder.engine.errors import AutograderError

# Where warm processes live: root's own runtime folder, else the temporary one (overridable, for tests).
ROOT_ENV = "AUTOGRADER_WARM_DIR"
DEFAULT_ROOT = Path("/run/autograder")
# A warm process nobody uses exits after this many seconds by default; --idle may ask for up to a week.
DEFAULT_IDLE_S = 900.0
MAX_IDLE_S = 7 * 24 * 3600.0
# The kernel process's name in its folder (zygote.sock, zygote.log); the command server's carries its environment.
ZYGOTE = "zygote"
LOCK_NAME = "lock"
# What a warm process prints once it is ready (it then prints nothing more).
READY = "ready"
# What the warm processes import whose version changes what a kernel or a grading is (a reinstall touches its __init__).
IMPORTED_PACKAGES = (
    "IPython",
    "ipykernel",
    "jinja2",
    "jupyter_client",
    "jupyter_core",
    "matplotlib",
    "nbclient",
    "nbconvert",
    "nbformat",
    "nbgrader",
    "numpy",
    "sqlalchemy",
    "torch",
    "traitlets",
    "zmq",
)
# How long a process asked to stop (SIGTERM) gets before it is killed.
STOP_WAIT_S = 5.0


class WarmSessionError(AutograderError):
    """A warm process could not be started or stopped here; the reason is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @classmethod
    def cannot_confine(cls) -> "WarmSessionError":
        return cls("warm: kernels cannot be confined here (needs root with the rights to unshare and mount), so there is nothing to keep warm")

    @classmethod
    def exited(cls, module: str, code: int | None, log: Path) -> "WarmSessionError":
        tail = last_line(log)
        return cls(f"warm: {module} exited with status {code}" + (f" ({tail})" if tail else ""))

    @classmethod
    def bad_idle(cls, idle: float) -> "WarmSessionError":
        return cls(f"warm: --idle must be a number of seconds above 0 and at most {MAX_IDLE_S:g} (a week), not {idle:g}")


@dataclass(frozen=True)
class WarmProcess:
    """A running warm process: its pid and the socket it answers on."""

    pid: int
    socket_path: Path
    folder: Path


def last_line(log: Path) -> str:
    """The last line a process wrote to its log: what it died of, usually."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def check_idle(idle: float) -> float:
    if not (math.isfinite(idle) and 0 < idle <= MAX_IDLE_S):
        raise WarmSessionError.bad_idle(idle)
    return idle


def warm_root() -> Path:
    named = os.environ.get(ROOT_ENV)
    if named:
        return Path(named)
    return DEFAULT_ROOT if os.access("/run", os.W_OK) else Path(tempfile.gettempdir()) / f"autograder-warm-{os.geteuid()}"


def session_key(environment: dict[str, str]) -> str:
    """What a warm process is: interpreter and flags, this package's and the stub's files, what it imports, environment.

    Files are known by path, size and modification time (a reinstall or an edit changes them): cheap enough for
    every `grade` to look.
    """
    digest = hashlib.sha256()
    digest.update(f"{os.path.realpath(sys.executable)}\0{sys.flags}\0{sys.warnoptions}\0{sys._xoptions}\0".encode())
    files = [path for package in _package_roots() for path in sorted(package.rglob("*.py"))]
    files += [Path(origin) for origin in map(_origin, IMPORTED_PACKAGES) if origin]
    for path in files:
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    for key in sorted(environment):
        digest.update(f"{key}={environment[key]}\0".encode())
    return digest.hexdigest()[:24]


def _origin(name: str) -> str | None:
    """Where a package's __init__ is, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin and os.path.isfile(spec.origin) else None


def _package_roots() -> list[Path]:
    import autograder
    import autograder_stub

    return [Path(autograder.__file__).resolve().parent, Path(autograder_stub.__file__).resolve().parent]


def session_folder(environment: dict[str, str]) -> Path:
    return warm_root() / session_key(environment)


def find(folder: Path, name: str = ZYGOTE) -> WarmProcess | None:
    """The warm process `name` living in `folder`, if it is ours alone and answers; None otherwise."""
    socket_path = folder / f"{name}.sock"
    if not (private(folder) and private(socket_path)):
        return None
    pid = listener_pid(socket_path)
    return WarmProcess(pid, socket_path, folder) if pid is not None else None


def answers(socket_path: Path) -> bool:
    """Whether something listens on the socket (the connection, closed at once, counts as use: no idle exit now)."""
    return listener_pid(socket_path) is not None


def listener_pid(socket_path: Path) -> int | None:
    """The pid of the process listening on the socket (SO_PEERCRED), or None when nothing does."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(socket_path))
        pid, _uid, _gid = struct.unpack("3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return pid if pid > 0 else None
    except OSError:
        return None
    finally:
        probe.close()


def bind_private(socket_path: Path) -> tuple[socket.socket, int]:
    """Listen on the socket, root's alone, and the bound file's inode; refused while another process listens there."""
    if answers(socket_path):
        raise WarmSessionError(f"warm: another process already listens on {socket_path}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    socket_path.unlink(missing_ok=True)  # a dead predecessor's
    listener.bind(str(socket_path))
    os.chmod(socket_path, 0o600)
    return listener, os.stat(socket_path).st_ino


def unlink_own(socket_path: Path, inode: int) -> None:
    """Remove the socket file if it is still the one we bound (a successor may have bound the path since)."""
    try:
        if os.stat(socket_path).st_ino == inode:
            socket_path.unlink()
    except FileNotFoundError:
        pass


@dataclass
class Listening:
    """A forking server's socket, the selector it waits on, and the pair SIGCHLD wakes it through (zygote, command server)."""

    socket_path: Path
    listener: socket.socket
    inode: int
    selector: selectors.BaseSelector
    wake_read: socket.socket
    wake_write: socket.socket

    @classmethod
    def on(cls, socket_path: Path, backlog: int) -> "Listening":
        """Listen on the socket (never over a live one: two `warm` at once), woken when a child ends."""
        listener, inode = bind_private(socket_path)
        listener.listen(backlog)
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_write.fileno())
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, "accept")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        return cls(socket_path, listener, inode, selector, wake_read, wake_write)

    def handled(self, key: selectors.SelectorKey) -> bool:
        """A new connection accepted (then watched for its request) or the wake-up pair emptied; False for a client's data."""
        if key.data == "accept":
            connection, _ = self.listener.accept()
            self.selector.register(connection, selectors.EVENT_READ, "request")
            return True
        if key.data == "wake":
            drain(self.wake_read)
            return True
        return False

    def leave(self) -> bool:
        """An idle exit: the socket goes first, so nobody finds a process that is leaving; False if a caller got in just before."""
        unlink_own(self.socket_path, self.inode)
        return not self.selector.select(0)

    def close_all(self) -> None:
        """In a forked child: every socket of the server's (the listener, clients' connections, the wake-up pair)."""
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.wake_write.close()


def drain(sock: socket.socket) -> None:
    """Empty a non-blocking wake-up socket (signals write a byte to it)."""
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        pass


@contextmanager
def locked(folder: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the session folder's lock (one `warm` starts its processes at a time); without `wait`, False if taken."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def private(path: Path) -> bool:
    """Owned by us, not a link, and nobody else may read, write or enter it."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return info.st_uid == os.geteuid() and not stat.S_ISLNK(info.st_mode) and not info.st_mode & 0o077


def prepare_folder(folder: Path) -> None:
    """The session's folder, created private (as is its parent); refused if it exists with another owner or wider rights."""
    for path in (folder.parent, folder):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise WarmSessionError(f"warm: cannot create {path}: {error.strerror}") from error
        if not private(path):
            raise WarmSessionError(f"warm: {path} is not private to this user (owner or rights): refusing to use it")


def launch(folder: Path, name: str, module: str, environment: dict[str, str], idle: float, timeout: float) -> WarmProcess:
    """Start `python -m module --socket S --idle N` detached from this command, in its own session; wait until it is ready."""
    socket_path = folder / f"{name}.sock"
    log = socket_path.with_suffix(".log")
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--socket", str(socket_path), "--idle", f"{idle:g}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=environment,
            cwd=folder,
            start_new_session=True,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    pending = b""
    try:
        while READY.encode() not in pending.split(b"\n"):
            if process.poll() is not None:
                raise WarmSessionError.exited(module, process.returncode, log)
            if time.monotonic() > deadline:
                process.kill()
                raise WarmSessionError(f"warm: {module} not ready after {timeout:g} s")
            chunk = process.stdout.read()
            if chunk:
                pending += chunk
            else:
                time.sleep(0.05)
    finally:
        process.stdout.close()
    return WarmProcess(process.pid, socket_path, folder)


def stop(root: Path) -> list[int]:
    """Stop every warm process kept under `root` (any code version or environment; their kernels and commands die too)."""
    stopped = []
    for folder in _sessions(root):
        with locked(folder):
            for socket_path in sorted(folder.glob("*.sock")):
                pid = listener_pid(socket_path) if private(socket_path) else None
                if pid is not None:
                    _terminate(pid)
                    stopped.append(pid)
                    _until(lambda: not answers(socket_path))  # a dying process may still take a connection
                if not answers(socket_path):
                    socket_path.unlink(missing_ok=True)
    return stopped


def sweep(root: Path, keep: Path) -> list[Path]:
    """Remove the folders of earlier code versions whose processes are all gone (their logs, caches); the folders removed."""
    removed = []
    for folder in _sessions(root):
        if folder == keep:
            continue
        with locked(folder, wait=False) as free:  # a `warm` starting processes there holds it
            if not free or any(answers(sock) for sock in folder.glob("*.sock")):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _sessions(root: Path) -> list[Path]:
    if not private(root):
        return []
    return [folder for folder in sorted(root.iterdir()) if folder.is_dir() and private(folder)]


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not _until(lambda: not _alive(pid)):
        os.kill(pid, signal.SIGKILL)


def _until(condition: Callable[[], bool], seconds: float = STOP_WAIT_S) -> bool:
    """Wait until the condition holds, at most `seconds`; whether it does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (a process of ours not yet reaped) is as good as gone.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
