"""An executor whose worker processes share one import: the first imports the modules, then forks the others.

multiprocessing's fork server would do the import in a process of its own that then only waits: on a
2-worker batch a third copy of torch and nbgrader, about 280 MiB of resident memory that never grades.
Here the process that imported them (autograder.engine.poolhost) forks its siblings and grades too.
The first worker is either a new interpreter (`PoolHost.launch`) or, for the command's first pool, a
fork of the command's own process once it has imported nbgrader (`PoolHost.fork`): it then only
imports what the command does not (torch, the checks), about 0.7 s of CPU less on the batch's start.

The grader talks to each worker over its own connection (multiprocessing.connection, pickled tuples
named in poolhost): a task is a function and its arguments, the answer its value or its exception. A
worker that dies breaks the pool, as a ProcessPoolExecutor's does: every unfinished future then raises
BrokenProcessPool and the caller starts a new pool.
"""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from autograder.engine import poolhost
from autograder.engine.poolhost import ERROR, GO, OK, READY, START

HOST_MODULE = "autograder.engine.poolhost"
STOP_WAIT_S = 10.0  # how long a closing pool waits for its workers to exit before it kills them
WAIT_POLL_S = 0.005  # how often waiting for a forked first worker looks whether it exited
FORK_BLOCKED_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # held while a first worker is forked, until its own handlers are set
WORKER_DIED = "a grading worker process died"


@dataclass
class PoolHost:
    """A started first worker importing `modules`, with our ends of the connections of the `capacity` workers it may become."""

    process: "subprocess.Popen | ForkedProcess"
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

    @classmethod
    def fork(cls, capacity: int, modules: Sequence[str]) -> "PoolHost":
        """Fork it from this process, which keeps what it imported: the host imports only the rest of `modules`.

        From the main thread only (it dies with the thread that started it), once this process has
        imported what it shares with the workers. Other threads may run if they hold no lock the worker
        takes (the command's only one then reads the warm process's pipe; Python 3.12 warns of any).
        The fork starts as a launched host would: standard input from /dev/null, SIGTERM as Python leaves
        it and SIGINT as Python sets it (ignored stays ignored), the root logger unconfigured, none of our
        ends of the connections, what it inherited frozen out of its collections; signals wait until then.
        It keeps this process's other open files (the warm process's pipe): closing them blindly would let
        an object that wraps one close a reused number later. Whatever happens in it, it exits there and
        never comes back into this process's code.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("grading workers are started from the main thread: they die with the thread that starts them")
        pairs = [socket.socketpair() for _ in range(max(1, capacity))]
        parent = os.getpid()
        _flush_standard_streams()  # nothing this process buffered is written twice
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED_SIGNALS)  # no handler of ours runs in the fork
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            for pair in pairs:
                for end in pair:
                    end.close()
            raise
        if pid == 0:
            try:
                _become_host(parent, pairs, blocked)  # never returns
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for _, theirs in pairs:
            theirs.close()
        host = cls(ForkedProcess(pid), [Connection(ours.detach()) for ours, _ in pairs], tuple(modules))
        try:
            host.connections[0].send((START, list(sys.path), list(modules)))
        except OSError:  # it died at once: nothing of it is left behind
            host.kill()
            raise
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


def _become_host(parent: int, pairs: list[tuple[socket.socket, socket.socket]], mask: set[signal.Signals]) -> None:
    """In the fork: reset what a new interpreter would not have, let signals in, run poolhost.main on our ends; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a launched interpreter keeps an inherited SIG_IGN
            signal.signal(signal.SIGINT, signal.default_int_handler)
        for ours, _ in pairs:
            ours.close()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        logging.root.handlers.clear()
        logging.root.setLevel(logging.WARNING)
        gc.freeze()  # what it inherited is the grader's, never collected here: collections would only copy its pages
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        code = poolhost.main([str(parent), *(str(theirs.detach()) for _, theirs in pairs)])
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - said on the grader's standard error; the grader sees this worker gone
        traceback.print_exc()
    finally:
        try:
            _flush_standard_streams()
        finally:
            os._exit(code)


def _flush_standard_streams() -> None:
    """Flush stdout and stderr, whatever they are now (closed, None, a pipe nobody reads)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed stream or a broken pipe: nothing more can go through it
            pass


class ForkedProcess:
    """A forked first worker, seen as subprocess.Popen sees a launched one (poll, wait, kill, pid, returncode)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()  # the pool's thread and the caller's may look at once: one reaps, none kills a reused pid

    def poll(self) -> int | None:
        with self._lock:
            return self._poll()

    def _poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, as Popen then says
                self.returncode = 0
            else:
                if done:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"grading worker {self.pid}", timeout or 0.0)
            time.sleep(WAIT_POLL_S)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        with self._lock:
            if self._poll() is None:  # not reaped yet, so the pid is still ours
                os.kill(self.pid, signal.SIGKILL)


# A host started early (prestart) for the command's first pool; killed at exit if no pool took it.
_EARLY: PoolHost | None = None


def prestart(capacity: int, modules: Sequence[str], fork: bool = False) -> None:
    """Start a host importing now, so the import overlaps the command's own start (the first ForkPool takes it).

    With `fork`, a fork of this process (PoolHost.fork); a new interpreter if forking fails.
    """
    global _EARLY
    if _EARLY is None:
        if fork:
            try:
                _EARLY = PoolHost.fork(capacity, modules)
            except OSError:  # no fork now (EAGAIN, ENOMEM), or it died at once: a launched host, or that error
                _EARLY = PoolHost.launch(capacity, modules)
        else:
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
