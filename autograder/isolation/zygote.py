"""A warm process that forks sandboxed Jupyter kernels with torch, matplotlib and IPython already imported.

Starting a kernel and importing torch costs about 3.5 s of CPU per notebook, more than running the
student's code. The grader starts one zygote (as root), which imports all that once and then, for
each kernel, forks: the child confines itself (autograder.isolation.confine: namespaces, a new root, limits,
the sandbox's uid) and becomes the kernel. jupyter_client launches a tiny client
(zygote_client.py) in place of the kernel; the client asks the zygote for a kernel over a Unix
socket only root can reach, and lives exactly as long as the kernel: killing the client kills the
kernel and its whole pid namespace.

Run as `python -m autograder.isolation.zygote --socket PATH [--one-lesson]`; it prints "ready" once warm.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import hashlib
import json
import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from autograder.engine.errors import AutograderError
from autograder.engine.heap import importing
from autograder.isolation import inits
from autograder.isolation.bwrap import UID_RANGE, Layout
from autograder.isolation.kernel_options import NO_FIGURES
from autograder.isolation.warmsession import READY, Listening, last_line, private
from autograder_stub.protocol import BLOCKED_ENV

CLIENT = Path(__file__).resolve().parent / "zygote_client.py"
# How the warm process is started: `python -m MODULE --socket PATH [--idle SECONDS] [--one-lesson]`.
MODULE = "autograder.isolation.zygote"
# The most bytes a request to a warm process may have.
MAX_REQUEST_BYTES = 1 << 20
FAILED_NAME = "failed"  # beside the socket: why a zygote exited before it was ready (read by the workers)
MAX_START_FAILURES = 2  # a zygote that exits before it is ready is started again this many times (an OOM kill may pass)
START_TIMEOUT = 120.0
# Set by a grader for its worker processes: the socket of a zygote they share.
SOCKET_ENV = "AUTOGRADER_ZYGOTE"
EXIT_CONFINE_FAILED = 71
# A lock matplotlib left beside its font list this long ago is a killed writer's (writing takes milliseconds).
FONT_LOCK_STALE_S = 60.0


class ZygoteError(AutograderError):
    """The warm process could not start or answer; grading falls back to nothing unsafe."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"the warm kernel process failed: {reason}" + (f" ({log_tail})" if log_tail else ""))

    @classmethod
    def exited(cls, code: int | None, log: Path) -> "ZygoteError":
        return cls(f"it exited with status {code}", last_line(log))


# --- the grader's side -------------------------------------------------------------------------


