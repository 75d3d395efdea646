"""The parallel batch: every submission comes back exactly once, even when the warm process dies under it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograder.batch import autograde, results_path
from autograder.demo import stage_course
from autograder.parallel import GradingPool, default_workers
from autograder.results import GradingResult
from autograder.zygote import Zygote
from conftest import EXPECTED_SCORES, SAMPLES


def test_never_more_workers_than_submissions(course):
    assert GradingPool(course, jobs=1).workers == 1
    assert GradingPool(course, workers=8, jobs=3).workers == 3
    assert GradingPool(course).workers == default_workers() >= 1


def _kill_zygote_when_a_kernel_runs(killed: threading.Event, stop: threading.Event) -> None:
    """SIGKILL this process's batch zygote as soon as it has forked a kernel (a grading is under way); set `killed`."""
    me = psutil.Process()
    while not stop.is_set():
        for child in me.children():  # the zygote itself, not one of its forks (they share its command line)
            try:
                if "autograder.zygote" in " ".join(child.cmdline()) and child.children():
                    os.kill(child.pid, signal.SIGKILL)
                    killed.set()
                    return
            except psutil.Error:
                continue
        time.sleep(0.05)


@pytest.mark.e2e
@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_zygote_killed_mid_batch_costs_no_student_a_point(course, tmp_path: Path):
    names = ("solution", "leaky_relu", "stride1_when_none")
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in names])
    killed, stop = threading.Event(), threading.Event()
    killer = threading.Thread(target=_kill_zygote_when_a_kernel_runs, args=(killed, stop), daemon=True)
    killer.start()
    try:
        batch = autograde(scratch, workers=2)
    finally:
        stop.set()  # never left running to kill a later test's zygote
        killer.join()
    assert killed.is_set(), "the zygote was never killed while it had a kernel: the test proved nothing"
    assert not batch.failures
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in names}
    for name in names:
        assert GradingResult.read(results_path(scratch, "activation_maxpool", name)).error is None
