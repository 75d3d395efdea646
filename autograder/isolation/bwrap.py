"""Confine untrusted student code: bubblewrap namespaces, an unprivileged uid, rlimits and a cgroup, cleaned up on exit."""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import shutil
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from autograder.engine.errors import AutograderError

GiB = 1024**3
MiB = 1024**2
# The uid the availability check runs as when the grader is root ("nobody" on Debian and Ubuntu).
SANDBOX_UID = 65534
# Each sandbox runs as a uid of its own from this range (no user has it), so RLIMIT_NPROC, which the
# kernel counts per uid, limits that sandbox alone and concurrent gradings never share a budget.
UID_RANGE = (1_000_000, 2_000_000)
# Environment variables passed into the sandbox when set outside; everything else is cleared.
PASSTHROUGH_ENV = ("AUTOGRADER_DEVICE", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
USERNS_SYSCTL = "kernel.apparmor_restrict_unprivileged_userns"
# Run before bwrap, by argv: joins the cgroup and makes root's staged bind mounts, then execs the rest.
PREBWRAP = Path(__file__).resolve().parent / "prebwrap.py"
# How often a cgroup being emptied is looked at (its processes die within milliseconds of the kill), and
# how long its folder may stay busy after that before it is left behind (swept by the next Cgroup.create).
CGROUP_POLL_S = 0.002
CGROUP_RMDIR_S = 1.0


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox; `merged` overrides some and keeps the declared defaults for the rest."""

    memory_bytes: int = 3 * GiB  # all processes together (cgroup), where cgroups can be written
    address_space_bytes: int = 4 * GiB  # each process (RLIMIT_AS); a torch kernel needs about 1.4 GiB
    cpu_seconds: int = 600  # each process (RLIMIT_CPU); cells also have a wall-clock limit
    processes: int = 128  # tasks (threads count) in the cgroup, and of the sandbox's uid (RLIMIT_NPROC)
    file_size_bytes: int = 64 * MiB  # largest file student code may write (RLIMIT_FSIZE)
    scratch_bytes: int = 256 * MiB  # size of each writable place: /tmp, the home and the work dir (tmpfs)
    open_files: int = 256  # RLIMIT_NOFILE

    def merged(self, **overrides: int) -> "Limits":
        """These limits with some replaced; unknown names fail loudly."""
        return dataclasses.replace(self, **overrides)


DEFAULT_LIMITS = Limits()


class SandboxUnavailable(AutograderError):
    """The sandbox cannot start here; the message says why and how to fix it."""

    def __init__(self, reason: str, fix: str) -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(f"the sandbox cannot start: {reason}; {fix}")

    @classmethod
    def no_bwrap(cls) -> "SandboxUnavailable":
        return cls("bubblewrap (bwrap) is not installed", "install it (`apt-get install bubblewrap`) or pass --no-sandbox")

    @classmethod
    def userns_denied(cls, detail: str) -> "SandboxUnavailable":
        return cls(
            f"unprivileged user namespaces are not allowed ({detail})",
            f"run `sudo sysctl -w {USERNS_SYSCTL}=0` (Ubuntu 24.04) or `sudo sysctl -w kernel.unprivileged_userns_clone=1`,"
            " grade inside a container, or pass --no-sandbox",
        )

    @classmethod
    def failed(cls, detail: str) -> "SandboxUnavailable":
        return cls(f"bwrap failed ({detail})", "see README.md, 'Sandbox', or pass --no-sandbox")


@dataclass(frozen=True)
class RunResult:
    """What a sandboxed command did: its exit, its output, and whether a limit ended it."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    duration: float
    timeout: bool = False
    oom_killed: bool = False


class Cgroup:
    """A cgroup (v1 memory+pids, or v2) holding every sandboxed process, so they can be limited, counted and killed."""

    def __init__(self, dirs: Sequence[Path], version: int) -> None:
        self.dirs = list(dirs)
        self.version = version

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        """A new cgroup under ours, or None where cgroups cannot be written (then rlimits alone apply)."""
        try:
            return cls._create_v1(name, limits) or cls._create_v2(name, limits)
        except OSError:
            return None

    @classmethod
    def _create_v1(cls, name: str, limits: Limits) -> "Cgroup | None":
        own = _own_cgroups()
        group = cls([], 1)
        try:
            for controller, setting, value in (
                ("memory", "memory.limit_in_bytes", limits.memory_bytes),
                ("pids", "pids.max", limits.processes),
            ):
                base = Path("/sys/fs/cgroup") / controller
                if controller not in own or not base.is_dir():
                    continue
                parent = base / own[controller].lstrip("/")
                _sweep(parent)
                folder = parent / name
                folder.mkdir()
                group.dirs.append(folder)
                (folder / setting).write_text(str(value))
                if controller == "memory":
                    _try_write(folder / "memory.memsw.limit_in_bytes", str(value))  # no swapping past the limit
        except OSError:
            group.remove()  # never half a cgroup
            raise
        return group if group.dirs else None

    @classmethod
    def _create_v2(cls, name: str, limits: Limits) -> "Cgroup | None":
        own = _own_cgroups().get("")
        base = Path("/sys/fs/cgroup")
        if own is None or not (base / "cgroup.controllers").exists():
            return None
        parent = base / own.lstrip("/")
        _sweep(parent)
        folder = parent / name
        folder.mkdir()
        group = cls([folder], 2)
        try:
            (folder / "memory.max").write_text(str(limits.memory_bytes))
            _try_write(folder / "memory.swap.max", "0")
            (folder / "pids.max").write_text(str(limits.processes))
        except OSError:
            group.remove()
            return None
        return group

    def join_args(self) -> list[str]:
        """The pre-bwrap step's options that move it into this cgroup before it execs the sandbox (see prebwrap.py)."""
        return [arg for folder in self.dirs for arg in ("--cgroup", str(folder))]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.dirs:
            try:
                found |= {int(line) for line in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                continue
        return found

    def kill_all(self, wait: float = 5.0) -> None:
        """SIGKILL every process in the group until none is left (forks race with the kill)."""
        deadline = time.monotonic() + wait
        if self.version == 2:
            _try_write(self.dirs[0] / "cgroup.kill", "1")  # atomic, no pid reuse race (Linux 5.14+)
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(CGROUP_POLL_S)

    @property
    def oom_killed(self) -> bool:
        """Whether the memory limit was hit (the kernel then killed or starved a process)."""
        for folder in self.dirs:
            if self.version == 2:
                events = _read_flat_keyed(folder / "memory.events")
                if events.get("oom_kill", 0) or events.get("oom", 0):
                    return True
            elif "memory" in folder.parts:
                control = _read_flat_keyed(folder / "memory.oom_control")
                if control.get("oom_kill", 0):
                    return True
                try:
                    if int((folder / "memory.failcnt").read_text()) > 0:
                        return True
                except (OSError, ValueError):
                    pass
        return False

    def remove(self) -> None:
        self.kill_all()
        for folder in self.dirs:
            deadline = time.monotonic() + CGROUP_RMDIR_S
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the last killed process is reaped
                    if time.monotonic() > deadline:
                        break
                    time.sleep(CGROUP_POLL_S)


class Sandbox:
    """A scratch directory and the command prefix that confines a process to it; a context manager that cleans up."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        readable: Sequence[Path] = (),
        hidden: Sequence[Path] = (),
        uid: int | None = None,
    ) -> None:
        self.limits = limits
        self.readable = [Path(p).resolve() for p in readable]
        self.hidden = [Path(p).resolve() for p in hidden]
        self.uid = uid if uid is not None else secrets.choice(range(*UID_RANGE))
        self.root: Path | None = None
        self.cgroup: Cgroup | None = None
        self.shared: list[str] = []  # the shared folder's entries (relative paths; folders end in "/"), see `share`

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> "Sandbox":
        """Create the scratch directory (only run/ is shared with the host) and the cgroup; check bwrap works here."""
        check_available()
        self.root = Path(tempfile.mkdtemp(prefix="autograder-sandbox-"))
        (self.root / "run").mkdir()
        if self.drops_privileges:
            for path in (self.root, self.run_dir):
                os.chown(path, self.uid, self.uid)
        self.cgroup = Cgroup.create(f"autograder-{uuid.uuid4().hex[:12]}", self.limits)
        if self.cgroup is None:
            _warn_once("no cgroup could be created here: per-process limits only (memory per process, tasks per uid)")
        return self

    def close(self) -> None:
        """Kill whatever still runs inside, then remove the cgroup and the scratch directory."""
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.shared = []

    def __enter__(self) -> "Sandbox":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -----------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self._root / "home"

    @property
    def workdir(self) -> Path:
        return self._root / "work"

    @property
    def run_dir(self) -> Path:
        """Where IPC sockets and the kernel's connection file live, at the same path inside and out."""
        return self._root / "run"

    @property
    def shared_dir(self) -> Path:
        """The sandbox's own copy of the folder given to `share` (host side: only its files are bound inside)."""
        return self._root / "shared"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the sandbox is not open")
        return self.root

    @property
    def drops_privileges(self) -> bool:
        """Root never runs bwrap itself (it would keep capabilities): it drops to the sandbox uid first."""
        return os.geteuid() == 0

    @property
    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_killed

    def share(self, folder: Path) -> list[str]:
        """Show the folder's regular files (recursively, no link followed) read-only in the work dir; what was shared.

        The files are copied into the scratch dir first, and each copy is bound read-only onto the same
        relative path in the work dir, which stays the sandbox's own writable tmpfs: the kernel reads
        them, cannot change them, and writes files of its own beside them. The folder itself (the
        grader's temporary folder, a course's autograded/ folder) is never mounted.
        """
        copy = self.shared_dir
        copy.mkdir(mode=0o755)
        entries = [f"{relative}/" if is_dir else relative for relative, is_dir in _copy_regular_files(Path(folder), copy)]
        self.shared = entries
        return entries

    def give(self, path: Path) -> None:
        """Let the sandbox uid read a file the grader wrote (the kernel's connection file)."""
        if self.drops_privileges:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    # -- commands --------------------------------------------------------------------
    def command(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[str]:
        """The full command line that runs argv confined: cgroup, staged mounts, rlimits, uid drop, then bwrap."""
        staged = self._staged_paths()
        steps = self.cgroup.join_args() if self.cgroup else []
        steps += [arg for source, target in staged.items() for arg in ("--bind", str(source), str(target))]
        prefix = ["unshare", "--mount", "--propagation", "private"] if staged else []
        # Every path is an argument of its own: no shell ever parses a line built from them.
        wrapper = [*prefix, sys.executable, "-I", "-S", str(PREBWRAP), *steps, "--"] if steps else []
        # The grader's environment never reaches the chain: bwrap stays pid 1 inside, readable by the
        # sandbox's uid, and its /proc/1/environ would show every variable it was started with.
        clean = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        return [*clean, *wrapper, *self._rlimits(), *self._drop(), *self._bwrap(staged, env, cwd), "--", *argv]

    def _staged_paths(self) -> dict[Path, Path]:
        """Read-only paths the sandbox uid cannot reach (e.g. a Python under /root), re-mounted through the scratch dir.

        bwrap runs as that uid and must open the source of each bind; root mounts those first, in a
        mount namespace of the sandbox's own, onto folders inside the scratch directory.
        """
        if not self.drops_privileges:
            return {}
        staged = {}
        for index, path in enumerate(_python_paths(self.readable)):
            if not _reachable_by_others(path):
                target = self._root / "mnt" / str(index)
                target.mkdir(parents=True, exist_ok=True)
                staged[path] = target
        return staged

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, stdin: bytes = b"") -> RunResult:
        """Run one command to completion in the sandbox; on timeout every process inside is killed."""
        started = time.monotonic()
        process = subprocess.Popen(
            self.command(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid)
            if self.cgroup is not None:
                self.cgroup.kill_all()
            out, err = process.communicate()
        return RunResult(
            exit_code=None if timed_out else process.returncode,
            stdout=out,
            stderr=err,
            duration=time.monotonic() - started,
            timeout=timed_out,
            oom_killed=self.oom_killed,
        )

    def _rlimits(self) -> list[str]:
        limits = self.limits
        args = [
            "prlimit",
            f"--as={limits.address_space_bytes}",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.file_size_bytes}",
            f"--nofile={limits.open_files}",
            "--core=0",
        ]
        # RLIMIT_NPROC counts every task of the uid: exact for the sandbox's own uid; for a grader that
        # is not root (sandbox and grader share the uid) it is added on top of what already runs.
        base = 0 if self.drops_privileges else _tasks_of(os.getuid())
        args.append(f"--nproc={base + limits.processes}")
        return args

    def _drop(self) -> list[str]:
        if not self.drops_privileges:
            return []
        return _setpriv(self.uid)

    def layout(self, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> "Layout":
        """What the sandboxed process sees: its mounts in order, its environment and where it starts."""
        size = self.limits.scratch_bytes
        mounts = [*_system_mounts(), Mount.proc("/proc"), Mount.dev("/dev", size), Mount.tmpfs("/tmp", size, 0o1777)]
        mounts += _gpu_mounts()
        for path in self.hidden:  # e.g. a course that lives under /usr: an empty folder in its place
            if path.is_relative_to("/usr") or path.is_relative_to("/etc"):
                mounts.append(Mount.tmpfs(str(path), 1 * MiB, 0o755))
        python = _python_paths(self.readable)
        mounts += [Mount.ro_bind(str(path)) for path in python]
        for path in self.hidden:  # e.g. the grader's own package installed in the environment's site-packages
            if any(path.is_relative_to(place) and path != place for place in python) and not any(
                path.is_relative_to(readable) or readable.is_relative_to(path) for readable in self.readable
            ):
                mounts.append(Mount.tmpfs(str(path), 1 * MiB, 0o755))
        mounts.append(Mount.bind(str(self.run_dir)))
        for place in (self.home, self.workdir):  # in memory, sized: nothing the student writes reaches the disk
            mounts.append(Mount.tmpfs(str(place), size, 0o700))
        for entry in self.shared:  # the notebook's folder (see `share`): folders of the sandbox's own, files read-only
            if entry.endswith("/"):
                mounts.append(Mount.dir(str(self.workdir / entry.rstrip("/")), 0o755))
            else:
                mounts.append(Mount.ro_bind(str(self.shared_dir / entry), str(self.workdir / entry)))
        return Layout(tuple(mounts), self.environment(env), str(cwd or self.workdir), self.uid, self.limits)

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The sandboxed process's whole environment: nothing of the grader's leaks in but PASSTHROUGH_ENV."""
        environment = {
            "HOME": str(self.home),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "MPLCONFIGDIR": str(self.home / ".matplotlib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",  # set and dict order of strings the same in every grading
            # One thread per math library: tasks stay few on many-core runners, results identical everywhere.
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "USER": "student",  # the uid has no passwd entry: getpass.getuser() reads these
            "LOGNAME": "student",
        }
        environment.update({key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ})
        environment.update(env or {})
        return environment

    def _bwrap(self, staged: Mapping[Path, Path], env: Mapping[str, str] | None, cwd: Path | None) -> list[str]:
        layout = self.layout(env, cwd)
        args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
        for mount in layout.mounts:
            args += mount.bwrap_args(staged)
        args += ["--chdir", layout.cwd]
        for key, value in layout.environment.items():
            args += ["--setenv", key, value]
        return args


class MountKind(str, enum.Enum):
    """How one path of the sandbox's file system is made (bubblewrap's vocabulary)."""

    RO_BIND = "ro-bind"
    BIND = "bind"
    DEV_BIND = "dev-bind"
    TMPFS = "tmpfs"
    SYMLINK = "symlink"
    PROC = "proc"
    DEV = "dev"
    DIR = "dir"


@dataclass(frozen=True)
class Mount:
    """One entry of a sandbox's file system: `target` inside, made from `source` (a host path, or a link's text)."""

    kind: MountKind
    target: str
    source: str = ""
    size: int = 0
    mode: int = 0o755

    @classmethod
    def ro_bind(cls, path: str, target: str | None = None) -> "Mount":
        return cls(MountKind.RO_BIND, target or path, path)

    @classmethod
    def bind(cls, path: str) -> "Mount":
        return cls(MountKind.BIND, path, path)

    @classmethod
    def dev_bind(cls, path: str) -> "Mount":
        return cls(MountKind.DEV_BIND, path, path)

    @classmethod
    def tmpfs(cls, target: str, size: int, mode: int) -> "Mount":
        return cls(MountKind.TMPFS, target, size=size, mode=mode)

    @classmethod
    def symlink(cls, text: str, target: str) -> "Mount":
        return cls(MountKind.SYMLINK, target, text)

    @classmethod
    def proc(cls, target: str) -> "Mount":
        return cls(MountKind.PROC, target)

    @classmethod
    def dir(cls, target: str, mode: int = 0o755) -> "Mount":
        """An empty folder, owned by the sandbox's uid."""
        return cls(MountKind.DIR, target, mode=mode)

    @classmethod
    def dev(cls, target: str, shm_bytes: int = 64 * MiB) -> "Mount":
        """A minimal /dev; `shm_bytes` sizes its /dev/shm where the sandbox builds it itself (bwrap sizes its own)."""
        return cls(MountKind.DEV, target, size=shm_bytes)

    def bwrap_args(self, staged: Mapping[Path, Path]) -> list[str]:
        """This entry as bwrap options (a bind whose source root staged elsewhere uses the staged copy)."""
        if self.kind is MountKind.TMPFS:
            return ["--size", str(self.size), "--perms", f"{self.mode:04o}", "--tmpfs", self.target]
        if self.kind is MountKind.DIR:
            return ["--perms", f"{self.mode:04o}", "--dir", self.target]
        if self.kind is MountKind.SYMLINK:
            return ["--symlink", self.source, self.target]
        if self.kind in (MountKind.PROC, MountKind.DEV):
            return [f"--{self.kind.value}", self.target]
        source = str(staged.get(Path(self.source), self.source))
        return [f"--{self.kind.value}", source, self.target]

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "kind": self.kind.value}

    @classmethod
    def from_json(cls, data: dict) -> "Mount":
        return cls(**{**data, "kind": MountKind(data["kind"])})