class Zygote:
    """The grader's handle on its warm process: start it, build kernel commands for it, stop it."""

    def __init__(self, socket_path: Path | None = None, kept_warm: bool = False, one_lesson: bool = False) -> None:
        self._owned = socket_path is None
        self.kept_warm = kept_warm  # a warm process kept between commands (`autograder warm`): not ours to stop
        self.one_lesson = one_lesson and self._owned  # ours serves one lesson's kernels (`--one-lesson`)
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-zygote-")) if self._owned else None
        self.socket_path = socket_path or self.folder / "zygote.sock"
        self.log = (self.folder or Path(tempfile.gettempdir())) / "zygote.log"
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event() if self._owned else None
        self.generation = 0  # how many times it was replaced: a grading that spans a replacement saw a death
        self.start_failures = 0  # starts that exited before the zygote was ready
        self._closed = False
        self._pid = os.getpid()  # the process this handle belongs to: a fork inherits it, never its zygote

    def inherited(self) -> bool:
        """Whether this handle came with a fork: its zygote is the parent's, which only the parent may stop or replace."""
        return self._pid != os.getpid()

    def borrowed(self) -> "Zygote":
        """A fork's handle on its parent's zygote: the same socket, watched, restarted and stopped by the parent only.

        Never a kept-warm handle, even on a kept-warm zygote: that one would relaunch or replace it from the fork.
        """
        return Zygote(self.socket_path)

    @staticmethod
    def available() -> bool:
        """Whether forks can confine themselves here: root with the rights to unshare and mount (checked once)."""
        return _can_confine()

    @classmethod
    def shared(cls) -> "Zygote":
        """This process's zygote: the one named by $AUTOGRADER_ZYGOTE (a parent's), or one started here."""
        global _SHARED
        with _LOCK:
            if _SHARED is not None and _SHARED.inherited():
                # A fork (a grading worker) sees its parent's zygote as exited (its process is not our child): it
                # would replace it on the same socket and leave the parent without one. The zygote its batch names
                # comes first (found below); else it borrows its parent's.
                _SHARED = None if os.environ.get(SOCKET_ENV) else _SHARED.borrowed()
            if _SHARED is not None and _SHARED.died():
                _SHARED.restart()  # killed (the OOM killer, a signal): a new one takes its place
            if _SHARED is None:
                named = os.environ.get(SOCKET_ENV)
                _SHARED = cls(Path(named)) if named else cls.warm_or_start()
                atexit.register(_SHARED.close)
            return _SHARED

    @classmethod
    def warm_or_start(cls, one_lesson: bool = False) -> "Zygote":
        """The warm process kept between commands (`autograder warm`) if one runs for this code here, else a new one of ours.

        `one_lesson`: every kernel asked of a new one of ours is of one lesson (a batch's); a kept-warm one serves any.
        """
        from autograder.isolation import warmsession

        try:
            running = warmsession.find(kept_warm_place()[0])
        except OSError:  # an unreadable source file or folder: no kept process, nothing lost
            running = None
        return cls(running.socket_path, kept_warm=True) if running is not None else cls(one_lesson=one_lesson).start()

    def died(self) -> bool:
        """Whether our zygote has exited, or the kept-warm one stopped answering (a parent's is the parent's to watch)."""
        if self.process is not None and self.inherited():  # the parent's child, not ours: the parent's to watch
            return False
        if self.kept_warm and self.process is None:
            from autograder.isolation.warmsession import answers

            return not answers(self.socket_path)
        return self.process is not None and self.process.poll() is not None

    def start(self) -> "Zygote":
        """Launch the warm process in the background; `wait_ready` blocks until it has imported everything."""
        assert self.folder is not None and self._ready is not None
        os.chmod(self.folder, 0o700)
        (self.socket_path.parent / FAILED_NAME).unlink(missing_ok=True)  # an earlier one's, on this socket
        environment = _warm_environment(self.folder)
        fonts = font_cache()
        if fonts is not None:
            environment["MPLCONFIGDIR"] = str(fonts)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", MODULE, "--socket", str(self.socket_path), *(["--one-lesson"] if self.one_lesson else [])],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=environment,
                cwd=self.folder,
                preexec_fn=_die_with_parent,
            )
        threading.Thread(target=self._watch_ready, daemon=True).start()
        return self

    def restart(self) -> "Zygote":
        """Replace a dead zygote with a new one of ours on the same socket (workers that know the path keep working).

        A kept-warm one that stopped answering (stopped, killed, idled out) is replaced the same way, by a
        process that lives as long as this command.
        """
        if self.inherited() or not (self._owned or self.kept_warm):
            # The parent's (inherited by a fork, borrowed, or named by $AUTOGRADER_ZYGOTE): its owner watches and
            # replaces it; replacing it here, on its socket, would leave the owner without one.
            return self
        if self.failed_to_start():
            self.start_failures += 1
            if self.start_failures > MAX_START_FAILURES:
                return self  # it fails the same way each time (an import error): wait_ready says why, no loop of starts
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.kept_warm and self.process is None and self._relaunch_kept():
            return self
        if self.folder is None:  # taking over a kept-warm process's socket: our own folder for the log and HOME
            self.folder = Path(tempfile.mkdtemp(prefix="autograder-zygote-"))
            self.log = self.folder / "zygote.log"
            self._owned = True
        self.socket_path.unlink(missing_ok=True)  # workers wait for the new one to listen, not the dead one's file
        self._ready = threading.Event()
        self.generation += 1
        return self.start()

    def _relaunch_kept(self) -> bool:
        """A kept-warm zygote that stopped answering: start a kept one again on its socket (what `autograder warm` does)."""
        from autograder.isolation import warmsession

        folder, environment = kept_warm_place()
        if self.socket_path.parent != folder:
            return False
        try:
            with warmsession.locked(folder):
                if warmsession.find(folder) is None:
                    (folder / FAILED_NAME).unlink(missing_ok=True)  # an earlier start's, on this socket
                    warmsession.launch(folder, warmsession.ZYGOTE, MODULE, environment, warmsession.DEFAULT_IDLE_S, START_TIMEOUT)
        except (OSError, AutograderError):
            return False
        self.generation += 1
        return True

    def failed_to_start(self) -> bool:
        """Whether our zygote exited before it was ever ready (replaced MAX_START_FAILURES times at most: the cause may stay)."""
        return self._ready is not None and not self._ready.is_set() and self.process is not None and self.process.poll() is not None

    def _watch_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None and self._ready is not None
        for line in self.process.stdout:
            if line.strip() == READY.encode():
                self._ready.set()
                return
        # It exited while warming up: the workers waiting for its socket read why from beside it, at once.
        error = ZygoteError.exited(self.process.wait(), self.log)
        if self._closed:  # stopped by us (the command is ending): nobody waits for it
            return
        try:  # whole or not at all: a worker never reads half a reason
            fd, temporary = tempfile.mkstemp(dir=self.socket_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(error.reason + "\0" + error.log_tail)
            os.replace(temporary, self.socket_path.parent / FAILED_NAME)
        except OSError:  # its folder is gone (closed meanwhile): workers, if any, wait for the socket until START_TIMEOUT
            pass

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        if self._ready is None:  # a parent's zygote: it listens once warm (the parent watches it)
            while not self.socket_path.exists():
                try:
                    failed = (self.socket_path.parent / FAILED_NAME).read_text(encoding="utf-8", errors="replace")
                except OSError:  # none (or just replaced): keep waiting
                    failed = None
                if failed is not None:
                    reason, _, tail = failed.partition("\0")
                    raise ZygoteError(reason, tail)
                if time.monotonic() > deadline:
                    raise ZygoteError(f"the shared warm process at {self.socket_path} was not ready after {timeout:g} s")
                time.sleep(0.05)
            return
        while not self._ready.wait(0.05):
            if self.process is not None and self.process.poll() is not None:
                raise ZygoteError.exited(self.process.returncode, self.log)
            if time.monotonic() > deadline:
                raise ZygoteError(f"not ready after {timeout:g} s")

    def command(
        self, layout: Layout, kernel_argv: list[str], cgroup_dirs: list[str], root: Path, known_sources: Sequence[str] = ()
    ) -> list[str]:
        """The command jupyter_client runs instead of the kernel: the client that asks for a confined fork.

        `root` is an empty host folder (in the sandbox's scratch dir) that the fork mounts its new root on.
        `known_sources` are cell texts the zygote may prepare for its kernels (autograder_stub.sourcememo): only
        texts every student holds (the release's), as whatever the zygote holds, every kernel it forks can read.
        The client dies with this process (it is told our pid), and so with the thread that launches it (the
        parent-death signal): launch it from a thread that lives as long as the kernel. A grading's own kernels
        (WarmKernelManager) run no client: ZygoteProvisioner holds the connection in the grading process.
        """
        self.wait_ready()
        request = {"layout": layout.to_json(), "argv": kernel_argv, "cgroups": cgroup_dirs, "root": str(root)}
        if known_sources:
            try:
                request["sources"] = str(sources_file(known_sources, self.socket_path.parent / SOURCES_FOLDER))
            except OSError as error:  # a head start only: the kernel starts without it
                print(f"autograder: cell texts not handed to the warm process: {error}", file=sys.stderr)
        return [sys.executable, "-I", "-S", str(CLIENT), str(self.socket_path), json.dumps(request), str(os.getpid())]

    def close(self) -> None:
        if self.inherited():  # the parent's (a fork's exit handlers run this too): never stopped or removed from here
            return
        self._closed = True  # its end is ours, not a failure to report
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


_SHARED: Zygote | None = None
_LOCK = threading.Lock()


def _new_locks_in_fork() -> None:
    """A fork gets free locks: a thread of the parent may have held one at the fork, and no thread releases it here."""
    global _LOCK, _SOURCES_LOCK
    _LOCK = threading.Lock()
    _SOURCES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_in_fork)


