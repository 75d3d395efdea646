"""The first grading worker: it imports what gradings need once, forks its siblings, and grades too.

A fork server would hold a third copy of torch and nbgrader that never grades (about 280 MiB of
resident memory on a 2-worker batch); here the process that imported them is itself a worker. Started by
`autograder.engine.forkpool` as `python -m autograder.engine.poolhost PARENT FD...`: one connection per
worker it may become, messages as forkpool describes. It dies with the process that started it, and its
siblings die with it (the parent-death signal), so killing the grader leaves no worker grading on.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

from autograder.engine.heap import importing
from autograder.isolation.confine import die_with_parent

# Messages (tuples whose first item is one of these).
START = "start"  # to the host: (START, sys_path, modules), sent at once
GO = "go"  # to the host: (GO, workers, environment), once the batch knows its size and warm process
READY = "ready"  # from each worker: (READY, pid)
OK = "ok"  # from a worker: (OK, value)
ERROR = "error"  # from a worker: (ERROR, exception)


def main(argv: list[str]) -> int:
    """Import, fork the siblings the batch wants, then grade on the first connection until the grader closes it."""
    die_with_parent()
    if os.getppid() != int(argv[0]):  # the grader died before the line above took effect
        return 1
    connections = [Connection(int(fd)) for fd in argv[1:]]
    try:
        kind, sys_path, modules = connections[0].recv()
        assert kind == START
        sys.path[:] = sys_path
        with importing():
            for module in modules:
                importlib.import_module(module)
        kind, workers, environment = connections[0].recv()
        assert kind == GO
    except (EOFError, OSError):  # the grader hung up before it needed us (nothing to grade, or it stopped)
        return 0
    for key, value in environment.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for unused in connections[workers:]:
        unused.close()
    if threading.active_count() != 1:
        raise RuntimeError("the grading host must have no Python thread running to fork its siblings safely")
    host = os.getpid()
    siblings = []
    for mine in connections[1:workers]:
        pid = os.fork()
        if pid == 0:
            _sibling(mine, connections[:workers], host)  # never returns
        siblings.append(pid)
        mine.close()
    code = serve(connections[0])
    for pid in siblings:  # they see the grader's end closed as we did
        os.waitpid(pid, 0)
    return code


def _sibling(mine: Connection, connections: list[Connection], host: int) -> None:
    """In a forked sibling: die with the host, keep only our own connection, grade; never returns."""
    code = 1
    try:
        die_with_parent()
        if os.getppid() == host:
            for other in connections:
                if other is not mine:
                    other.close()
            code = serve(mine)
    except KeyboardInterrupt:
        code = 130
    except Exception:  # noqa: BLE001 - said on the grader's standard error; the grader sees this worker gone
        traceback.print_exc()
    finally:
        os._exit(code)


def serve(connection: Connection) -> int:
    """Run each task (a function and its arguments) and send back its value or its exception, until the grader hangs up."""
    try:
        connection.send((READY, os.getpid()))
    except OSError:  # the grader hung up before any task
        return 0
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            return 0
        try:
            connection.send_bytes(_answer(message))
        except OSError:
            return 0


def _answer(message: bytes) -> bytes:
    """The pickled reply to one pickled task: its value, or its exception with where it happened (never raises but to stop us)."""
    try:
        function, args = pickle.loads(message)
        reply = (OK, function(*args))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - asyncio's CancelledError too: the task's failure, not the worker's
        error.add_note("".join(traceback.format_exception(error)).rstrip())
        reply = (ERROR, error)
    try:
        return ForkingPickler.dumps(reply)
    except Exception as error:  # noqa: BLE001 - any failure to pickle (RecursionError, a __reduce__ that raises)
        failure = RuntimeError(f"the worker's answer could not be sent back: {type(error).__name__}: {error}")
        return ForkingPickler.dumps((ERROR, failure))


def run() -> None:
    """The process: main(), then exit at once (a torch-laden interpreter's teardown takes about a second)."""
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:
        code = 130
    except Exception:  # noqa: BLE001 - said on the grader's standard error; the grader sees this worker gone
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