@dataclass(frozen=True)
class Layout:
    """Everything a confined process is given: mounts in order, environment, start folder, uid and limits."""

    mounts: tuple[Mount, ...]
    environment: dict[str, str]
    cwd: str
    uid: int
    limits: Limits

    def to_json(self) -> dict:
        return {
            "mounts": [m.to_json() for m in self.mounts],
            "environment": self.environment,
            "cwd": self.cwd,
            "uid": self.uid,
            "limits": dataclasses.asdict(self.limits),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Layout":
        return cls(
            tuple(Mount.from_json(m) for m in data["mounts"]),
            dict(data["environment"]),
            str(data["cwd"]),
            int(data["uid"]),
            Limits(**data["limits"]),
        )


@functools.lru_cache(maxsize=1)
def check_available() -> None:
    """Raise SandboxUnavailable, with the fix, unless bwrap can build a sandbox on this machine (checked once)."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable.no_bwrap()
    for tool in ("prlimit", "setpriv"):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"{tool} is not installed", "install util-linux, or pass --no-sandbox")
    system = [arg for mount in _system_mounts() for arg in mount.bwrap_args({})]
    argv = [*(_setpriv(SANDBOX_UID) if os.geteuid() == 0 else []), "bwrap", "--unshare-all", "--die-with-parent", *system, "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnavailable.failed(str(error)) from error
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        text = detail[0]
        if "uid map" in text or "namespace" in text or "Permission denied" in text or "Operation not permitted" in text:
            raise SandboxUnavailable.userns_denied(text)
        raise SandboxUnavailable.failed(text)


def _setpriv(uid: int) -> list[str]:
    """The command prefix that drops root to uid, with no groups and no capabilities, before bwrap."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]


def _system_mounts() -> list[Mount]:
    """The read-only system tree: /usr and /etc, and /bin, /lib… as the host has them (links or folders)."""
    mounts = [Mount.ro_bind("/usr"), Mount.ro_bind("/etc")]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            mounts.append(Mount.symlink(os.readlink(path), str(path)))
        elif path.is_dir():
            mounts.append(Mount.ro_bind(str(path)))
    return mounts


def _python_paths(extra: Sequence[Path]) -> list[Path]:
    """The interpreter's own tree (a venv may live outside /usr) and any extra read-only paths, without nesting."""
    candidates = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), *extra]
    kept: list[Path] = []
    for path in sorted(set(candidates), key=lambda p: len(p.parts)):
        if path.is_relative_to("/usr") or any(path.is_relative_to(k) for k in kept) or not path.exists():
            continue
        kept.append(path)
    return kept