def close_shared() -> None:
    """Stop this process's own zygote, if it started one (before an exit that skips atexit)."""
    if _SHARED is not None:
        _SHARED.close()


MAX_SOURCES_BYTES = 16 << 20  # a sources file larger than this is not read
SOURCES_FOLDER = "sources"  # beside the zygote's socket: removed with its folder, whoever wrote it (a worker's exit skips atexit)
SOURCES_KEPT_S = 86400.0  # a kept-warm zygote's folder outlives commands: files unused this long go when a new one comes
SOURCES_TOUCHED_S = SOURCES_KEPT_S / 2  # a file in use is touched when older than this, so it is never unused that long
_SOURCES_LOCK = threading.Lock()


def sources_file(texts: Sequence[str], folder: Path) -> Path:
    """The texts as a JSON file only root can write, in `folder`, named by its content (a batch names the same texts for each kernel).

    `folder` lives beside the zygote's socket, so it goes when the zygote's owner removes its folder, even where
    the writer was a grading worker (whose os._exit runs no exit handler). A kept-warm zygote's folder stays:
    there a file in use is touched twice a day, and files left unused for a day are removed when a new one is
    written. OSError when the folder cannot be had, or is not private to this user.
    """
    data = json.dumps(sorted(set(texts)), ensure_ascii=False).encode()
    path = folder / f"{hashlib.sha256(data).hexdigest()}.json"
    with _SOURCES_LOCK:
        folder.mkdir(mode=0o700, exist_ok=True)
        if not private(folder):  # a link or a folder others may enter: never written to, never pruned
            raise PermissionError(f"{folder} is not a folder private to this user")
        try:
            if os.lstat(path).st_mtime < time.time() - SOURCES_TOUCHED_S:
                os.utime(path)
        except FileNotFoundError:
            fd, temporary = tempfile.mkstemp(dir=folder)  # 0600, renamed whole into place
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
            _prune_sources(folder)
    return path


