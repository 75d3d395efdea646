"""An executor whose worker processes share one import: the first imports the modules, then forks the others.

multiprocessing's fork server would do the import in a process of its own that then only waits: on a
2-worker batch a third copy of torch and nbgrader, about 280 MiB of resident memory that never grades.
Here the process that imported them (autograder.engine.poolhost) forks its siblings and grades too.

The grader talks to each worker over its own connection (multiprocessing.connection, pickled tuples
named in poolhost): a task is a function and its arguments, the answer its value or its exception. A
worker that dies breaks the pool, as a ProcessPoolExecutor's does: every unfinished future then raises
BrokenProcessPool and the caller starts a new pool.
"""

from __future__ import annotations

import atexit
import functools
import os
import pickle
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from autograder.engine.poolhost import ERROR, GO, OK, READY, START

HOST_MODULE = "autograder.engine.poolhost"
STOP_WAIT_S = 10.0  # how long a closing pool waits for its workers to exit before it kills them
WORKER_DIED = "a grading worker process died"


@dataclass
class PoolHost:
    """A started first worker importing `modules`, with our ends of the connections of the `capacity` workers it may become."""

    process: subprocess.Popen
    connections: list[Connection]
    modules: tuple[str, ...]

    @classmethod
    def launch(cls, capacity: int, modules: Sequence[str]) -> "PoolHost":
        """Start it importing at once (with this process's sys.path), before the batch knows its size.

        From the main thread only: the host dies with the thread that started it (the parent-death signal).
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("grading workers are started from the main thread: they die with the thread that starts them")
        pairs = [socket.socketpair() for _ in range(max(1, capacity))]
        theirs = [pair[1].detach() for pair in pairs]
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", HOST_MODULE, str(os.getpid()), *map(str, theirs)],  # -P: nothing from the folder we run in
                pass_fds=theirs,
                stdin=subprocess.DEVNULL,
            )
        finally:
            for fd in theirs:
                os.close(fd)
        host = cls(process, [Connection(pair[0].detach()) for pair in pairs], tuple(modules))
        host.connections[0].send((START, list(sys.path), list(modules)))
        return host

    def serves(self, workers: int, modules: Sequence[str]) -> bool:
        """Whether this host can be the pool asked for: alive, importing these modules, with enough connections."""
        return self.process.poll() is None and self.modules == tuple(modules) and len(self.connections) >= workers

    def kill(self) -> None:
        """Stop it now (its siblings die with it) and close our ends."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for connection in self.connections:
            connection.close()


# A host started early (prestart) for the command's first pool; killed at exit if no pool took it.
_EARLY: PoolHost | None = None


def prestart(capacity: int, modules: Sequence[str]) -> None:
    """Start a host importing now, so the import overlaps the command's own start (the first ForkPool takes it)."""
    global _EARLY
    if _EARLY is None:
        _EARLY = PoolHost.launch(capacity, modules)
        atexit.register(_kill_early)


def _kill_early() -> None:
    if _EARLY is not None:
        _EARLY.kill()


def _take_early(workers: int, modules: Sequence[str]) -> PoolHost | None:
    global _EARLY
    early, _EARLY = _EARLY, None
    if early is not None and not early.serves(workers, modules):
        early.kill()
        return None
    return early


@dataclass
class _State:
    """What the dispatcher thread and the callers share (under the pool's lock)."""

    starting: set[Connection]
    idle: list[Connection] = field(default_factory=list)
    busy: dict[Connection, Future] = field(default_factory=dict)
    pending: deque[tuple[Future, Callable, tuple]] = field(default_factory=deque)
    pids: list[int] = field(default_factory=list)
    broken: str | None = None
    closing: bool = False
    done: bool = False