def _copy_regular_files(source: Path, target: Path) -> list[tuple[str, bool]]:
    """Copy source's regular files into target (an empty folder), read-only (0444); links and special files are left out.

    Nothing is followed: every entry is looked at with lstat, and opened with O_NOFOLLOW and checked
    again, so a link swapped in meanwhile is skipped too. A folder that holds target (the sandbox's own
    scratch folder, when the shared folder is the temporary folder it lives in) is left out, or the copy
    would copy itself. Returns (relative path, is a folder) of what was made, each folder before what it holds.
    """
    made: list[tuple[str, bool]] = []
    holding_target = {_identity(folder) for folder in [target, *target.parents]}

    def walk(folder: Path, relative: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            path = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:  # gone since the listing
                    continue
                if (info.st_dev, info.st_ino) in holding_target:
                    continue
                (target / path).mkdir(mode=0o755)
                made.append((path, True))
                walk(Path(entry.path), f"{path}/")
            elif entry.is_file(follow_symlinks=False) and _copy_file(Path(entry.path), target / path):
                made.append((path, False))

    walk(source, "")
    return made


def _identity(path: Path) -> tuple[int, int]:
    """A folder's device and inode, which no path spelling or bind changes."""
    info = os.lstat(path)
    return info.st_dev, info.st_ino


def _copy_file(source: Path, target: Path) -> bool:
    """Copy one regular file, never through a link; False (and nothing made) when it is not one, or cannot be read."""
    try:
        reading = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(reading).st_mode):
            return False
        writing = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444)
        with open(reading, "rb", closefd=False) as src, open(writing, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        os.chmod(target, 0o444)  # whatever the umask
        return True
    finally:
        os.close(reading)


def _reachable_by_others(path: Path) -> bool:
    """Whether a uid with no special rights can walk to path and read it (every folder above searchable)."""
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _gpu_mounts() -> list[Mount]:
    """NVIDIA device nodes, when the tests run on CUDA (AUTOGRADER_DEVICE=cuda…)."""
    if not os.environ.get("AUTOGRADER_DEVICE", "").startswith("cuda"):
        return []
    return [*(Mount.dev_bind(str(node)) for node in sorted(Path("/dev").glob("nvidia*"))), Mount.ro_bind("/sys")]


def _sweep(parent: Path) -> None:
    """Remove empty cgroups that graders killed with SIGKILL left behind (rmdir only succeeds on empty ones)."""
    old = time.time() - 600  # a younger one may belong to a grading that is just starting
    for stale in parent.glob("autograder-*"):
        try:
            if stale.stat().st_mtime < old:
                stale.rmdir()
        except OSError:
            pass


_warned: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _warned:
        _warned.add(text)
        print(f"autograder: warning: sandbox: {text}", file=sys.stderr)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller ('' for the v2 unified hierarchy)."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def _read_flat_keyed(path: Path) -> dict[str, int]:
    values = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                values[key] = int(value)
    except OSError:
        pass
    return values


def _try_write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass


def _tasks_of(uid: int) -> int:
    """How many tasks (threads included, as RLIMIT_NPROC counts them) the uid runs now."""
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                count += len(list((proc / "task").iterdir()))
        except OSError:
            continue
    return count


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