def _prune_sources(folder: Path) -> None:
    """Remove the sources files nobody wrote or touched for SOURCES_KEPT_S (a kept-warm zygote's folder lasts for weeks)."""
    stale = time.time() - SOURCES_KEPT_S
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < stale:
                        os.unlink(entry.path)
                except OSError:  # gone already (another command pruned it), or a folder: nothing lost
                    pass
    except OSError:  # an unreadable folder: the file just written is still handed over
        pass


SELF_TEST_TIMEOUT_S = 30.0  # the confinement self-test takes about 3 ms


@functools.lru_cache(maxsize=1)
def _can_confine() -> bool:
    """Root on Linux is not enough (a container's root usually lacks CAP_SYS_ADMIN): try it in a forked child.

    A fork, not a new interpreter: 3 ms instead of 55, ahead of the zygote's start on a cold grade's critical path.
    """
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    from autograder.isolation.confine import self_test

    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        code = 1
        try:
            self_test()
            code = 0
        finally:
            os._exit(code)  # whatever self_test raised: this child only reports, nothing of the caller runs on
    deadline = time.monotonic() + SELF_TEST_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:  # a mount or a netlink call that hangs: take it as a no
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.001)


def kept_warm_place() -> tuple[Path, dict[str, str]]:
    """Where a kept-warm process for this code lives, and the environment it imports under (its HOME is that folder)."""
    from autograder.isolation.warmsession import session_folder

    folder = session_folder(_warm_environment(Path("/")))  # keyed by everything but the folder itself
    return folder, _warm_environment(folder)


def font_cache() -> Path | None:
    """matplotlib's folder for a zygote of this code, kept between commands: its font list is built once, not per batch.

    matplotlib lists the machine's fonts (running fc-list) when its folder has no list yet: 0.1 s here with
    39 fonts, seconds on a desktop with thousands, each time a zygote imports it in a new folder. This is the
    folder a kept-warm zygote of the same code uses (`kept_warm_place`), private to root like it; it holds
    only what matplotlib writes. A font installed later is listed once this code changes or the folder is
    removed (matplotlib lists again only when a listed font file is gone). None (a folder of the zygote's
    own, as before) where it cannot be had.
    """
    from autograder.isolation import warmsession

    try:
        folder, environment = kept_warm_place()
        warmsession.prepare_folder(folder)
        fonts = Path(environment["MPLCONFIGDIR"])
        fonts.mkdir(mode=0o700, exist_ok=True)
    except (OSError, warmsession.WarmSessionError):
        return None
    if not _ours_alone(fonts):
        return None
    _clear_broken_font_list(fonts)
    return fonts


def _ours_alone(folder: Path) -> bool:
    """A folder of ours, not a link, that nobody else may write (matplotlib makes it 0755 inside the private one)."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _clear_broken_font_list(fonts: Path) -> None:
    """A list a killed zygote left half-written, or its lock, would have every later zygote list the fonts and wait."""
    now = time.time()
    for lock in fonts.glob("*.matplotlib-lock"):  # matplotlib's, held while it writes the list
        try:
            if now - lock.lstat().st_mtime > FONT_LOCK_STALE_S:
                lock.unlink()
        except OSError:
            continue
    for listing in fonts.glob("fontlist-*.json"):
        try:
            json.loads(listing.read_bytes())
        except (OSError, ValueError):
            listing.unlink(missing_ok=True)


def _warm_environment(folder: Path) -> dict[str, str]:
    """What the zygote imports under: the sandbox's thread settings (read at import), its own config dir."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder),
        "MPLCONFIGDIR": str(folder / "matplotlib"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",  # as in every cold kernel (sandbox.Sandbox.environment)
        # glibc's heap in 2 MiB pages where the system allows them (transparent huge pages, "madvise"): each
        # fork copies one page-table entry per page of the heap, and each kernel costs the zygote three forks.
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
        # The grader's own copy of this package (to run the zygote) and of the stub (what kernels use).
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(Path(__file__).resolve().parents[2]), _stub_root()])),
    }
    from autograder.isolation.bwrap import PASSTHROUGH_ENV

    # Never AUTOGRADER_DEVICE: the warm-up must not initialise CUDA, which does not survive a fork;
    # each kernel gets it from its own environment and initialises CUDA itself.
    env.update({key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ and key != "AUTOGRADER_DEVICE"})
    return env


