"""Grade every submission of an assignment into the course gradebook with `nbgrader autograde`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import MissingEntry

from .catalog import ASSIGNMENT, BY_GRADE_ID, Part
from .course import Course
from .errors import NbgraderCommandError, NotebookError
from .nbgrader_cli import open_gradebook, run_nbgrader
from .release import generate
from .submission import read_submission


@dataclass(frozen=True)
class StudentScore:
    """One student's score per part, as stored in gradebook.db."""

    student: str
    parts: dict[Part, float]
    max_parts: dict[Part, float]
    graded: bool

    @property
    def score(self) -> float:
        return sum(self.parts.values())

    @property
    def max_score(self) -> float:
        return sum(self.max_parts.values())


@dataclass(frozen=True)
class BatchResult:
    """Every submission of a batch: the graded ones with their scores, the others with a reason."""

    scores: list[StudentScore]
    failures: dict[str, str]


def ensure_registered(course: Course, assignment: str = ASSIGNMENT) -> None:
    """Make gradebook.db know the assignment and its source cells, without touching the committed release."""
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        try:
            if gradebook.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="autograder-register-") as scratch:
        generate(course, assignment, release_dir=Path(scratch))


def autograde(course: Course, assignment: str = ASSIGNMENT, force: bool = False) -> BatchResult:
    """`nbgrader autograde` for everything in submitted/, then per-part scores, and a reason for each one not graded."""
    ensure_registered(course, assignment)
    args = ["autograde", assignment, "--Autograde.create_student=True"]
    if force:
        args.append("--force")
    nbgrader_failure: NbgraderCommandError | None = None
    try:
        run_nbgrader(course.root, *args)
    except NbgraderCommandError as error:  # nbgrader grades the others, then fails: keep both
        nbgrader_failure = error
    rows = scores(course, assignment)
    graded = {row.student for row in rows if row.graded}
    failures = {}
    for folder in sorted(course.submitted.glob(f"*/{assignment}")):
        student = folder.parent.name
        if student not in graded:
            failures[student] = _why_not_graded(folder / f"{assignment}.ipynb", assignment, nbgrader_failure)
    return BatchResult([row for row in rows if row.graded], failures)


def _why_not_graded(notebook: Path, assignment: str, failure: NbgraderCommandError | None) -> str:
    """The submission's own defect when we can name it, else what nbgrader said."""
    try:
        read_submission(notebook, assignment)
    except NotebookError as error:
        return error.reason
    return f"nbgrader could not grade it: {failure.tail.strip().splitlines()[-1] if failure and failure.tail.strip() else 'no error reported'}"


def scores(course: Course, assignment: str = ASSIGNMENT) -> list[StudentScore]:
    """Per-part scores of every submission in gradebook.db."""
    rows = []
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            parts = {part: 0.0 for part in Part}
            maxima = {part: 0.0 for part in Part}
            graded = False
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    spec = BY_GRADE_ID.get(grade.name)
                    if spec is None:
                        continue
                    parts[spec.part] += float(grade.score or 0.0)
                    maxima[spec.part] += float(grade.max_score)
                    graded = graded or grade.auto_score is not None
            rows.append(StudentScore(submission.student.id, parts, maxima, graded))
    return sorted(rows, key=lambda row: row.student)
