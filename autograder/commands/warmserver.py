"""The kept-warm command server: `autograder grade` and `autograde` run in a fork of a process that has imported everything already.

With a warm kernel process kept (`autograder warm`), a one-notebook grading still spends most of its time
in its own process: importing nbgrader (0.6 s) and torch (1.1 s, for the checks), which then compete with
the kernel's client for the interpreter lock. This server, started by `autograder warm` beside the kept
kernel process, has imported all of it once, and forks one child per command (a batch's child forks its
first grading worker in turn, which then imports nothing). The child takes the
caller's standard streams (passed over the socket), working folder, umask and environment, and runs the
command line exactly as `autograder` would; the caller gets the exit status back (warmclient.py). A
signal the caller gets (Ctrl-C) is passed on to the child; a caller that vanishes has its child stopped.

Only root can reach the socket (a private folder); it is found by the session's key (warmsession.py) and
by the environment it imported under (`import_environment_key`): a caller whose environment differs in
what imports read runs the command itself instead.

Run as `python -m autograder.commands.warmserver --socket PATH --idle SECONDS`; it prints "ready" once warm.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.heap import importing
from autograder.commands.warmprotocol import CHUNK, FORWARDED_VERBS, IGNORABLE_SIGNALS, LIMITS, RELAYED_SIGNALS, STREAMS
from autograder.isolation.warmsession import READY, STOP_WAIT_S, Listening, check_idle
from autograder.isolation.zygote import MAX_REQUEST_BYTES, detach_stdout

# The namespaces a caller must share with the server (`other_context`).
NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user")



@dataclass
class _Running:
    """One command: the child running it and the caller's connection."""

    pid: int
    connection: socket.socket
    stopping_since: float | None = None


def warm_up() -> None:
    """Import what a grading imports, and check once that kernels can be confined (children inherit the answer)."""
    import importlib
    import pkgutil

    import autograder.cli  # noqa: F401  (the command line, its verbs, the course and results code)
    import autograder.lessons
    from autograder.engine.parallel import GRADING_MODULES
    from autograder.engine.submission import compile_schema_checks
    from autograder.isolation.zygote import Zygote

    for module in GRADING_MODULES:  # not the batch's lifeline: this server outlives the command that started it
        importlib.import_module(module)
    for info in pkgutil.walk_packages(autograder.lessons.__path__, "autograder.lessons."):  # the lessons shipped here
        importlib.import_module(info.name)
    compile_schema_checks()
    Zygote.available()


def serve(socket_path: Path, idle: float, log: "TextLog") -> None:
    """Answer commands until `idle` seconds pass with none running and no caller."""
    with importing():
        warm_up()
    # No Python thread may run at a fork. torch's native pool is as in the batch's first worker, which also forks
    # after importing torch: torch resets it in each child.
    if threading.active_count() != 1:
        raise RuntimeError("the command server must have no Python thread running to fork safely")
    listening = Listening.on(socket_path, backlog=16)
    selector = listening.selector
    running: dict[int, _Running] = {}
    print(READY, flush=True)
    detach_stdout()
    used = time.monotonic()
    while True:
        wait = 0.5 if running else max(0.0, used + idle - time.monotonic())
        events = selector.select(wait)
        if not events and not running and time.monotonic() >= used + idle:
            if listening.leave():
                log.write("idle: stopped")
                return
            continue
        for key, _ in events:
            if not listening.handled(key):
                _on_connection(key.fileobj, running, listening, log)
            used = time.monotonic()
        _reap(running, selector, log)
        _enforce_stops(running)
        if running:
            used = time.monotonic()


