"""The batch's executor: the first worker imports once and forks the others; a dead worker breaks the pool, never hangs it."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest

import forkpool_tasks as tasks
from autograder.engine import forkpool
from autograder.engine.forkpool import ForkPool
from local_processes import running

MODULES = ("forkpool_tasks", "json")


def _gone(pids: list[int], within: float = 10.0) -> list[int]:
    """Those of `pids` still running after `within` seconds (a zombie has exited)."""
    deadline = time.monotonic() + within
    while True:
        processes = []
        for pid in pids:
            try:
                processes.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        alive = [process.pid for process in running(processes)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture(params=["launched", "forked"])
def pool(request):
    """A 2-worker pool whose first worker is a new interpreter, or a fork of this process (the command's first pool)."""
    if request.param == "forked":
        forkpool.prestart(2, MODULES, fork=True)
        assert forkpool._EARLY is not None and isinstance(forkpool._EARLY.process, forkpool.ForkedProcess)
    made = ForkPool(2, MODULES, {"FORKPOOL_SET": "yes", "FORKPOOL_UNSET": None})
    assert forkpool._EARLY is None
    yield made
    made.shutdown(wait=False)


def test_the_first_worker_imports_then_forks_the_other(pool):
    futures = [pool.submit(tasks.nap, 0.5) for _ in range(4)]
    assert {future.result() for future in futures} == set(pool.pids)  # both workers took tasks
    parents = {psutil.Process(pid).ppid(): pid for pid in pool.pids}
    first = parents[os.getpid()]
    assert parents.keys() == {os.getpid(), first}  # the other forked from the first: no idle server holding a third copy
    assert all(pool.submit(tasks.loaded, "forkpool_tasks").result() for _ in range(4))


def test_a_forked_first_worker_starts_as_a_launched_one_would(pool, monkeypatch):
    launched = ForkPool(1, MODULES)
    try:
        expected = launched.submit(tasks.started_as).result(timeout=60)
    finally:
        launched.shutdown()
    assert expected[:3] == (os.devnull, True, True)
    answers = {pool.submit(tasks.started_as).result(timeout=60) for _ in range(4)}
    assert answers == {expected}  # /dev/null in, Python's own signal handlers and logging, in both workers


def test_a_forked_first_worker_keeps_an_ignored_interrupt_ignored_as_a_launched_one_does():
    """Started in the background by a shell, the command ignores SIGINT: so do its workers, whichever way they start."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        answers = {}
        for fork in (False, True):
            forkpool.prestart(1, MODULES, fork=fork)
            pool = ForkPool(1, MODULES)
            try:
                answers[fork] = pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60)
            finally:
                pool.shutdown()
    finally:
        signal.signal(signal.SIGINT, before)
    assert answers == {False: signal.SIG_IGN, True: signal.SIG_IGN}


BROKEN_FLUSH = """
import os, sys
sys.path[:0] = {path!r}
from autograder.engine import forkpool
parent = os.getpid()
class Unread:
    def write(self, text):
        return len(text)
    def flush(self):
        if os.getpid() != parent:  # a pipe whose reader is gone, by the time the worker ends
            raise BrokenPipeError("nobody reads")
sys.stdout = sys.stderr = Unread()
forkpool.prestart(1, ("forkpool_tasks",), fork=True)
host = forkpool._EARLY
for connection in host.connections:
    connection.close()
host.process.wait(timeout=60)
os.write(1, f"after prestart in the command: {{os.getpid() == parent}}\\n".encode())
"""


def test_a_forked_first_worker_whose_last_flush_fails_still_never_runs_the_commands_code():
    script = BROKEN_FLUSH.format(path=[str(Path(tasks.__file__).parent)])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "after prestart in the command: True\n"  # once, by the command: the fork exited in place


def test_a_forked_first_worker_holds_none_of_the_graders_ends():
    """Our ends closed, the forked host sees its tasks end and exits by itself (it kept no copy of them)."""
    forkpool.prestart(2, MODULES, fork=True)
    host = forkpool._EARLY
    forkpool._EARLY = None
    assert host is not None
    host.connections[0].send((forkpool.GO, 2, {}))
    for connection in host.connections:
        connection.close()
    assert host.process.wait(timeout=60) == 0
    host.process.kill()  # already reaped: nothing happens
    assert host.process.poll() == 0


def test_the_workers_imports_are_frozen_out_of_collections_and_the_collector_is_on(pool):
    answers = {pool.submit(tasks.collector).result() for _ in range(4)}
    assert all(enabled and frozen > 0 for enabled, frozen in answers), answers


def test_each_worker_gets_the_environment_it_is_told(monkeypatch):
    monkeypatch.setenv("FORKPOOL_UNSET", "inherited")
    pool = ForkPool(2, MODULES, {"FORKPOOL_SET": "yes", "FORKPOOL_UNSET": None})
    try:
        futures = [(pool.submit(tasks.variable, "FORKPOOL_SET"), pool.submit(tasks.variable, "FORKPOOL_UNSET")) for _ in range(6)]
        assert {(a.result(), b.result()) for a, b in futures} == {("yes", None)}
    finally:
        pool.shutdown()


def test_a_tasks_exception_comes_back_with_where_it_happened(pool):
    with pytest.raises(ValueError, match="wrong answer") as raised:
        pool.submit(tasks.fail, "wrong answer").result()
    assert "forkpool_tasks.py" in "\n".join(raised.value.__notes__)
    assert pool.submit(tasks.loaded, "json").result()  # the worker goes on


def test_a_task_or_answer_that_cannot_be_pickled_fails_alone(pool):
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pool.submit(lambda: None).result(timeout=30)
    with pytest.raises(RuntimeError, match="could not be sent back"):
        pool.submit(tasks.unsendable).result(timeout=30)
    assert pool.submit(tasks.loaded, "json").result(timeout=30)


def test_a_worker_that_dies_breaks_the_pool_at_once_and_stops_the_others(pool):
    long = pool.submit(tasks.nap, 120)
    while len(pool.pids) < 2:
        time.sleep(0.01)
    pids = pool.pids
    started = time.monotonic()
    dying = pool.submit(tasks.die)
    try:
        queued = [pool.submit(tasks.nap, 0)]
    except BrokenProcessPool:  # the death was seen before this submit (a loaded machine): refused at once, as below
        queued = []
    for future in (long, dying, *queued):
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=60)
    assert time.monotonic() - started < 60  # not after the long task's two minutes
    with pytest.raises(BrokenProcessPool):
        pool.submit(tasks.nap, 0)
    assert _gone(pids) == []


def test_a_first_worker_that_cannot_import_breaks_the_pool(capfd):
    pool = ForkPool(2, ("no_such_module_here",))
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(tasks.nap, 0).result(timeout=60)
    finally:
        pool.shutdown()
    assert "no_such_module_here" in capfd.readouterr().err  # the import's error on the grader's standard error


def test_shutdown_waits_for_running_tasks_then_leaves_no_process(pool):
    futures = [pool.submit(tasks.nap, 0.5) for _ in range(3)]
    pids = pool.pids
    pool.shutdown(wait=True)
    assert all(future.done() and not future.exception() for future in futures)
    assert _gone(pids or [], within=0) == []
    with pytest.raises(RuntimeError):
        pool.submit(tasks.nap, 0)


def test_shutdown_without_waiting_stops_running_tasks(pool):
    long = pool.submit(tasks.nap, 120)
    while not pool.pids:
        time.sleep(0.01)
    started = time.monotonic()
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(BrokenProcessPool):
        long.result(timeout=60)
    assert time.monotonic() - started < 60
    assert _gone(pool.pids) == []


def test_a_prestarted_first_worker_is_taken_by_the_pool_that_fits():
    forkpool.prestart(2, MODULES)
    early = forkpool._EARLY
    assert early is not None
    pool = ForkPool(2, MODULES)
    try:
        assert forkpool._EARLY is None
        assert pool.submit(tasks.nap, 0).result(timeout=60) in pool.pids
        assert early.process.pid in pool.pids
    finally:
        pool.shutdown()
    forkpool.prestart(1, MODULES)
    unfit = forkpool._EARLY
    pool = ForkPool(2, MODULES)  # more workers than it has connections for: a new one, the unfit one stopped
    try:
        assert pool.submit(tasks.nap, 0).result(timeout=60)
        assert unfit.process.poll() is not None
        assert unfit.process.pid not in pool.pids
    finally:
        pool.shutdown()


KILLED_GRADER = """
import sys, time
sys.path[:0] = {path!r}
import forkpool_tasks as tasks
from autograder.engine import forkpool
from autograder.engine.forkpool import ForkPool
if {fork!r}:
    forkpool.prestart(2, ("forkpool_tasks",), fork=True)
pool = ForkPool(2, ("forkpool_tasks",))
futures = [pool.submit(tasks.nap, 120) for _ in range(2)]
while len(pool.pids) < 2:
    time.sleep(0.01)
print(*pool.pids, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("fork", [False, True])
def test_killing_the_grader_kills_every_worker(fork):
    script = KILLED_GRADER.format(path=[str(Path(tasks.__file__).parent)], fork=fork)
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in grader.stdout.readline().split()]
        assert len(pids) == 2
        grader.send_signal(signal.SIGKILL)
        grader.wait()
        assert _gone(pids) == []
    finally:
        grader.kill()
        grader.wait()


@pytest.mark.parametrize("host_kind", ["launch", "fork"])
@pytest.mark.parametrize("when", ["importing", "forked"])
def test_a_grader_that_hangs_up_early_gets_a_quiet_exit(capfd, when, host_kind):
    host = getattr(forkpool.PoolHost, host_kind)(2, MODULES)
    if when == "forked":  # told to start, then gone before a worker said it was ready
        host.connections[0].send((forkpool.GO, 2, {}))
    for connection in host.connections:
        connection.close()
    assert host.process.wait(timeout=60) == 0
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "task, error, words",
    [
        (tasks.unreadable, RuntimeError, "could not be read"),
        (tasks.refusing, RuntimeError, "could not be sent back"),
        (tasks.too_deep, RuntimeError, "could not be sent back"),
        (tasks.cancelled, asyncio.CancelledError, "cancelled inside the task"),
    ],
)
def test_an_odd_answer_fails_its_task_alone(pool, task, error, words):
    with pytest.raises(error, match=words):
        pool.submit(task).result(timeout=60)
    futures = [pool.submit(tasks.nap, 0) for _ in range(4)]
    assert {future.result(timeout=60) for future in futures} <= set(pool.pids)  # both workers go on


