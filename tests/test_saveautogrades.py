"""SaveAutoGradesAtOnce saves what nbgrader's SaveAutoGrades saves: the same scores, review flags and comments."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import SaveAutoGrades

from activation import ASSIGNMENT, LESSON
from autograder.adapter.fileexecuted import FileExecuted
from autograder.adapter.preprocessors import SaveAutoGradesAtOnce
from autograder.adapter.preprocessors.saveautogrades import _ReadAtOnce
from autograder.commands.autograde import _Filer, ensure_registered
from conftest import SAMPLES
from staging import stage_course

# nbgrader's own add_submission trips SQLAlchemy warnings that say nothing about the scores (the filer ignores them too).
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]
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


def test_the_same_rows_as_nbgraders_saveautogrades(course, tmp_path):
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
    with Gradebook(f"sqlite:///{scratch.gradebook}") as gradebook:
        gradebook.update_or_create_student("solution")
        gradebook.update_or_create_submission(ASSIGNMENT, "solution")
        read = _ReadAtOnce(gradebook, ASSIGNMENT, ASSIGNMENT, "solution")
        assert len(read.grades) == len(LESSON.tests)
        with pytest.raises(MissingEntry):
            read.find_grade("no_such_cell", ASSIGNMENT, ASSIGNMENT, "solution")
        with pytest.raises(MissingEntry):
            read.find_comment("no_such_cell", ASSIGNMENT, ASSIGNMENT, "solution")


# --- a hand-made gradebook: one name for a grade, a solution and a task cell; a failure part way ------------


def _gradebook_with_shared_names(path: Path) -> str:
    """A gradebook whose notebook has cells named "x" of all three kinds, "y" graded, and one submission."""
    url = f"sqlite:///{path}"
    with Gradebook(url) as gradebook:
        gradebook.update_or_create_assignment("a")
        gradebook.update_or_create_notebook("n", "a")
        for name in ("x", "y"):
            gradebook.update_or_create_grade_cell(name, "n", "a", max_score=2.0, cell_type="code")
        gradebook.update_or_create_solution_cell("x", "n", "a")
        gradebook.update_or_create_task_cell("x", "n", "a", max_score=3.0, cell_type="markdown")
        gradebook.update_or_create_student("s")
        gradebook.add_submission("a", "s")
        submitted = gradebook.find_submission_notebook("n", "a", "s")
        for grade in submitted.grades:
            grade.manual_score = 1.0 if grade.cell.name == "y" else None
        gradebook.db.commit()
    return url


def _cell(grade_id: str, failed: bool, **kinds: bool) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source=f"# {grade_id}")
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "points": 2.0, "grade": False, "solution": False, "locked": False, **kinds}
    if failed:
        cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])]
    return cell


def _rows(url: str) -> tuple[list, list]:
    with Gradebook(url) as gradebook:
        submitted = gradebook.find_submission_notebook("n", "a", "s")
        grades = sorted((g.cell.name, type(g.cell).__name__, g.auto_score, g.manual_score, g.needs_manual_grade) for g in submitted.grades)
        comments = sorted((c.cell.name, type(c.cell).__name__, c.auto_comment) for c in submitted.comments)
    return grades, comments


@pytest.mark.parametrize("failed", [False, True])
def test_a_name_shared_by_three_kinds_of_cell_saves_what_nbgrader_saves(tmp_path: Path, failed: bool):
    cells = [_cell("x", failed, grade=True, solution=True), _cell("y", not failed, grade=True), _cell("x", False, task=True)]
    saved = []
    for saver in (SaveAutoGrades, SaveAutoGradesAtOnce):
        url = _gradebook_with_shared_names(tmp_path / f"{saver.__name__}.db")
        resources = {"nbgrader": {"notebook": "n", "assignment": "a", "student": "s", "db_url": url}}
        saver()(nbformat.v4.new_notebook(cells=copy.deepcopy(cells)), resources)
        saved.append(_rows(url))
    assert saved[0] == saved[1]
    grades, _ = saved[1]
    assert ("y", "GradeCell", 0.0 if not failed else 2.0, 1.0, True) in grades  # a manual score: flagged for review


def test_a_cell_missing_from_the_gradebook_saves_none_of_the_notebook(tmp_path: Path):
    """nbgrader has saved the cells before it by then; here the notebook's earlier scores stay as they were."""
    url = _gradebook_with_shared_names(tmp_path / "g.db")
    before = _rows(url)
    cells = [_cell("y", False, grade=True), _cell("missing", False, grade=True)]
    resources = {"nbgrader": {"notebook": "n", "assignment": "a", "student": "s", "db_url": url}}
    with pytest.raises(MissingEntry):
        SaveAutoGradesAtOnce()(nbformat.v4.new_notebook(cells=cells), resources)
    assert _rows(url) == before