def _on_connection(connection: socket.socket, running: dict[int, _Running], listening: Listening, log: "TextLog") -> None:
    """A new caller's request, a signal from a caller (one byte, its number), or a caller gone."""
    selector = listening.selector
    owner = next((r for r in running.values() if r.connection is connection), None)
    if owner is not None:
        try:
            data = connection.recv(64)
        except OSError:
            data = b""
        if not data:  # the caller vanished: its command is stopped, then killed
            selector.unregister(connection)
            _signal(owner.pid, signal.SIGTERM)
            _signal(owner.pid, signal.SIGCONT)  # a command stopped by Ctrl-Z ends too
            owner.stopping_since = time.monotonic()
            return
        for number in data:
            if number in RELAYED_SIGNALS:
                _signal(owner.pid, number)
        return
    try:
        request, streams, pending = _receive(connection)
    except (EOFError, OSError, ValueError) as error:  # a probe, or nonsense: nothing runs
        if not isinstance(error, EOFError):
            log.write(f"refused a request: {type(error).__name__}: {error}")
        selector.unregister(connection)
        connection.close()
        return
    elsewhere = _other_context(connection)
    if elsewhere is not None:  # the caller would not see the same files, or not run where we do: it runs the command itself
        log.write(f"left to the caller: {elsewhere}")
        _reply(connection, {"local": elsewhere})
        selector.unregister(connection)
        connection.close()
        for fd in streams:
            os.close(fd)
        return
    # The caller's signals stay blocked in the child until its own handlers are set (then they land in the command).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, RELAYED_SIGNALS)
    try:
        pid = os.fork()
    except OSError as error:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _reply(connection, {"error": f"cannot fork: {error}"})
        selector.unregister(connection)
        connection.close()
        for fd in streams:
            os.close(fd)
        return
    if pid == 0:
        _child(request, streams, listening, pending, blocked)  # never returns
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    for fd in streams:
        os.close(fd)
    running[pid] = _Running(pid, connection)
    log.write(f"started {' '.join(request['argv'][:1])} (pid {pid}) in {request['cwd']}")


def _receive(connection: socket.socket) -> tuple[dict, list[int], bytes]:
    """The request: JSON (argv, cwd, env, umask, limits, nice, cpus) ending in a newline, the standard streams alongside it.

    Also the signals the caller already relayed (one byte each, after the newline: Ctrl-C pressed at once).
    Raises EOFError for a connection closed at once (a probe), ValueError for anything else unusable;
    no stream received is left open then.
    """
    streams: list[int] = []
    try:
        request, pending = _parse(connection, streams)
        return request, streams, pending
    except BaseException:
        for fd in streams:
            os.close(fd)
        raise


def _parse(connection: socket.socket, streams: list[int]) -> tuple[dict, bytes]:
    connection.settimeout(5.0)
    data = b""
    while b"\n" not in data:
        chunk, fds, _flags, _addr = socket.recv_fds(connection, CHUNK, STREAMS)
        streams += fds
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("request too large")
    connection.settimeout(None)
    if not data:
        raise EOFError("connection closed at once (a probe)")
    if len(streams) != STREAMS:
        raise ValueError(f"expected {STREAMS} streams, got {len(streams)}")
    line, _, pending = data.partition(b"\n")
    request = json.loads(line)
    if not (
        isinstance(request, dict)
        and isinstance(request.get("argv"), list)
        and request["argv"][:1] != []
        and request["argv"][0] in FORWARDED_VERBS
        and all(isinstance(a, str) for a in request["argv"])
        and isinstance(request.get("cwd"), str)
        and isinstance(request.get("env"), dict)
        and isinstance(request.get("umask"), int)
        and isinstance(request.get("nice"), int)
        and isinstance(request.get("cpus"), list)
        and request["cpus"] != []
        and all(isinstance(cpu, int) and cpu >= 0 for cpu in request["cpus"])
        and isinstance(request.get("limits"), dict)
        and all(name in LIMITS and isinstance(pair, list) and len(pair) == 2 for name, pair in request["limits"].items())
        and isinstance(request.get("ignored", []), list)
        and all(type(number) is int and number in IGNORABLE_SIGNALS for number in request.get("ignored", []))
    ):
        raise ValueError("malformed request")
    return request, pending


def _other_context(connection: socket.socket) -> str | None:
    """How the caller's process differs from ours in what a command sees (files, processes, cgroup); None when it does not.

    A caller in another mount namespace or chroot (a service's private /tmp, a container) names other files
    with the same paths; one in another pid, network or cgroup namespace or cgroup runs elsewhere.
    """
    pid, _uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    try:
        for namespace in NAMESPACES:
            if _identity(f"/proc/{pid}/ns/{namespace}") != _identity(f"/proc/self/ns/{namespace}"):
                return f"another {namespace} namespace"
        if _identity(f"/proc/{pid}/root") != _identity("/proc/self/root"):
            return "another root folder"
        if Path(f"/proc/{pid}/cgroup").read_text() != Path("/proc/self/cgroup").read_text():
            return "another cgroup"
    except OSError as error:
        return f"its process cannot be looked at ({error.strerror})"
    return None