def _stub_root() -> str:
    import autograder_stub

    return str(Path(autograder_stub.__file__).resolve().parent.parent)


def _die_with_parent() -> None:
    """In the zygote, before exec: killed when the grader dies (confine is light; nbgrader_cli would import nbgrader)."""
    from autograder.isolation.confine import die_with_parent

    die_with_parent()


# --- the warm process ---------------------------------------------------------------------------


@dataclass
class _Kernel:
    """One forked kernel, the init of its pid namespace, and the client connection that owns it."""

    pid: int
    init: int  # a pidfd on the namespace's init, killed to end the namespace: the kernel and whatever it left
    connection: socket.socket
    alive: int  # the write end of the pipe whose EOF tells the kernel that we died


def warm_up() -> None:
    """Import and exercise once what every grading kernel needs, so forks start with it in memory."""
    import IPython  # noqa: F401
    import ipykernel.debugger  # noqa: F401  (debugpy: 0.35 s of every kernel start otherwise)
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import matplotlib.pyplot  # noqa: F401  (imported, never used: each kernel picks its own backend)
    import matplotlib_inline.backend_inline  # noqa: F401
    import numpy  # noqa: F401
    import torch
    import torch.nn  # noqa: F401
    import torch.nn.functional  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    import autograder_stub.launch  # noqa: F401  (guard, runner, codec, limits: what every kernel runs first)
    import autograder_stub.cells  # noqa: F401  (the runner of batched cells)
    import autograder_stub.guard
    import autograder_stub.runner
    import autograder_stub.seeding  # noqa: F401  (the kernel's exec_lines seed with it)
    import autograder_stub.sourcememo  # noqa: F401  (cell texts prepared for the kernels)

    _import_what_each_kernel_imports()

    torch.set_num_threads(1)
    # The stub's own code paths once, so their lazy imports happen here and never inside a student's
    # timed call (an import cut short by the alarm would leave torch half-imported in the kernel). No
    # grader module is loaded for this: the lesson's checks, references and seeds never enter this process.
    sample = autograder_stub.runner.encode_value(torch.ones(2, 2), layout=True)
    request = {"name": "f", "kind": "calls", "calls": [{"args": [sample]}]}
    record = autograder_stub.runner.answer(request, {"f": lambda z: torch.where(z > 0, z, torch.zeros_like(z))})
    if not record["calls"] or record["calls"][0]["error"] is not None:
        raise RuntimeError(f"warm-up call failed: {record}")
    # Last, once everything above is imported: the guard's indexes of torch's operators, so each kernel's
    # install only looks its lesson's operators up (its forks check each index still matches what it indexed).
    autograder_stub.guard.prime()


def warm_figures() -> None:
    """Load fonts, colour maps and the Agg renderer once, for the kernels that may draw (0.05 s and 14 MiB).

    Through a figure pyplot never sees: no backend is chosen and no InlineBackend is configured here, so
    each kernel's options still apply.
    """
    import io

    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.imshow(torch.arange(9.0).reshape(3, 3).numpy(), cmap="gray")
    axes.set_title("núcleo")
    figure.savefig(io.BytesIO(), format="png")


def may_draw(argv: list[str]) -> bool:
    """Whether a kernel started with these options may render figures (graded with figures on, or not graded)."""
    return NO_FIGURES not in argv


# What every kernel imported on its own before its first cell, about 25 ms of each start (ipykernel's
# init_pdb, the shell's history, magics and completer, tornado's asyncio loop, numpy.random for the seeding).
KERNEL_IMPORTS = (
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.magics.execution",  # loaded on first use of a lazy magic (%time, %capture...)
    "IPython.core.magics.pylab",  # loaded by the first %matplotlib
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "faulthandler",
    "numpy.random",
    "pdb",
    "resource",
    "sqlite3",
    "tornado.platform.asyncio",
)


