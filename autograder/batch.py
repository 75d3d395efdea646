"""Grade every submission of an assignment into the course gradebook with `nbgrader autograde`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .catalog import ASSIGNMENT, BY_GRADE_ID, Part
from .course import Course
from .nbgrader_cli import run_nbgrader
from .release import generate


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


def ensure_registered(course: Course, assignment: str = ASSIGNMENT) -> None:
    """Make gradebook.db know the assignment and its source cells, without touching the committed release."""
    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        try:
            if gradebook.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="autograder-register-") as scratch:
        generate(course, assignment, release_dir=Path(scratch))


def autograde(course: Course, assignment: str = ASSIGNMENT, force: bool = False) -> list[StudentScore]:
    """`nbgrader autograde` for everything in submitted/, then the per-part scores from gradebook.db."""
    ensure_registered(course, assignment)
    args = ["autograde", assignment, "--Autograde.create_student=True"]
    if force:
        args.append("--force")
    run_nbgrader(course.root, *args)
    return scores(course, assignment)


def scores(course: Course, assignment: str = ASSIGNMENT) -> list[StudentScore]:
    """Per-part scores of every submission in gradebook.db."""
    rows = []
    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
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