def _identity(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _child(request: dict, streams: list[int], listening: Listening, pending: bytes, mask: set[signal.Signals]) -> None:
    """Become the caller's `autograder` command: its streams, folder, umask, limits, priority and environment; never returns.

    The caller's signals arrive blocked (the server blocks them around the fork); they are let in once our
    handlers are set, with `pending`, those the caller relayed along with its request. Ctrl-C or SIGTERM then
    ends the command as `autograder` itself would be: 130, "interrupted".
    """
    code = 1
    try:
        from autograder.isolation.confine import die_with_parent

        server = os.getppid()
        die_with_parent()  # the server gone, its caller was told: nothing grades on unseen
        if os.getppid() != server:  # it died before the line above took effect
            os._exit(code)
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGHUP, signal.SIGTSTP, signal.SIGCONT):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for number in request.get("ignored", []):  # ignored by the caller, as a command started there would inherit
            signal.signal(number, signal.SIG_IGN)
        from autograder.cli import terminated_as_interrupt

        signal.signal(signal.SIGTERM, terminated_as_interrupt)  # as cli.main sets it
        listening.close_all()
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        _standard_streams()
        for number in pending:
            if number in RELAYED_SIGNALS:
                _signal(os.getpid(), number)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        for name, (soft, hard) in request["limits"].items():
            resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
        os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
        os.sched_setaffinity(0, request["cpus"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        tempfile.tempdir = None  # found again from the caller's TMPDIR, not the one the server looked up
        sys.argv = ["autograder", *request["argv"]]
        from autograder.cli import main
        from autograder.isolation.zygote import close_shared

        code = main(request["argv"])
        close_shared()
    except SystemExit as stop:  # argparse's --help and usage errors
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    except KeyboardInterrupt:  # Ctrl-C before the command's own handler: what `autograder` says then
        from autograder.cli import EXIT_INTERRUPTED, INTERRUPTED

        print(INTERRUPTED, file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BaseException:  # noqa: BLE001 - as an uncaught exception would end `autograder`: its traceback, status 1
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _standard_streams() -> None:
    """Python's own standard streams on the caller's descriptors: the same encodings, error handlers and buffering."""
    unbuffered = bool(getattr(sys.__stdout__, "write_through", False))  # python -u or PYTHONUNBUFFERED, as the server started
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding=sys.__stdin__.encoding, errors=sys.__stdin__.errors)
    sys.stdout = io.TextIOWrapper(
        open(1, "wb", closefd=False),
        encoding=sys.__stdout__.encoding,
        errors=sys.__stdout__.errors,
        line_buffering=os.isatty(1),
        write_through=unbuffered,
    )
    sys.stderr = io.TextIOWrapper(
        open(2, "wb", closefd=False), encoding=sys.__stderr__.encoding, errors=sys.__stderr__.errors, line_buffering=True, write_through=unbuffered
    )


def _reap(running: dict[int, _Running], selector: selectors.BaseSelector, log: "TextLog") -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        done = running.pop(pid, None)
        if done is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        log.write(f"pid {pid} ended: {code}")
        _reply(done.connection, {"exit": code})
        try:
            selector.unregister(done.connection)
        except (KeyError, ValueError):
            pass
        done.connection.close()


def _enforce_stops(running: dict[int, _Running]) -> None:
    now = time.monotonic()
    for command in running.values():
        if command.stopping_since is not None and now - command.stopping_since > STOP_WAIT_S:
            _signal(command.pid, signal.SIGKILL)


def _reply(connection: socket.socket, message: dict) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _signal(pid: int, number: int) -> None:
    """Pass a signal on to a command: SIGTSTP as SIGSTOP (nothing here is a terminal's foreground job, which SIGTSTP may skip)."""
    if number not in (*RELAYED_SIGNALS, signal.SIGKILL):
        return
    try:
        os.kill(pid, signal.SIGSTOP if number == signal.SIGTSTP else number)
    except ProcessLookupError:
        pass


class TextLog:
    """One line per event in the server's log (its stderr), with the time."""

    def write(self, line: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run `autograder` commands in forks of a warm process (root only).")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--idle", type=float, required=True)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("autograder.commands.warmserver: must run as root (only root may reach its socket)")
    serve(args.socket, check_idle(args.idle), TextLog())


if __name__ == "__main__":
    main()
