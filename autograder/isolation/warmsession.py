"""A warm process kept between commands (`autograder warm`): found by what it runs, started detached, stopped on idle.

Each `grade` or `autograde` normally starts its own zygote, and waits about 1.7 s for it to import torch:
most of a one-notebook grading. An instructor who grades notebook after notebook, or a batch run again,
can keep one warm instead. Later commands on this machine find it and fork their kernels from it; it exits
after a stretch with no kernel and no request (or on `autograder warm --stop`).

It is found by a key: the interpreter, the source of this package and of the kernel stub, the versions of
what it imports, and the environment it imports under. Any of them changed, the key changes and the old
one is never used (it idles out). Its folder and socket are root's alone; one found with any other owner
or wider rights is ignored, since whoever answers on that socket hands out the kernels grades come from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.errors import AutograderError

# Where warm processes live: root's own runtime folder, else the temporary one (overridable, for tests).
ROOT_ENV = "AUTOGRADER_WARM_DIR"
DEFAULT_ROOT = Path("/run/autograder")
# A warm process nobody uses exits after this many seconds by default.
DEFAULT_IDLE_S = 900.0
# The kernel process's name in the folder (zygote.sock, zygote.pid, zygote.log); the command server's carries its environment.
ZYGOTE = "zygote"
# What the warm processes import whose version changes what a kernel or a grading is (a reinstall touches its __init__).
IMPORTED_PACKAGES = ("torch", "numpy", "matplotlib", "ipykernel", "IPython", "jupyter_client", "zmq", "nbgrader", "nbconvert", "nbclient")
STOP_WAIT_S = 5.0


class WarmSessionError(AutograderError):
    """A warm process could not be started or stopped here; the reason is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @classmethod
    def cannot_confine(cls) -> "WarmSessionError":
        return cls("warm: kernels cannot be confined here (needs root with the rights to unshare and mount), so there is nothing to keep warm")


@dataclass(frozen=True)
class WarmProcess:
    """A running warm process: its pid and the socket kernels are asked for on."""

    pid: int
    socket_path: Path
    folder: Path


def warm_root() -> Path:
    named = os.environ.get(ROOT_ENV)
    if named:
        return Path(named)
    return DEFAULT_ROOT if os.access("/run", os.W_OK) else Path(tempfile.gettempdir()) / f"autograder-warm-{os.geteuid()}"


def session_key(environment: dict[str, str]) -> str:
    """What a warm process is: interpreter, this package's and the stub's source files, what it imports, environment.

    Files are known by path, size and modification time (a reinstall or an edit changes them): cheap enough for
    every `grade` to look.
    """
    digest = hashlib.sha256()
    digest.update(os.path.realpath(sys.executable).encode() + b"\0")
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
    if not (private(folder) and private(socket_path) and answers(socket_path)):
        return None
    try:
        pid = int(socket_path.with_suffix(".pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return WarmProcess(pid, socket_path, folder)


def answers(socket_path: Path) -> bool:
    """Whether something listens on the socket (the connection, closed at once, counts as use: no idle exit now)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(socket_path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


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
    from autograder.isolation.zygote import READY, ZygoteError

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
                raise ZygoteError.exited(process.returncode, log)
            if time.monotonic() > deadline:
                process.kill()
                raise ZygoteError(f"{module} not ready after {timeout:g} s")
            chunk = process.stdout.read()
            if chunk:
                pending += chunk
            else:
                time.sleep(0.05)
    finally:
        process.stdout.close()
    socket_path.with_suffix(".pid").write_text(f"{process.pid}\n")
    return WarmProcess(process.pid, socket_path, folder)


def stop(folder: Path) -> list[int]:
    """Stop every warm process living in `folder` (kernels and commands they run die with them); their pids."""
    stopped = []
    for pid_file in sorted(folder.glob("*.pid")) if private(folder) else []:
        running = find(folder, pid_file.stem)
        if running is not None:
            _terminate(running.pid)
            stopped.append(running.pid)
        for suffix in (".sock", ".pid"):
            pid_file.with_suffix(suffix).unlink(missing_ok=True)
    return stopped


def sweep(root: Path, keep: Path) -> list[Path]:
    """Remove the folders of earlier code versions whose processes are all gone (their logs, caches); the folders removed."""
    removed = []
    for folder in sorted(root.iterdir()) if private(root) else []:
        if folder == keep or not folder.is_dir() or not private(folder):
            continue
        if any(answers(sock) for sock in folder.glob("*.sock")):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


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
