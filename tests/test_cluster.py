"""Grading on a real Dask cluster (a scheduler and worker processes on 127.0.0.1): the same grades as the local pool, nobody lost.

The cluster is started the way docs/cluster.md says (`dask scheduler`, `dask worker ADDRESS`), as
separate processes, and every process is stopped after each test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from activation import ASSIGNMENT, LESSON
from autograder.commands.autograde import FAILED, autograde, ensure_registered, journal_path, load_journal, results_path, scores
from autograder.engine.bundle import Bundle
from autograder.engine.fingerprint import EnvironmentFingerprint, current
from autograder.engine.results import GradingResult
from conftest import EXPECTED_SCORES, ROOT, SAMPLES
from dask_cluster import LocalDaskCluster, shim_nbgrader
from local_processes import free_port
from staging import stage_course, submit
from test_reproducibility import outcome

NAMES = ("solution", "leaky_relu", "stride1_when_none", "blank")


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest):
    """A scheduler on 127.0.0.1 (no workers yet; its environment from an indirect parameter); stops it and every worker started on it."""
    folder = tmp_path / "dask"
    folder.mkdir()
    started = LocalDaskCluster(folder)
    try:
        started.start_scheduler(getattr(request, "param", None))
        yield started
    finally:
        assert started.stop() == []


def results(course, names) -> dict[str, list[tuple]]:
    return {name: outcome(GradingResult.read(results_path(course, ASSIGNMENT, name))) for name in names}


def part_scores(course) -> dict[str, dict[str, float]]:
    return {row.student: row.parts for row in scores(course, ASSIGNMENT, LESSON) if row.graded}


@pytest.mark.e2e
def test_cluster_grades_as_the_local_pool(course, tmp_path, cluster):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in NAMES])
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_for_workers(2)

    local = autograde(scratch, ASSIGNMENT, LESSON, workers=2)
    assert not local.failures
    expected = results(scratch, NAMES)
    expected_scores = part_scores(scratch)
    assert expected_scores == {name: EXPECTED_SCORES[name] for name in NAMES}

    seen = []
    remote = autograde(scratch, ASSIGNMENT, LESSON, force=True, scheduler=cluster.address, progress=lambda i, n, o: seen.append((i, n, o.student)))
    assert not remote.failures
    assert sorted(student for _, _, student in seen) == sorted(NAMES) and [i for i, _, _ in seen] == [1, 2, 3, 4]
    assert results(scratch, NAMES) == expected
    assert part_scores(scratch) == expected_scores
    # The workers graded in scratch copies of the course: nothing the students or gradebook see names them.
    for name in NAMES:
        text = results_path(scratch, ASSIGNMENT, name).read_text(encoding="utf-8")
        assert "autograder-course-" not in text
        assert str(scratch.root) in text


@pytest.mark.e2e
def test_a_worker_killed_mid_batch_loses_nobody(course, tmp_path, cluster):
    students = {f"s{index}": SAMPLES / f"{NAMES[index % len(NAMES)]}.ipynb" for index in range(8)}
    scratch = stage_course(course, tmp_path / "course", [])
    for student, sample in students.items():
        submit(scratch.root, student, ASSIGNMENT, sample)
    victim = cluster.start_worker()
    cluster.start_worker()
    cluster.wait_for_workers(2)

    busy_when_killed = []

    def kill_after_first(index: int, total: int, _outcome) -> None:
        if index == 1:  # both workers are grading their next submission now
            busy_when_killed.append(cluster.busy("worker0"))
            cluster.kill_worker(victim)

    batch = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address, progress=kill_after_first)
    assert victim.returncode is not None and busy_when_killed[0] > 0  # it died holding submissions
    assert batch.failures == {}
    expected = {student: EXPECTED_SCORES[sample.stem] for student, sample in students.items()}
    assert part_scores(scratch) == expected


@pytest.mark.e2e
@pytest.mark.parametrize("cluster", [{"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}], indirect=True)
def test_a_task_whose_worker_keeps_dying_is_that_students_reason(course, tmp_path, cluster):
    # Dask gives a task whose worker died `allowed-failures` more tries (3 by default); none here, so one death ends it.
    students = {f"s{index}": SAMPLES / "solution.ipynb" for index in range(6)}
    scratch = stage_course(course, tmp_path / "course", [])
    for student, sample in students.items():
        submit(scratch.root, student, ASSIGNMENT, sample)
    victim = cluster.start_worker()
    cluster.start_worker()
    cluster.wait_for_workers(2)
    busy_when_killed = []

    def kill_after_first(index: int, total: int, _outcome) -> None:
        if index == 1:
            busy_when_killed.append(cluster.busy("worker0"))
            cluster.kill_worker(victim)

    batch = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address, progress=kill_after_first)
    assert busy_when_killed[0] > 0
    assert set(batch.failures.values()) == {"the grading worker process died on every try (Dask KilledWorker)"}
    assert 1 <= len(batch.failures) <= busy_when_killed[0]  # one it held may have finished between the look and the kill
    assert set(part_scores(scratch)) | set(batch.failures) == set(students)  # every student graded or with the reason
    journal = load_journal(journal_path(scratch, ASSIGNMENT))
    assert {student for student, entry in journal.items() if entry.status == FAILED} == set(batch.failures)


@pytest.mark.e2e
def test_a_client_killed_mid_batch_resumes_from_the_journal(course, tmp_path, cluster):
    students = {f"s{index}": SAMPLES / f"{NAMES[index % len(NAMES)]}.ipynb" for index in range(6)}
    scratch = stage_course(course, tmp_path / "course", [])
    for student, sample in students.items():
        submit(scratch.root, student, ASSIGNMENT, sample)
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_for_workers(2)
    command = [sys.executable, "-m", "autograder.cli", "autograde", "--course", str(scratch.root), "--scheduler", cluster.address]

    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        filed = 0
        for line in client.stderr:  # one line per filed submission (not a terminal)
            filed += line.startswith("calificado ")
            if filed == 2:
                os.killpg(client.pid, signal.SIGKILL)
                break
        client.wait(timeout=300)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait()
    assert filed == 2
    done_before = {s for s, entry in load_journal(journal_path(scratch, ASSIGNMENT)).items() if entry.status != FAILED}
    assert 2 <= len(done_before) < len(students)

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert f"reanudado: {len(done_before)} ya calificados" in again.stdout
    assert part_scores(scratch) == {student: EXPECTED_SCORES[sample.stem] for student, sample in students.items()}

    # Everyone done: a rerun needs no cluster at all (nobody listens on this address).
    idle = [*command[:-1], f"tcp://127.0.0.1:{free_port()}"]
    done = subprocess.run(idle, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and f"reanudado: {len(students)} ya calificados" in done.stdout, done.stderr


@pytest.mark.e2e
def test_a_worker_of_another_environment_refuses(course, tmp_path, cluster):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb", SAMPLES / "leaky_relu.ipynb"])
    shim = shim_nbgrader(tmp_path / "shim")
    odd = {"PYTHONPATH": os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH", "")]))}
    good = cluster.start_worker()
    cluster.start_worker(env=odd)
    cluster.wait_for_workers(2)

    # Whatever worker a task lands on first, the matching one grades everything.
    batch = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address)
    assert batch.failures == {}
    assert part_scores(scratch) == {name: EXPECTED_SCORES[name] for name in ("solution", "leaky_relu")}

    # With only the odd worker left, the refusal is the student's reason: recorded, not lost.
    cluster.workers.remove(good)
    assert cluster.stop_one(good) == []
    cluster.wait_for_count(1)
    again = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address, students=["solution"])
    reason = again.failures["solution"]
    assert "no Dask worker accepted it" in reason and "nbgrader 0.0.1 on this worker, " in reason
    assert load_journal(journal_path(scratch, ASSIGNMENT))["solution"].status == FAILED
    assert GradingResult.read(results_path(scratch, ASSIGNMENT, "solution")).score == 0


@pytest.mark.e2e
def test_a_worker_that_joins_after_the_batch_started_gets_the_course(course, tmp_path, cluster):
    # The batch waits for a first worker (c.Cluster.worker_wait), which joins after the course's plugin was registered.
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "stride1_when_none.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)  # done now, so the batch reaches the cluster well before the worker starts
    late = threading.Timer(3.0, cluster.start_worker)
    late.start()
    try:
        batch = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address)
    finally:
        late.join()
    assert batch.failures == {} and len(cluster.workers) == 1
    assert part_scores(scratch) == {"stride1_when_none": EXPECTED_SCORES["stride1_when_none"]}


@pytest.mark.e2e
def test_workers_without_the_sandbox_or_with_threads_refuse(course, tmp_path, cluster):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    no_tools = tmp_path / "empty-path"  # no bwrap to be found: the sandbox cannot start
    no_tools.mkdir()
    cluster.start_worker(env={"PATH": str(no_tools)})
    cluster.start_worker(threads=2)
    cluster.wait_for_workers(2)

    batch = autograde(scratch, ASSIGNMENT, LESSON, scheduler=cluster.address)
    reason = batch.failures["solution"]
    assert reason.startswith("no Dask worker accepted it: ")
    assert "refused, it cannot start the sandbox: " in reason and "bwrap" in reason
    assert "refused, it runs 2 threads; start grading workers with --nthreads 1" in reason
    assert part_scores(scratch) == {}


def test_an_unreachable_scheduler_is_one_line(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    config = scratch.root / "nbgrader_config.py"
    config.write_text(config.read_text(encoding="utf-8") + "\nc.Cluster.connect_timeout = 2\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "autograde", "--course", str(scratch.root), "--scheduler", f"tcp://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autograder: Dask scheduler tcp://127.0.0.1:") and "cannot connect" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert load_journal(journal_path(scratch, ASSIGNMENT)) == {}


def test_the_local_pool_imports_no_dask():
    code = (
        "import sys\n"
        "import autograder.cli, autograder.commands.autograde, autograder.engine.parallel\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_fingerprints_name_what_differs():
    mine = current()
    assert dict(mine.versions)["torch"].startswith("2.13.0") and len(mine.sources) == 64
    assert mine.differences(mine) == []
    other = EnvironmentFingerprint(tuple((k, "0.0.1" if k == "nbgrader" else v) for k, v in mine.versions), "0" * 64)
    found = mine.differences(other, mine="on this worker", theirs="client")
    assert found[0] == f"nbgrader {dict(mine.versions)['nbgrader']} on this worker, 0.0.1 on the client"
    assert found[1].startswith("autograder sources sha256 ") and len(found) == 2


def test_a_bundle_unpacks_to_the_same_files_and_checks_its_hash(course, tmp_path):
    bundle = Bundle.of_course(course)
    assert Bundle.of_course(course).sha256 == bundle.sha256  # same files, same hash: workers reuse what they unpacked
    root = bundle.unpack(tmp_path / "copy")
    assert (root / "nbgrader_config.py").read_bytes() == (course.root / "nbgrader_config.py").read_bytes()
    assert (root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert not (root / "submitted").exists() and not (root / "gradebook.db").exists()
    with pytest.raises(ValueError, match="does not match its sha256"):
        Bundle(bundle.data + b"x", bundle.sha256).unpack(tmp_path / "tampered")


def test_a_bundle_of_the_same_files_has_the_same_hash_a_second_later(course):
    """Nothing of the clock in it (gzip's header has a time field): a worker reuses what it unpacked, batch after batch."""
    first = Bundle.of_course(course)
    time.sleep(1.1)
    assert Bundle.of_course(course).sha256 == first.sha256