def test_an_exception_that_cannot_be_rebuilt_fails_its_task_alone():
    """Its __init__ wants other arguments than its args. Only a launched worker: a forked one pickles as the process it
    was forked from does, and a test process that imported Dask (tblib's reducers) rebuilds such exceptions whole."""
    pool = ForkPool(2, MODULES)
    try:
        with pytest.raises(RuntimeError, match="could not be read: TypeError"):
            pool.submit(tasks.fail_two_part).result(timeout=60)
        assert pool.submit(tasks.nap, 0).result(timeout=60) in pool.pids
    finally:
        pool.shutdown()


def test_a_callback_may_submit_again(pool):
    again = []
    failed = pool.submit(lambda: None)  # cannot be pickled: failed at once
    failed.add_done_callback(lambda _: again.append(pool.submit(tasks.nap, 0)))
    with pytest.raises((pickle.PicklingError, AttributeError)):
        failed.result(timeout=30)
    # A future wakes its waiters before it runs its callbacks (in the thread that failed it): wait for the callback.
    deadline = time.monotonic() + 30
    while not again and time.monotonic() < deadline:
        time.sleep(0.01)
    assert again and again[0].result(timeout=60) in pool.pids


def test_stopping_a_pool_whose_first_worker_is_still_importing_does_not_wait_for_the_import():
    pool = ForkPool(2, ("forkpool_slow_import",))
    started = time.monotonic()
    pool.shutdown(wait=True)
    assert time.monotonic() - started < 30  # the import takes 60 s


def test_a_pool_is_started_from_the_main_thread_only():
    raised = []

    def start() -> None:
        try:
            ForkPool(1, MODULES)
        except RuntimeError as error:
            raised.append(str(error))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert raised and "main thread" in raised[0]
