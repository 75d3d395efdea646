"""The parallel batch: every submission comes back exactly once, even when the warm process or a grading worker dies under it."""

from __future__ import annotations

import threading
import time
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


def _kill_when_it_forks(zygote: Zygote, killed: threading.Event, stop: threading.Event) -> None:
    """SIGKILL the batch's zygote as soon as it has forked a kernel (a grading is under way); set `killed`."""
    assert zygote.process is not None
    process = psutil.Process(zygote.process.pid)
    while not stop.is_set():
        try:
            if process.children():
                process.kill()
                killed.set()
                return
        except psutil.Error:
            pass
        time.sleep(0.05)


@pytest.mark.e2e
@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_zygote_killed_mid_batch_costs_no_student_a_point(course, tmp_path: Path):
    names = ("solution", "leaky_relu", "stride1_when_none")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    zygote = Zygote().start()  # the batch's own, so no other zygote of this process can be the one killed
    killed, stop = threading.Event(), threading.Event()
    killer = threading.Thread(target=_kill_when_it_forks, args=(zygote, killed, stop), daemon=True)
    killer.start()
    try:
        batch = autograde(scratch, ASSIGNMENT, LESSON, workers=2, zygote=zygote)
    finally:
        stop.set()  # never left running to kill a later test's zygote
        killer.join()
        zygote.close()
    assert killed.is_set(), "the zygote was never killed while it had a kernel: the test proved nothing"
    assert not batch.failures
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in names}
    for name in names:
        assert GradingResult.read(results_path(scratch, "activation_maxpool", name)).error is None


def _kill_a_worker_when_it_grades(killed: threading.Event, stop: threading.Event) -> None:
    """SIGKILL the batch's second grading worker (forked by the first) once it has started a kernel; set `killed`."""
    me = psutil.Process()
    while not stop.is_set():
        try:
            for host in me.children():
                if HOST_MODULE not in host.cmdline():
                    continue
                for sibling in host.children():
                    if HOST_MODULE in sibling.cmdline() and sibling.children():
                        sibling.kill()
                        killed.set()
                        return
        except psutil.Error:
            pass
        time.sleep(0.02)


@pytest.mark.e2e
def test_a_grading_worker_killed_mid_batch_costs_no_student_a_point(course, tmp_path: Path):
    names = ("solution", "leaky_relu", "stride1_when_none", "blank")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    killed, stop = threading.Event(), threading.Event()
    killer = threading.Thread(target=_kill_a_worker_when_it_grades, args=(killed, stop), daemon=True)
    killer.start()
    try:
        batch = autograde(scratch, ASSIGNMENT, LESSON, workers=2)
    finally:
        stop.set()
        killer.join()
    assert killed.is_set(), "no grading worker was killed while it graded: the test proved nothing"
    assert not batch.failures
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in names}
    assert not [child for child in psutil.Process().children(recursive=True) if HOST_MODULE in " ".join(child.cmdline())]
