"""FileExecuted files an executed notebook exactly as nbgrader's two-pass Autograde does, in one pass."""

from __future__ import annotations

import json
import shutil
import sqlite3

import nbformat
import pytest
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from activation import ASSIGNMENT, LESSON
from autograder.adapter.fileexecuted import FileExecuted
from autograder.adapter.preprocessors import UseExecuted
from autograder.commands.autograde import _Filer, ensure_registered
from conftest import SAMPLES
from staging import stage_course

pytestmark = pytest.mark.e2e
STUDENTS = ("solution", "leaky_relu")


def filed_with(converter: type, course, target, staging, garbled: bool = False):  # type: ignore[no-untyped-def]
    """Stage a course, file each student's executed notebook (here: the sample itself) with `converter`; what it left.

    `garbled`: each submitted notebook is then overwritten with text no reader accepts.
    """
    scratch = stage_course(course, target, [SAMPLES / f"{name}.ipynb" for name in STUDENTS])
    if garbled:
        for name in STUDENTS:
            (scratch.submitted / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("{ no es un cuaderno", encoding="utf-8")
    ensure_registered(scratch, ASSIGNMENT)
    (scratch.submitted / "leaky_relu" / ASSIGNMENT / "timestamp.txt").write_text("2030-01-01 10:00:00 UTC")
    (scratch.submitted / "solution" / ASSIGNMENT / "datos_del_alumno.txt").write_text("mío")
    staging.mkdir()
    filer = _Filer(scratch, ASSIGNMENT, LESSON, staging)
    notebooks, files = {}, {}
    for student in STUDENTS:
        shutil.copy(SAMPLES / f"{student}.ipynb", staging / f"{student}.ipynb")
        filer.coursedir.student_id = student
        converter(coursedir=filer.coursedir, config=filer.config).start()
        folder = scratch.root / "autograded" / student / ASSIGNMENT
        notebooks[student] = json.loads((folder / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
        files[student] = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))
    with sqlite3.connect(scratch.gradebook) as db:
        grades = db.execute(
            "select s.student_id, c.name, g.auto_score from grade g join base_cell c on g.cell_id = c.id"
            " join submitted_notebook n on g.notebook_id = n.id join submitted_assignment s on n.assignment_id = s.id"
            " order by 1, 2"
        ).fetchall()
        timestamps = db.execute("select student_id, timestamp from submitted_assignment order by 1").fetchall()
    return notebooks, files, grades, timestamps


def test_one_pass_files_what_nbgraders_two_passes_file(course, tmp_path):
    ours = filed_with(FileExecuted, course, tmp_path / "ours", tmp_path / "ours-staging")
    stock = filed_with(Autograde, course, tmp_path / "stock", tmp_path / "stock-staging")
    notebooks, files, grades, timestamps = ours
    assert notebooks == stock[0]
    assert files == stock[1] and "datos_del_alumno.txt" in files["solution"]
    assert grades == stock[2] and len(grades) == 2 * len(LESSON.tests)
    assert timestamps == stock[3] and any(str(stamp).startswith("2030-01-01 10:00:00") for _, stamp in timestamps)


def test_the_submission_is_not_read_when_useexecuted_replaces_it_first(course, tmp_path):
    """The chain's first step puts the executed copy in its place: parsing and copying the submission was wasted."""
    assert filed_with(FileExecuted, course, tmp_path / "garbled", tmp_path / "garbled-staging", garbled=True) == filed_with(
        FileExecuted, course, tmp_path / "intact", tmp_path / "intact-staging"
    )


@pytest.mark.parametrize("first", ["another step", "UseExecuted disabled"])
def test_with_another_first_step_the_submission_is_read_as_nbconvert_reads_it(course, tmp_path, first):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)
    (scratch.submitted / "solution" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("{ no es un cuaderno", encoding="utf-8")
    config = scratch.config()
    config.Autograde.sanitize_preprocessors = []
    if first == "another step":
        config.Autograde.autograde_preprocessors = ["nbconvert.preprocessors.ClearOutputPreprocessor"]
    else:
        config.Autograde.autograde_preprocessors = [UseExecuted]
        config.UseExecuted.enabled = False  # nbconvert then hands the chain's result the notebook it read
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(scratch.root)
    coursedir.assignment_id = ASSIGNMENT
    coursedir.student_id = "solution"
    with pytest.raises(NbGraderException):
        FileExecuted(coursedir=coursedir, config=config).start()


def test_with_sanitize_steps_configured_it_is_autograde_unchanged(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)
    submitted = scratch.submitted / "solution" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(submitted, as_version=4)
    first = next(index for index, cell in enumerate(nb.cells) if cell.cell_type == "code")
    nb.cells[first].outputs = [nbformat.v4.new_output("stream", name="stdout", text="de la alumna\n")]
    nbformat.write(nb, submitted)
    config = scratch.config()
    config.Autograde.autograde_preprocessors = []  # nothing executed: what reaches autograded/ is the sanitize pass's work
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(scratch.root)
    coursedir.assignment_id = ASSIGNMENT
    coursedir.student_id = "solution"
    FileExecuted(coursedir=coursedir, config=config).start()
    written = nbformat.read(scratch.root / "autograded" / "solution" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert written.cells[first].outputs == []  # ClearOutput ran: both of Autograde's passes, not the one-pass path


def test_an_invalid_executed_notebook_is_refused_before_any_score_is_saved(course, tmp_path):
    """The filer checks the notebook's schema once, after its last step: UseExecuted checks what it reads, first."""
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "solution.ipynb"])
    ensure_registered(scratch, ASSIGNMENT)
    staging = tmp_path / "staging"
    staging.mkdir()
    filer = _Filer(scratch, ASSIGNMENT, LESSON, staging)
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    test_cell = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code")
    test_cell.execution_count = "siete"  # a number or null: invalid, and nothing nbgrader's steps read
    (staging / "solution.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    filer.coursedir.student_id = "solution"
    with pytest.raises(NbGraderException):
        FileExecuted(coursedir=filer.coursedir, config=filer.config).start()
    with sqlite3.connect(scratch.gradebook) as db:
        assert db.execute("select count(*) from grade where auto_score is not null").fetchone() == (0,)
