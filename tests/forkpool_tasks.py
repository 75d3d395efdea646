"""Tasks that tests/test_forkpool.py hands to a pool's workers (importable there: the pool passes on sys.path)."""

from __future__ import annotations

import os
import signal
import sys
import time


def whoami() -> tuple[int, int]:
    """This worker's pid and its parent's."""
    return os.getpid(), os.getppid()


def loaded(module: str) -> bool:
    return module in sys.modules


def variable(name: str) -> str | None:
    return os.environ.get(name)


def fail(message: str) -> None:
    raise ValueError(message)


def die() -> None:
    """A worker killed mid-task (the OOM killer, a segfault in native code)."""
    os.kill(os.getpid(), signal.SIGKILL)


def nap(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def unsendable() -> object:
    """An answer that cannot be pickled back."""
    return lambda: None


class TwoPartError(Exception):
    """Pickles, but cannot be rebuilt on the other side (its __init__ wants two arguments)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def fail_two_part() -> None:
    raise TwoPartError("a", "b")


def _refuse_to_rebuild() -> None:
    raise ValueError("not rebuilt here")


class RebuildsNowhere:
    """Pickles into a call that raises when it is unpickled, whatever reducers a process has registered for exceptions."""

    def __reduce__(self) -> tuple:
        return (_refuse_to_rebuild, ())


def unreadable() -> RebuildsNowhere:
    return RebuildsNowhere()


class Refuses:
    def __reduce__(self) -> tuple:
        raise RuntimeError("not today")


def refusing() -> Refuses:
    """An answer whose pickling raises something other than PicklingError."""
    return Refuses()


def too_deep() -> list:
    """An answer nested too deep to pickle (RecursionError)."""
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    return nested


def cancelled() -> None:
    """A BaseException that is not an exit: the task's failure, never the worker's death."""
    import asyncio

    raise asyncio.CancelledError("cancelled inside the task")


def collector() -> tuple[bool, int]:
    """Whether the cyclic collector runs in this worker, and how many objects it has frozen."""
    import gc

    return gc.isenabled(), gc.get_freeze_count()


def started_as() -> tuple[str, bool, bool, int, int]:
    """What a worker started with: its standard input, SIGTERM's and SIGINT's handlers (Python's own?), the root logger's level and handlers."""
    import logging

    return (
        os.path.realpath("/proc/self/fd/0"),
        signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
        signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        logging.root.level,
        len(logging.root.handlers),
    )
