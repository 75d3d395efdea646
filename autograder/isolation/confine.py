"""Confine the calling process itself to a sandbox Layout with Linux system calls: what bwrap does, without an exec.

A warm process (autograder.isolation.zygote) that has already imported torch forks one child per kernel into a new
pid namespace (`fork_into_pid_namespace`), whose init is a tiny reaper (REAPER, started by initserver.py); the child
calls `enter` to put itself in fresh namespaces, a new root built from the layout, the layout's limits and an unprivileged uid, and then
becomes the Jupyter kernel, with every module still in memory. Only root can do this (it needs no user namespace); everything happens before
any student code runs, and any failure ends the child instead of running it unconfined.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import resource
import select
import signal
import socket
import stat
import struct
import sys
from pathlib import Path

from autograder.isolation.bwrap import Layout, Mount, MountKind

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# The kernel's own (it unshares them itself, as root, before it builds its root). Its pid namespace is made by the
# init server (initserver.py); the namespace's init, a reaper, stays in the host's other namespaces.
NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
HOSTNAME = "sandbox"
PROC_OPTIONS = "hidepid=invisible"  # Linux 5.8, as setns through a pidfd
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


class ConfineError(OSError):
    """A step of the confinement failed: the process must not go on to run untrusted code."""

    def __init__(self, step: str, code: int) -> None:
        self.step = step
        self.code = code
        super().__init__(code, f"{step}: {os.strerror(code)}")

    @classmethod
    def from_errno(cls, step: str) -> "ConfineError":
        return cls(step, ctypes.get_errno())


def _check(result: int, step: str) -> None:
    if result != 0:
        raise ConfineError.from_errno(step)


def unshare_namespaces() -> None:
    """New mount, network, IPC, UTS and cgroup namespaces for this process (see NAMESPACES)."""
    _check(_libc.unshare(NAMESPACES), "unshare")


def fork_into_pid_namespace(init: int, home: int) -> int:
    """os.fork, the child born into the pid namespace whose init `init` is (a pidfd); later children in `home` again.

    `home` is an fd on this process's own pid namespace. The namespace and its init are made by another process
    (initserver.py): were this one, which has torch in memory, to start the init (a fork, even a vfork, before its
    exec), a sum of RSS would count all that once more for a moment.
    """
    _check(_libc.setns(init, CLONE_NEWPID), "enter the kernel's pid namespace")
    try:
        pid = os.fork()
    except BaseException:
        _set_pid_namespace(home)
        raise
    if pid != 0:
        try:
            _set_pid_namespace(home)
        except OSError:
            os.kill(pid, signal.SIGKILL)  # never left running with nobody to wait for it
            os.waitpid(pid, 0)
            raise
    return pid


def _set_pid_namespace(home: int) -> None:
    _check(_libc.setns(home, CLONE_NEWPID), "set the pid namespace back")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)), f"mount {target}")


def build_root(layout: Layout, new_root: Path) -> None:
    """Mount the layout's file system on new_root (a tmpfs), then make it this process's root and drop the host's."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    new_root.mkdir()  # its parent is the sandbox's scratch dir: gone means the grading is over, so stop
    _mount("tmpfs", str(new_root), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for mount in layout.mounts:
        _apply(mount, new_root, layout.uid)
    os.chdir(new_root)
    os.mkdir(".oldroot")
    machine = platform.machine()
    if machine not in SYS_PIVOT_ROOT:
        raise ConfineError("pivot_root", errno.ENOSYS)
    _check(_libc.syscall(SYS_PIVOT_ROOT[machine], b".", b".oldroot"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _apply(mount: Mount, new_root: Path, uid: int) -> None:
    target = new_root / mount.target.lstrip("/")
    kind = mount.kind
    if kind is MountKind.SYMLINK:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(mount.source, target)
    elif kind is MountKind.TMPFS:
        target.mkdir(parents=True, exist_ok=True)
        owner = f",uid={uid},gid={uid}" if mount.mode & 0o777 == 0o700 else ""
        _mount("tmpfs", str(target), "tmpfs", MS_NOSUID | MS_NODEV, f"size={mount.size},mode={mount.mode:o}{owner}")
    elif kind is MountKind.PROC:
        target.mkdir(parents=True, exist_ok=True)
        # Only the sandbox uid's own processes: the namespace's init is root and lives in the host's mount and
        # network namespaces, whose tables its /proc entries would show (mountinfo, net/unix...) to anyone.
        _mount("proc", str(target), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, PROC_OPTIONS)
    elif kind is MountKind.DEV:
        _make_dev(target, mount.size)
    elif kind is MountKind.DIR:  # as bwrap's --dir: a folder the sandbox's uid owns
        target.mkdir(parents=True, exist_ok=True)
        os.chown(target, uid, uid, follow_symlinks=False)
        os.chmod(target, mount.mode)
    else:
        _bind(mount.source, target, writable=kind is not MountKind.RO_BIND, devices=kind is MountKind.DEV_BIND)


def _bind(source: str, target: Path, *, writable: bool, devices: bool = False) -> None:
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    _mount(source, str(target), None, MS_BIND)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if devices else MS_NODEV) | (0 if writable else MS_RDONLY)
    _mount(None, str(target), None, flags)


def _make_dev(target: Path, shm_bytes: int) -> None:
    """A minimal /dev: the harmless character devices, the usual links, its own ptys, and a sized shm."""
    target.mkdir(parents=True, exist_ok=True)
    _mount("tmpfs", str(target), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            _bind(f"/dev/{name}", target / name, writable=True, devices=True)
    for name, text in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        os.symlink(text, target / name)
    (target / "shm").mkdir()
    _mount("tmpfs", str(target / "shm"), "tmpfs", MS_NOSUID | MS_NODEV, f"size={shm_bytes},mode=1777")
    (target / "pts").mkdir()
    _mount("devpts", str(target / "pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")


def loopback_up() -> None:
    """Bring up `lo` in the new network namespace (the kernel binds an internal pipe on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def set_limits(layout: Layout) -> None:
    limits = layout.limits
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))


def drop_privileges(uid: int) -> None:
    """Become uid/gid `uid` with no groups and no capabilities, for good (no setuid program can give them back)."""
    for capability in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            raise ConfineError.from_errno("drop capability bounding set")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.getuid() != uid or os.geteuid() != uid or _has_capabilities():
        raise ConfineError("drop privileges", errno.EPERM)


def _has_capabilities() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("CapEff:", "CapPrm:", "CapAmb:")) and int(line.split()[1], 16) != 0:
            return True
    return False


def adopt_orphans() -> None:
    """Be the reaper of this process's orphaned descendants (a replaced init server's inits), not the host's init."""
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "child subreaper")


def die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent death signal")


def enter(layout: Layout, new_root: Path, parent_alive: int) -> None:
    """In the kernel's process (root, pid 2 of its own pid namespace): the sandbox's namespaces, root, limits and uid.

    Any failure raises: the caller must then exit, never run the kernel. The namespace's init (pid 1, root, the
    reaper) stays outside everything built here; when it is killed, so is everything in the namespace. The kernel
    dies with its parent, the zygote: `parent_alive` as in `arm_parent_death`, armed again after the uid changes.
    """
    _write_file("/proc/self/oom_score_adj", "1000")  # under memory pressure the kernel goes first, never the zygote
    unshare_namespaces()
    build_root(layout, new_root)
    loopback_up()
    socket.sethostname(HOSTNAME)
    set_limits(layout)
    os.environ.clear()
    os.environ.update(layout.environment)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # the zygote's stdout (a pipe to the grader) stays out of the sandbox
    drop_privileges(layout.uid)
    arm_parent_death(parent_alive)  # a credential change clears it
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")  # no ptrace or /proc/N/fd from the sandbox's other processes
    os.dup2(null, 2)  # set-up is done: the zygote's log goes too
    os.chdir(layout.cwd)
    os.setsid()
    _quiet_stdio()
    _reseed()


# What the namespace's init runs (initserver.py execs it): `python -I -S -c REAPER ALIVE_FD`. ALIVE_FD is the read
# end of a pipe whose write end only the zygote holds: at its EOF (at once, if it already is) the zygote is gone, and
# the init exits, taking its namespace with it; it does not die with its parent, the init server, which may be
# replaced while kernels run. It sets itself undumpable (no ptrace or /proc/1/fd into it, whatever its uid), closes
# every other fd, and meanwhile reaps whatever is orphaned to it. It is killed by the zygote once the kernel, the
# namespace's pid 2, has ended. prctl is called through the built-in _ctypes, as ctypes.CDLL(None).prctl would
# (importing ctypes costs 1.5 ms).
REAPER = """
import _ctypes, _signal, os, select, sys
class Int(_ctypes._SimpleCData):
    _type_ = "i"
class Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL
    _restype_ = Int
class ThisProcess:
    _handle = _ctypes.dlopen(None)
if Function(("prctl", ThisProcess()))(4, 0, 0, 0, 0) != 0 or len(sys.argv) != 2 or not sys.argv[1].isdigit():
    os._exit(1)
alive = int(sys.argv[1])
os.fstat(alive)
os.closerange(3, alive)
os.closerange(alive + 1, 65536)
_signal.signal(_signal.SIGINT, _signal.SIG_IGN)
woken, wake = os.pipe()
os.set_blocking(wake, False)
_signal.set_wakeup_fd(wake)
_signal.signal(_signal.SIGCHLD, lambda number, frame: None)
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    if alive in select.select([alive, woken], [], [])[0]:
        os._exit(0)
    os.read(woken, 512)
"""


# The same reaper in C (autograder/isolation/reaper.c), which `make install` builds beside the interpreter: it starts
# in about 0.5 ms of CPU where a second interpreter takes about 12, once per warm kernel.
COMPILED_REAPER = "autograder-reaper"


def compiled_reaper(folder: str | None = None) -> str | None:
    """The C reaper in `folder` (the interpreter's): a regular file (not a link), executable, without set-id bits,
    owned by root or by the folder's owner and writable by no one else; None otherwise (the Python one runs)."""
    folder = folder or os.path.dirname(sys.executable)
    path = os.path.join(folder, COMPILED_REAPER)
    try:
        found = os.lstat(path)
        owners = {0, os.stat(folder).st_uid}
    except OSError:
        return None
    mode = found.st_mode
    plain = stat.S_ISREG(mode) and bool(mode & 0o111) and not mode & (stat.S_ISUID | stat.S_ISGID | 0o022)
    return path if plain and found.st_uid in owners else None


def arm_parent_death(parent_alive: int) -> None:
    """SIGKILL when the parent dies; if it already died, stop here (the signal would never come).

    `parent_alive` is the read end of a pipe whose write end only the parent holds: at EOF it is gone (a pid
    namespace's init cannot ask getppid()).
    """
    die_with_parent()
    readable, _, _ = select.select([parent_alive], [], [], 0)
    if readable:  # EOF: the only writer, the parent, is gone
        os._exit(1)


def _write_file(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _reseed() -> None:
    """Fresh random state per kernel, as a cold start has (forks would otherwise share the zygote's)."""
    import random
    import sys

    random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _quiet_stdio() -> None:
    """The kernel's own fds 0-2 go to /dev/null; nothing else of the warm process stays open."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 65536)


def self_test() -> None:
    """Check that this process may do what the init server, `fork_into_pid_namespace` and `enter` need (root with CAP_SYS_ADMIN: not so in most containers).

    Run in a throwaway child process (zygote._can_confine forks one): it unshares every namespace, mounts a
    tmpfs and brings up its loopback.
    """
    _check(_libc.unshare(NAMESPACES | CLONE_NEWPID), "unshare")
    itself = os.pidfd_open(os.getpid())  # Linux 5.3; setns through a pidfd, below, 5.8
    try:
        _check(_libc.setns(itself, CLONE_NEWPID), "setns through a pidfd")
    finally:
        os.close(itself)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k")
    os.mkdir("/tmp/proc")
    _mount("proc", "/tmp/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, PROC_OPTIONS)
    loopback_up()