def _import_what_each_kernel_imports() -> None:
    """Import once what each kernel would import at start, and read matplotlib's backend list: nothing configured or run."""
    import importlib

    for name in KERNEL_IMPORTS:
        importlib.import_module(name)
    from matplotlib.backends.registry import backend_registry

    backend_registry.list_all()  # reads the installed backends' entry points, which each %matplotlib did again


def serve(socket_path: Path, idle: float | None = None, one_lesson: bool = False) -> None:
    """Answer kernel requests until the grader goes away (we are killed), or, kept warm, until `idle` s pass unused.

    Unused: no kernel of ours alive and no connection made. A warm process kept between commands
    (autograder.isolation.warmsession) then removes its socket and exits. With `one_lesson`, the first kernel's
    blocked operators are blocked here once, for every kernel (see `_lesson_refusal`).
    """
    global _one_lesson
    from autograder.isolation import confine

    _one_lesson = one_lesson
    confine.adopt_orphans()  # a replaced init server's inits, then ours to reap
    _inits.start()  # before torch is imported here (a spawn, then a small process of its own: see initserver.py)
    _inits.ask()
    with importing():
        warm_up()
    if one_lesson:  # a batch's: its first kernels are asked for after its first worker imported torch, here 0.3 s after this
        _warm_tracebacks_once()
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError("the warm process must be single-threaded to fork safely")
    listening = Listening.on(socket_path, backlog=64)
    (socket_path.parent / FAILED_NAME).unlink(missing_ok=True)  # an earlier start's failure no longer holds
    selector = listening.selector
    kernels: dict[int, _Kernel] = {}
    print(READY, flush=True)
    if idle is not None:  # nobody reads our output any more: the command that started us has gone
        detach_stdout()
    used = time.monotonic()
    while True:
        wait = None if idle is None or kernels else max(0.0, used + idle - time.monotonic())
        events = selector.select(wait)
        if not events and wait is not None and not kernels and time.monotonic() >= used + idle:
            if listening.leave():
                return
            events = selector.select(0)  # a client that connected just before the socket went is still served
        for key, _ in events:
            if key.data == "wake":
                listening.handled(key)
                continue
            if not listening.handled(key):
                _on_client(key.fileobj, selector, kernels)
            used = time.monotonic()
        _reap(kernels, selector)
        if kernels:
            used = time.monotonic()


def detach_stdout() -> None:
    """Point standard output at /dev/null: whoever read our "ready" has gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _on_client(connection: socket.socket, selector: selectors.BaseSelector, kernels: dict[int, _Kernel]) -> None:
    """A request line from a new client, or EOF from a client whose kernel must now die."""
    global _forked
    owner = next((k for k in kernels.values() if k.connection is connection), None)
    try:
        data = _read_request(connection) if owner is None else connection.recv(1)
    except OSError:
        data = b""
    if owner is not None:
        if not data:  # the client was killed: so is its kernel's whole namespace
            inits.kill(owner.init)
            selector.unregister(connection)
        return
    try:
        request = json.loads(data.decode())
        layout = Layout.from_json(request["layout"])
        argv = [str(arg) for arg in request["argv"]]
        cgroups = [str(path) for path in request["cgroups"]]
        new_root = Path(request["root"])
        if not UID_RANGE[0] <= layout.uid < UID_RANGE[1]:
            raise ValueError(f"uid {layout.uid} is not a sandbox uid")
        operators = layout.environment.get(BLOCKED_ENV, "")
        if not isinstance(operators, str):
            raise ValueError(f"{BLOCKED_ENV} is not text")
    except Exception as error:  # noqa: BLE001 - whatever the request, the zygote keeps serving
        _refuse(connection, selector, f"bad request: {type(error).__name__}: {error}")
        return
    if may_draw(argv):
        _warm_figures_once()
    if _forked:
        _warm_tracebacks_once()
    if _one_lesson:  # after the warm-ups due now (none calls a lesson's operators, and a failing one is only logged)
        refusal = _lesson_refusal(operators)
        if refusal is not None:
            _refuse(connection, selector, refusal)
            return
    if isinstance(request.get("sources"), str):
        _learn_sources(Path(request["sources"]))
    from autograder.isolation import confine  # here, not at the top: the grader imports this module, never confines

    try:
        init = _inits.take()
    except OSError as error:
        _refuse(connection, selector, f"cannot make the kernel's pid namespace: {error}")
        return
    alive_read, alive_write = os.pipe()  # the write end stays here while the kernel lives: EOF means we died
    try:
        pid = confine.fork_into_pid_namespace(init, _home_namespace())
    except OSError as error:  # out of memory or processes: this kernel fails, the next may not
        for fd in (alive_read, alive_write):
            os.close(fd)
        inits.kill(init)
        os.close(init)
        _refuse(connection, selector, f"cannot fork: {error}")
        return
    if pid == 0:
        _start_kernel(layout, argv, cgroups, new_root, alive_read, alive_write)  # never returns
    os.close(alive_read)
    _inits.ask()  # the next kernel's, made while this one starts
    _forked += 1
    kernels[pid] = _Kernel(pid, init, connection, alive_write)
    _send(connection, {"pid": pid})


@functools.cache
def _home_namespace() -> int:
    """An fd on this process's own pid namespace, where every child but a kernel is born."""
    return os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)


