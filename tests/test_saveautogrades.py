"""SaveAutoGradesAtOnce saves what nbgrader's SaveAutoGrades saves: the same scores, review flags and comments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import SaveAutoGrades

from activation import ASSIGNMENT, LESSON
from autograder.adapter.fileexecuted import FileExecuted
from autograder.adapter.preprocessors import SaveAutoGradesAtOnce
from autograder.adapter.preprocessors.saveautogrades import _ReadAtOnce
from autograder.commands.autograde import _Filer, ensure_registered
from conftest import SAMPLES
from staging import stage_course

pytestmark = pytest.mark.e2e
# The solution, a wrong answer and the untouched template ("No response." comments).
STUDENTS = ("solution", "leaky_relu", "blank")
ROWS = (
    "select s.student_id, c.name, c.type, {columns} from {table} g join base_cell c on g.cell_id = c.id"
    " join submitted_notebook n on g.notebook_id = n.id join submitted_assignment s on n.assignment_id = s.id order by 1, 2, 3"
)


def filed_with(saver: type, course, target: Path, manual: dict[str, float]):  # type: ignore[no-untyped-def]
    """File each student's notebook (the sample itself, as executed) with `saver` in the chain; the grade and comment rows."""
    scratch = stage_course(course, target, [SAMPLES / f"{name}.ipynb" for name in STUDENTS])
    ensure_registered(scratch, ASSIGNMENT)
    staging = target / "staging"
    staging.mkdir()
    filer = _Filer(scratch, ASSIGNMENT, LESSON, staging)
    chain = filer.config.Autograde.autograde_preprocessors
    filer.config.Autograde.autograde_preprocessors = [saver if step is SaveAutoGradesAtOnce else step for step in chain]
    for student in STUDENTS:
        _executed_with_failures(SAMPLES / f"{student}.ipynb", staging / f"{student}.ipynb", every=2 if student != "solution" else 0)
        filer.coursedir.student_id = student
        FileExecuted(coursedir=filer.coursedir, config=filer.config).start()  # once: the rows exist, a grader may now mark
        with sqlite3.connect(scratch.gradebook) as db:  # a manual score on some cells: nbgrader flags them for review
            for name, score in manual.items():
                db.execute("update grade set manual_score = ? where cell_id in (select id from base_cell where name = ?)", (score, name))
        FileExecuted(coursedir=filer.coursedir, config=filer.config).start()
    with sqlite3.connect(scratch.gradebook) as db:
        grades = db.execute(ROWS.format(columns="g.auto_score, g.manual_score, g.needs_manual_grade", table="grade")).fetchall()
        comments = db.execute(ROWS.format(columns="g.auto_comment", table="comment")).fetchall()
    return grades, comments


def _executed_with_failures(sample: Path, target: Path, every: int) -> None:
    """The sample as if executed: every `every`-th test cell failed (an error output), the others passed."""
    nb = nbformat.read(sample, as_version=4)
    tests = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"]
    for index, cell in enumerate(tests):
        if every and index % every == 0:
            cell.outputs = [nbformat.v4.new_output("error", ename="TestFailure", evalue="no superada", traceback=["no superada"])]
    nbformat.write(nb, target)


def test_the_same_rows_as_nbgraders_savautogrades(course, tmp_path):
    tests = [spec.grade_id for spec in LESSON.tests]
    manual = {tests[0]: 0.5, tests[-1]: 0.0}
    ours = filed_with(SaveAutoGradesAtOnce, course, tmp_path / "ours", manual)
    stock = filed_with(SaveAutoGrades, course, tmp_path / "stock", manual)
    assert ours == stock
    grades, comments = ours
    assert len(grades) == len(STUDENTS) * len(tests)
    assert {row[3] for row in grades if row[0] == "solution"} != {0.0} and 0.0 in {row[3] for row in grades}  # passed and failed
    assert any(row[5] for row in grades) and not all(row[5] for row in grades)  # some flagged for review, not all
    assert ("blank", "relu_impl", "SolutionCell", "No response.") in comments


def test_the_course_chain_files_with_it(course):
    assert SaveAutoGradesAtOnce in course.config().Autograde.autograde_preprocessors
    assert SaveAutoGrades not in course.config().Autograde.autograde_preprocessors


def test_a_cell_the_gradebook_lacks_is_nbgraders_missing_entry(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{scratch.gradebook}") as gradebook:
        gradebook.update_or_create_student("solution")
        gradebook.update_or_create_submission(ASSIGNMENT, "solution")
        read = _ReadAtOnce(gradebook, ASSIGNMENT, ASSIGNMENT, "solution")
        assert len(read.grades) == len(LESSON.tests)
        with pytest.raises(MissingEntry):
            read.find_grade("no_such_cell", ASSIGNMENT, ASSIGNMENT, "solution")
        with pytest.raises(MissingEntry):
            read.find_comment("no_such_cell", ASSIGNMENT, ASSIGNMENT, "solution")