class ForkPool(Executor):
    """`workers` processes that import `modules` once (the first, then it forks the rest), with `environment` set in each."""

    def __init__(self, workers: int, modules: Sequence[str], environment: Mapping[str, str | None] | None = None) -> None:
        self.workers = max(1, workers)
        self._host = _take_early(self.workers, modules) or PoolHost.launch(self.workers, modules)
        connections = self._host.connections[: self.workers]
        self._lock = threading.Lock()
        self._state = _State(starting=set(connections))
        self._wake_read, self._wake_write = os.pipe()
        try:
            self._host.connections[0].send((GO, self.workers, dict(environment or {})))
        except OSError:  # it died importing: the pool is broken from the start
            self._state.broken = WORKER_DIED
        self._thread = threading.Thread(target=self._dispatch_loop, name="forkpool", daemon=True)
        self._thread.start()

    @property
    def pids(self) -> list[int]:
        """The workers that have said they are ready, in the order they did."""
        with self._lock:
            return list(self._state.pids)

    def submit(self, fn: Callable, /, *args: object, **kwargs: object) -> Future:
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        future: Future = Future()
        with self._lock:
            if self._state.broken is not None:
                raise BrokenProcessPool(self._state.broken)
            if self._state.closing:
                raise RuntimeError("cannot schedule new tasks after shutdown")
            self._state.pending.append((future, fn, args))
            unsent = self._hand_out()
        _fail(unsent)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the workers finish what runs and exit (wait), or kill them now (the first one's siblings follow it within moments)."""
        with self._lock:
            self._state.closing = True
            cancelled = [future for future, _, _ in self._state.pending] if cancel_futures else []
            if cancel_futures:
                self._state.pending.clear()
            outstanding = [*self._state.busy.values(), *(future for future, _, _ in self._state.pending)]
        for future in cancelled:
            future.cancel()
        if wait:
            wait_futures(outstanding)
        self._stop(kill=not wait)

    def _stop(self, kill: bool) -> None:
        with self._lock:
            if self._state.done:
                return
            self._state.done = True
            kill = kill or bool(self._state.starting)  # a worker still importing has nothing to finish: no waiting for it
        os.write(self._wake_write, b"x")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)
        if not kill:
            for connection in self._host.connections:
                connection.close()  # each worker sees the end of its tasks and exits
            try:
                self._host.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
        self._host.kill()
        self._fail_unfinished(self._state.broken or "the grading pool was stopped")

    def _hand_out(self) -> list[tuple[Future, BaseException]]:
        """Give pending tasks to idle workers (under the lock); the tasks that could not be sent, to fail once it is released."""
        state = self._state
        unsent: list[tuple[Future, BaseException]] = []
        while state.idle and state.pending and state.broken is None:
            future, fn, args = state.pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            connection = state.idle.pop()
            try:
                connection.send((fn, args))
            except OSError:  # the worker is gone: the dispatcher sees its end closed and breaks the pool
                state.busy[connection] = future
            except Exception as error:  # noqa: BLE001 - the task could not be pickled: its own failure, the worker is free
                state.idle.append(connection)
                unsent.append((future, error))
            else:
                state.busy[connection] = future
        return unsent

    def _dispatch_loop(self) -> None:
        """The pool's thread: read every worker's messages until the pool stops or breaks; it never leaves a future waiting."""
        try:
            while self._read_messages():
                pass
        except BaseException as error:  # noqa: BLE001 - whatever failed here, the callers learn it through their futures
            self._break(f"the grading pool's dispatcher failed: {type(error).__name__}: {error}")

    def _read_messages(self) -> bool:
        """Take what the workers sent; False once the pool is stopped or broken (a closed connection breaks it)."""
        with self._lock:
            if self._state.done or self._state.broken is not None:
                return False
            watched = [*self._state.starting, *self._state.idle, *self._state.busy]
        closed = [ready for ready in wait([*watched, self._wake_read]) if ready != self._wake_read and not self._read(ready)]
        if not closed:
            return True
        with self._lock:
            others = [connection for connection in self._state.busy if connection not in closed]
        for connection in others:  # answers that arrived before the death was seen still count
            while connection.poll(0) and self._read(connection):
                pass
        self._break(WORKER_DIED)
        return False

    def _read(self, connection: Connection) -> bool:
        """Take one message from a worker; False when its connection is closed (it died)."""
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return False
        try:
            message = pickle.loads(data)
        except Exception as error:  # noqa: BLE001 - an answer we cannot rebuild (an exception's odd __init__): that task's failure
            message = (ERROR, RuntimeError(f"the worker's answer could not be read: {type(error).__name__}: {error}"))
        self._on_message(connection, message)
        return True

    def _on_message(self, connection: Connection, message: tuple) -> None:
        kind, value = message
        with self._lock:
            state = self._state
            finished = None
            if kind == READY:
                state.starting.discard(connection)
                state.pids.append(value)
            else:
                finished = state.busy.pop(connection, None)
            state.idle.append(connection)
            unsent = self._hand_out()
        _fail(unsent)
        if finished is None:
            return
        if kind == OK:
            finished.set_result(value)
        else:
            finished.set_exception(value)

    def _break(self, reason: str) -> None:
        """A worker died: every unfinished task fails with BrokenProcessPool, and the others are stopped."""
        with self._lock:
            self._state.broken = reason
        self._host.kill()
        self._fail_unfinished(reason)

    def _fail_unfinished(self, reason: str) -> None:
        with self._lock:
            unfinished = [*self._state.busy.values(), *(future for future, _, _ in self._state.pending)]
            self._state.busy.clear()
            self._state.pending.clear()
        _fail([(future, BrokenProcessPool(reason)) for future in unfinished])


def _fail(failures: list[tuple[Future, BaseException]]) -> None:
    """Set each future's exception (never under the pool's lock: a done-callback may call the pool)."""
    for future, error in failures:
        if not future.done():
            future.set_exception(error)
