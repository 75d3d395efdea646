"""End to end: plain `nbgrader autograde` from a course root, with our config, gives the same per-part scores."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from autograder.commands.autograde import FAILED, _Filer, _outcomes, autograde, ensure_registered, fingerprint, intake, results_path
from activation import ASSIGNMENT, LESSON
from staging import stage_course
from autograder.engine.parallel import Outcome
from autograder.engine.results import GradingResult
from autograder.engine.stages import CELLS, EXECUTE_STEP, FILING, KERNEL_START, KERNEL_STOP, QUEUE, RETURN, SANITIZE, SETUP
from conftest import EXPECTED_SCORES, SAMPLES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scores(course, tmp_path_factory):
    samples = [SAMPLES / f"{name}.ipynb" for name in sorted(EXPECTED_SCORES)]
    broken = tmp_path_factory.mktemp("broken") / "truncated.ipynb"
    broken.write_text((SAMPLES / "solution.ipynb").read_text(encoding="utf-8")[:500], encoding="utf-8")
    scratch = stage_course(course, tmp_path_factory.mktemp("course") / "course", [*samples, broken])
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    return scratch, {row.student: row for row in batch.scores}, batch.failures, batch


def test_every_submission_is_graded_or_has_a_reason(scores):
    _, rows, failures, _ = scores
    assert set(rows) == set(EXPECTED_SCORES)
    assert all(row.graded for row in rows.values())
    assert set(failures) == {"truncated"} and "truncado" in failures["truncated"]


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_nbgrader_scores_match_autograder_grade(scores, name):
    _, rows, _, _ = scores
    assert rows[name].parts == EXPECTED_SCORES[name]


def test_gradebook_is_a_real_nbgrader_database(scores):
    scratch, _, _, _ = scores
    with sqlite3.connect(scratch.gradebook) as db:
        (count,) = db.execute("select count(*) from submitted_assignment").fetchone()
    assert count >= len(EXPECTED_SCORES)
    assert (scratch.root / "autograded" / "solution" / "activation_maxpool" / "activation_maxpool.ipynb").is_file()


# --- intake and one student's failure: never the batch's -----------------------------------------------------

NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def test_the_batch_says_where_each_submissions_time_went(scores):
    _, rows, failures, batch = scores
    assert set(batch.stages) == set(rows) | set(failures)
    for student in rows:
        stages = batch.stages[student]
        for stage in (QUEUE, SETUP, SANITIZE, KERNEL_START, CELLS, KERNEL_STOP, "Verify", RETURN, FILING):
            assert stages[stage] >= 0.0, (student, stage)
        assert stages[CELLS] > 0.0 and stages[KERNEL_START] > 0.0
        assert EXECUTE_STEP not in stages or stages[EXECUTE_STEP] < stages[CELLS]  # the rest of Execute: replays, bookkeeping
    assert FILING in batch.stages["truncated"] and KERNEL_START not in batch.stages["truncated"]  # never reached a kernel
    assert 0.0 < batch.first_result <= batch.seconds
    busy = max(sum(seconds for stage, seconds in stages.items() if stage != QUEUE) for stages in batch.stages.values())
    assert busy < batch.seconds


def test_intake_refuses_links_and_special_files_anywhere_in_the_submission(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    submitted = scratch.submitted
    assert intake(scratch, "solution", ASSIGNMENT) is None
    source = scratch.root / "solutions" / ASSIGNMENT / NOTEBOOK
    cases = {}
    (submitted / "link" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "link" / ASSIGNMENT / NOTEBOOK).symlink_to(source)
    cases["link"] = "enlace simbólico"
    (submitted / "folder_link").symlink_to(submitted / "solution")
    cases["folder_link"] = "carpeta de la entrega es un enlace"
    (submitted / "assignment_link").mkdir()
    (submitted / "assignment_link" / ASSIGNMENT).symlink_to(submitted / "solution" / ASSIGNMENT)
    cases["assignment_link"] = "carpeta de la entrega es un enlace"
    (submitted / "fifo" / ASSIGNMENT).mkdir(parents=True)
    os.mkfifo(submitted / "fifo" / ASSIGNMENT / NOTEBOOK)
    cases["fifo"] = "FIFO"
    (submitted / "timestamp_fifo" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "timestamp_fifo" / ASSIGNMENT / NOTEBOOK).write_bytes((SAMPLES / "solution.ipynb").read_bytes())
    os.mkfifo(submitted / "timestamp_fifo" / ASSIGNMENT / "timestamp.txt")  # nbgrader would block reading it when filing
    cases["timestamp_fifo"] = "contiene timestamp.txt"
    (submitted / "extra_link" / ASSIGNMENT / "datos").mkdir(parents=True)
    (submitted / "extra_link" / ASSIGNMENT / NOTEBOOK).write_bytes((SAMPLES / "solution.ipynb").read_bytes())
    (submitted / "extra_link" / ASSIGNMENT / "datos" / "secreto.txt").symlink_to("/etc/hostname")
    cases["extra_link"] = "contiene secreto.txt"
    for student, reason in cases.items():
        error = intake(scratch, student, ASSIGNMENT)
        assert error is not None and reason in error.reason, (student, error)
    # a linked folder is fingerprinted by its link, never entered
    assert fingerprint(submitted / "folder_link" / ASSIGNMENT) != fingerprint(submitted / "solution" / ASSIGNMENT)


class _PoolThatRaisesFor:
    """A grading pool whose workers return results, except that one student's outcome cannot be brought back."""

    def __init__(self, poisoned: str) -> None:
        self.poisoned = poisoned

    def grade(self, notebooks: dict[str, Path]):
        for student, path in sorted(notebooks.items()):
            if student == self.poisoned:
                raise RecursionError("maximum recursion depth exceeded while unpickling an object")
            yield Outcome(student, GradingResult(notebook=str(path)), "{}")


def test_whatever_the_pool_raises_is_one_students_reason_and_the_rest_are_graded(course):
    notebooks = {name: Path(f"/nowhere/{name}.ipynb") for name in ("a_poison", "b", "c")}
    outcomes = {o.student: o for o in _outcomes(_PoolThatRaisesFor("a_poison"), notebooks, course, ASSIGNMENT, LESSON)}
    assert set(outcomes) == set(notebooks)
    assert outcomes["a_poison"].notebook is None and "RecursionError" in outcomes["a_poison"].error
    assert outcomes["a_poison"].result.max_score == 22 and outcomes["a_poison"].result.score == 0
    assert outcomes["b"].notebook == outcomes["c"].notebook == "{}"


def test_a_student_that_cannot_be_filed_is_a_failure_with_the_reason(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "blank.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)
    results_path(scratch, ASSIGNMENT, "blank").mkdir(parents=True)  # a folder where the results file goes
    filer = _Filer(scratch, ASSIGNMENT, LESSON, tmp_path)
    outcome = Outcome("blank", GradingResult(notebook="x"), None, "roto")
    filed = filer.file_safely(outcome, "digest", scratch.submitted / "blank" / ASSIGNMENT / NOTEBOOK)
    assert filed.entry.status == FAILED and filed.entry.reason.startswith("no se pudo archivar la calificación en el curso (IsADirectoryError")
    assert filed.result.error is not None and filed.result.score == 0