_inits = inits.Inits()  # started by `serve`, before the warm-up: see initserver.py


_figures_warm = False
_tracebacks_warm = False
_one_lesson = False  # serving one lesson's kernels: their blocked operators are blocked here (`--one-lesson`)
_lesson_blocks: frozenset[str] | None = None  # the operators the kernels of that lesson refuse, once the first asked
_lesson_failure = ""  # why they could not be blocked here (every kernel is then refused, with this reason)
_forked = 0  # kernels forked so far
# A kernel's first traceback costs 40-50 ms more than the next unless the zygote formatted one; doing that costs the
# zygote 60-90 ms, which a one-notebook grading would wait for, so it is done before the second kernel only; a batch's
# zygote (`--one-lesson`) does it before it is ready, about 0.3 s before the batch's first worker asks for a kernel.


def _lesson_refusal(operators: str) -> str | None:
    """Block the first kernel's operators here, once (each fork inherits them); why this kernel is refused, if it is.

    The guard's dispatcher registrations cost each kernel about 28 ms of its start; made in this process, which never
    runs a student's code, they cost that once. They cannot be undone, so a kernel that asks for another set of
    operators is refused, never forked with the wrong blocks (a batch's kernels share one lesson).
    """
    global _lesson_blocks, _lesson_failure
    from autograder_stub import guard

    wanted = frozenset(guard.operator_names(operators.split(",")))  # as the kernel's install reads its environment
    if _lesson_blocks is None and not _lesson_failure:
        try:
            guard.block(wanted)
            _lesson_blocks = wanted
            gc.freeze()  # the registrations' objects live as long as we do: no kernel's collection copies their pages
        except Exception as error:  # noqa: BLE001 - whether anything was blocked here is unknown: no kernel is forked
            _lesson_failure = f"the lesson's operators could not be blocked in the warm process: {type(error).__name__}: {error}"
            print(f"autograder.isolation.zygote: {_lesson_failure}", file=sys.stderr, flush=True)
    if _lesson_failure:
        return _lesson_failure
    if wanted != _lesson_blocks:
        return "this warm process serves the kernels of one lesson only, and this kernel's blocked operators differ"
    return None


