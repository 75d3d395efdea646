"""The caller's side of the kept-warm command server: hand `autograder grade` or `autograde` over, relay signals, return its status."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys
from pathlib import Path

from autograder.commands.warmprotocol import CHUNK, FORWARDED_VERBS, IGNORABLE_SIGNALS, LIMITS, RELAYED_SIGNALS, STREAMS, server_name
from autograder.outputs.outfiles import current_umask

# What the caller prints when the server went away before the command ended.
SERVER_GONE = "autograder: the warm process stopped before the command ended; run it again"


def server_socket(environment: dict[str, str]) -> Path | None:
    """The command server kept warm for this code, machine and environment, if one listens; found without starting anything."""
    from autograder.isolation import warmsession
    from autograder.isolation.zygote import kept_warm_place

    try:
        folder = kept_warm_place()[0]
    except OSError:
        return None
    path = folder / f"{server_name(environment)}.sock"
    return path if warmsession.private(folder) and warmsession.private(path) else None


def forward(argv: list[str]) -> int | None:
    """Run the command in the kept-warm server, if it handles it and one runs; its exit status, or None to run it here."""
    if argv[:1] == [] or argv[0] not in FORWARDED_VERBS or os.geteuid() != 0:
        return None
    path = server_socket(dict(os.environ))
    if path is None:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": current_umask(),
            "limits": caller_limits(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "cpus": sorted(os.sched_getaffinity(0)),
            "ignored": ignored_signals(),
        }
        connection.connect(str(path))
        payload = json.dumps(request).encode() + b"\n"
        sent = socket.send_fds(connection, [payload[:CHUNK]], list(range(STREAMS)))
        connection.sendall(payload[sent:])
    except OSError:  # gone between the look and the call: run it here
        connection.close()
        return None
    return _wait(connection)


def _wait(connection: socket.socket) -> int | None:
    """Relay the signals this process gets until the server says how the command ended (None: run it here)."""
    ignored = ignored_signals()  # left ignored here (nohup, a script's background job): the command ignores them too
    previous = {
        number: signal.signal(number, lambda number, _frame: _relay(connection, number)) for number in RELAYED_SIGNALS if number not in ignored
    }
    try:
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = connection.recv(4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        connection.close()
    try:
        reply = json.loads(data)
        if "local" in reply:  # the server will not run it for this process (another namespace, cgroup): run it here
            return None
        code = int(reply["exit"])
    except (ValueError, KeyError, TypeError):
        print(SERVER_GONE, file=sys.stderr)
        return 1
    return code if code >= 0 else 128 - code


def _relay(connection: socket.socket, number: int) -> None:
    try:
        connection.send(bytes([number]))
    except OSError:
        pass
    if number == signal.SIGTSTP:  # Ctrl-Z: the command is stopped (above); this process stops as it would have
        os.kill(os.getpid(), signal.SIGSTOP)


def ignored_signals() -> list[int]:
    """The signals this process ignores among those a command may ignore (its command, run elsewhere, ignores them too)."""
    return [int(number) for number in IGNORABLE_SIGNALS if signal.getsignal(number) == signal.SIG_IGN]


def caller_limits() -> dict[str, list[int]]:
    """This process's resource limits (ulimit), which the command keeps in the server's child."""
    return {name: list(resource.getrlimit(getattr(resource, name))) for name in LIMITS}
