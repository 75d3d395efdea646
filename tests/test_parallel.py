"""The parallel batch: every submission comes back exactly once, even when the warm process or a grading worker dies under it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from activation import ASSIGNMENT, LESSON
from autograder.commands.autograde import autograde, results_path
from staging import stage_course
from autograder.engine.forkpool import HOST_MODULE
from autograder.engine.parallel import GradingPool, default_workers
from autograder.engine.results import GradingResult
from autograder.isolation.zygote import Zygote
from conftest import EXPECTED_SCORES, SAMPLES


def test_never_more_workers_than_submissions(course):
    assert GradingPool(course, ASSIGNMENT, LESSON, jobs=1).workers == 1
    assert GradingPool(course, ASSIGNMENT, LESSON, workers=8, jobs=3).workers == 3
    assert GradingPool(course, ASSIGNMENT, LESSON).workers == default_workers() >= 1


@contextmanager
def killing(find: Callable[[], psutil.Process | None]) -> Iterator[threading.Event]:
    """While inside, SIGKILL the first process `find` returns (polled); the event says whether it happened.

    Stopped on the way out, so it never kills a later test's process.
    """
    killed, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                victim = find()
                if victim is not None:
                    victim.kill()
                    killed.set()
                    return
            except psutil.Error:
                pass
            time.sleep(0.02)

    killer = threading.Thread(target=watch, daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join()


def _zygote_with_a_kernel(zygote: Zygote) -> Callable[[], psutil.Process | None]:
    """The batch's zygote, once it has forked a kernel (a grading is under way)."""
    assert zygote.process is not None
    process = psutil.Process(zygote.process.pid)
    return lambda: process if process.children() else None


def _second_worker_grading(zygote: Zygote | None) -> Callable[[], psutil.Process | None]:
    """The batch's second grading worker (forked by the first), once it grades.

    A cold kernel is the worker's child. A warm one is the zygote's, held by the worker's connection (no child
    of the worker): two of them at once mean both workers have one.
    """
    forks = psutil.Process(zygote.process.pid) if zygote is not None and zygote.process is not None else None

    def find() -> psutil.Process | None:
        both = forks is not None and len(forks.children()) >= 2
        for host in psutil.Process().children():
            if HOST_MODULE in _cmdline(host):
                for sibling in host.children():
                    if HOST_MODULE in _cmdline(sibling) and (both or sibling.children()):
                        return sibling
        return None

    return find


def _cmdline(process: psutil.Process) -> list[str]:
    """Its command line; none for a process that is gone or a zombie (an earlier test's child not yet reaped)."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@pytest.mark.e2e
@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_zygote_killed_mid_batch_costs_no_student_a_point(course, tmp_path: Path):
    names = ("solution", "leaky_relu", "stride1_when_none")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    zygote = Zygote().start()  # the batch's own, so no other zygote of this process can be the one killed
    try:
        with killing(_zygote_with_a_kernel(zygote)) as killed:
            batch = autograde(scratch, ASSIGNMENT, LESSON, workers=2, zygote=zygote)
    finally:
        zygote.close()
    assert killed.is_set(), "the zygote was never killed while it had a kernel: the test proved nothing"
    assert not batch.failures
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in names}
    for name in names:
        assert GradingResult.read(results_path(scratch, "activation_maxpool", name)).error is None


@pytest.mark.e2e
def test_a_grading_worker_killed_mid_batch_costs_no_student_a_point(course, tmp_path: Path):
    names = ("solution", "leaky_relu", "stride1_when_none", "blank")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    zygote = Zygote().start() if Zygote.available() else None  # the batch's own: its kernels are this batch's
    try:
        with killing(_second_worker_grading(zygote)) as killed:
            batch = autograde(scratch, ASSIGNMENT, LESSON, workers=2, zygote=zygote)
    finally:
        if zygote is not None:
            zygote.close()
    assert killed.is_set(), "no grading worker was killed while it graded: the test proved nothing"
    assert not batch.failures
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in names}
    assert not [child for child in psutil.Process().children(recursive=True) if HOST_MODULE in " ".join(child.cmdline())]


@pytest.mark.e2e
def test_a_batch_leaves_nothing_in_the_temporary_folder(course, tmp_path: Path, own_tempdir: Path):
    """Its grading workers end with os._exit (no exit handlers): what they create must go with the command's own folders."""
    names = ("solution", "leaky_relu", "blank")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    shutil.copytree(course.root / "assignments", scratch.root / "assignments")  # the release: its texts go to the zygote
    command = [sys.executable, "-m", "autograder.cli", "autograde", "--course", str(scratch.root), "--workers", "2", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)  # TMPDIR: own_tempdir
    assert done.returncode == 0, done.stderr
    assert "3 calificados" in done.stdout
    assert sorted(path.name for path in own_tempdir.iterdir()) == []