def _warm_tracebacks_once() -> None:
    """tracebacks.install and warm: a batch's zygote before it is ready, any other before its second kernel (never a lone one's)."""
    global _tracebacks_warm
    if _tracebacks_warm:
        return
    _tracebacks_warm = True
    try:
        from autograder_stub import tracebacks

        with importing():
            tracebacks.install()
            tracebacks.warm()
    except Exception as error:  # noqa: BLE001 - a head start only: each kernel formats its first traceback as before
        print(f"autograder.isolation.zygote: tracebacks not warmed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def _warm_figures_once() -> None:
    """warm_figures before the first kernel that may draw is forked: a course that grades without figures never pays."""
    global _figures_warm
    if _figures_warm:
        return
    _figures_warm = True
    try:
        with importing():
            warm_figures()
    except Exception as error:  # noqa: BLE001 - a head start only: each kernel then loads what it draws with itself
        print(f"autograder.isolation.zygote: figures not warmed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def _learn_sources(path: Path) -> None:
    """Prepare the cell texts of a sources file for the kernels forked from now on: a file root owns and only root writes.

    A head start only: a file that cannot be read or is not trusted is logged and skipped, and the kernel starts as before.
    """
    from autograder_stub import sourcememo

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            folder = os.lstat(path.parent)  # a link in its place is refused (a link's mode lets others write)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022 or info.st_size > MAX_SOURCES_BYTES:
                raise PermissionError(f"{path} is not a regular file only root writes, of at most {MAX_SOURCES_BYTES} bytes")
            if folder.st_uid != 0 or folder.st_mode & 0o022:
                raise PermissionError(f"{path.parent} is a folder others than root may write to")
            texts = json.loads(handle.read().decode("utf-8"))
        if not isinstance(texts, list):
            raise ValueError("not a list of cell texts")
        if sourcememo.learn(texts):
            gc.freeze()  # the prepared texts and trees live as long as we do: no kernel's collection copies their pages
    except Exception as error:  # noqa: BLE001 - whatever the file, the zygote keeps serving
        print(f"autograder.isolation.zygote: cell texts not prepared: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def _refuse(connection: socket.socket, selector: selectors.BaseSelector, reason: str) -> None:
    _send(connection, {"error": reason})
    selector.unregister(connection)
    connection.close()


def _reap(kernels: dict[int, _Kernel], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        kernel = kernels.pop(pid, None)
        if kernel is not None:
            inits.kill(kernel.init)  # what the kernel left in its namespace goes with it
            os.close(kernel.init)
            _send(kernel.connection, {"exit": os.waitstatus_to_exitcode(status)})
            try:
                selector.unregister(kernel.connection)
            except (KeyError, ValueError):
                pass
            kernel.connection.close()
            os.close(kernel.alive)


def _send(connection: socket.socket, message: dict) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _read_request(connection: socket.socket) -> bytes:
    """One newline-terminated request (our own client sends it at once; a stalled one gets 5 s)."""
    connection.settimeout(5.0)
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_REQUEST_BYTES:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    connection.settimeout(None)
    return data


def _start_kernel(layout: Layout, argv: list[str], cgroups: list[str], new_root: Path, alive: int, held: int) -> None:
    """In the fork (root, pid 2 of its own pid namespace): join the sandbox's cgroup, confine, become the kernel; never returns.

    `alive` and `held` are the pipe whose write end (`held`) only the zygote keeps: EOF on `alive` means it died.
    """
    code = EXIT_CONFINE_FAILED
    try:
        from autograder.isolation import confine

        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.close(held)  # the zygote's alone, or its EOF never comes
        confine.arm_parent_death(alive)  # the zygote killed (its grader was): this kernel goes too (its init as well)
        os.dup2(alive, 3)
        os.closerange(4, 65536)  # the listener and every client connection stay with the zygote
        for folder in cgroups:  # before it unshares its cgroup namespace, whose root the cgroup then is
            Path(folder, "cgroup.procs").write_text("0")  # 0: the writer, whatever pid namespace it sees
        confine.enter(layout, new_root, 3)
    except BaseException as error:  # noqa: BLE001 - whatever failed, never run the kernel unconfined
        print(f"autograder.isolation.zygote: confinement failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(code)
    try:
        _run_kernel(argv)
        code = 0
    finally:
        os._exit(code)  # never back into the zygote's loop, whatever the kernel raised


def _run_kernel(argv: list[str]) -> None:
    """Become the Jupyter kernel, as `python -m autograder_stub.launch ARGV` would: guarded before any student code."""
    import ipykernel.debugger
    from autograder_stub import sourcememo
    from autograder_stub.launch import prepare
    from ipykernel.kernelapp import IPKernelApp

    prepare()
    sourcememo.install()  # what this zygote prepared (cell texts the grader named) stands in for IPython's work on them
    # Nobody debugs a grading kernel: ipykernel builds no Debugger and offers none, as where debugpy is not installed
    # (4 ms of each kernel's start). Its module stays imported by the zygote: each kernel's start imports it anyway.
    ipykernel.debugger._is_debugpy_available = False

    sys.argv = ["ipykernel_launcher", *argv]
    IPKernelApp.launch_instance(argv=argv)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fork confined Jupyter kernels from a warm process (root only).")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--idle", type=float, default=None, help="kept warm between commands: exit after this many seconds unused")
    parser.add_argument(
        "--one-lesson",
        action="store_true",
        help="serve the kernels of one lesson only: its blocked operators are blocked here once, for every kernel",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("autograder.isolation.zygote: must run as root (it confines each kernel itself)")
    if args.idle is not None:
        from autograder.isolation.warmsession import check_idle

        check_idle(args.idle)
    serve(args.socket, args.idle, one_lesson=args.one_lesson)


if __name__ == "__main__":
    main()
