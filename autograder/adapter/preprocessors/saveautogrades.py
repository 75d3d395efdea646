"""nbgrader's SaveAutoGrades with the submission's grades and comments read at once and saved in one transaction."""

from __future__ import annotations

from typing import Any, Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Comment, Grade, Gradebook, GradeCell, SolutionCell, TaskCell
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades
from sqlalchemy.orm import joinedload


class SaveAutoGradesAtOnce(SaveAutoGrades):
    """nbgrader's SaveAutoGrades: the same scores and comments, decided by nbgrader's own `_add_score` and `_add_comment`.

    nbgrader looks up each graded cell's row with a six-table join and commits after each cell: about 30
    queries and 30 commits per student filed, 40 ms of the batch's filing process. Here the submitted
    notebook's grades and comments are read in two queries before the cells are walked, the lookups find
    them the way nbgrader's do (a grade cell's row before a task cell's of the same name; a solution cell's
    comment before a task cell's), and one commit saves them all: a failure part way saves none of that
    notebook's scores instead of some.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        """nbgrader's preprocess, with the gradebook that answers from one read and the one commit after the cells."""
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        with Gradebook(self.db_url) as gradebook:
            self.gradebook = _ReadAtOnce(gradebook, self.notebook_id, self.assignment_id, self.student_id)
            nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)  # the cells, through our preprocess_cell
            gradebook.db.commit()
        return nb, resources


class _ReadAtOnce:
    """The part of a Gradebook that SaveAutoGrades uses, answered from one read of the submitted notebook."""

    def __init__(self, gradebook: Gradebook, notebook: str, assignment: str, student: str) -> None:
        """Read the submitted notebook's grades and comments, each with its cell, in two queries."""
        self.gradebook = gradebook
        self.db = _CommitAtEnd(gradebook.db)
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        session = gradebook.db
        self.grades = _by_cell(session.query(Grade).options(joinedload(Grade.cell)).filter(Grade.notebook_id == submitted.id))
        self.comments = _by_cell(session.query(Comment).options(joinedload(Comment.cell)).filter(Comment.notebook_id == submitted.id))

    def find_grade(self, grade_cell: str, notebook: str, assignment: str, student: str) -> Grade:
        """Gradebook.find_grade, for this submitted notebook."""
        for kind in (GradeCell, TaskCell):  # nbgrader's order
            if (kind, grade_cell) in self.grades:
                return self.grades[(kind, grade_cell)]
        return self.gradebook.find_grade(grade_cell, notebook, assignment, student)  # nbgrader's MissingEntry

    def find_comment(self, solution_cell: str, notebook: str, assignment: str, student: str) -> Comment:
        """Gradebook.find_comment, for this submitted notebook."""
        for kind in (SolutionCell, TaskCell):  # nbgrader's order
            if (kind, solution_cell) in self.comments:
                return self.comments[(kind, solution_cell)]
        return self.gradebook.find_comment(solution_cell, notebook, assignment, student)


class _CommitAtEnd:
    """The session, whose per-cell commits wait: SaveAutoGradesAtOnce commits once, after the last cell."""

    def __init__(self, session: Any) -> None:
        """Stand in for `session`."""
        self.session = session

    def commit(self) -> None:
        """Nothing yet: the changes stay in the session until the one commit."""

    def __getattr__(self, name: str) -> Any:
        """Everything else is the session's own."""
        return getattr(self.session, name)


def _by_cell(rows: Any) -> dict[tuple[type, str], Any]:
    """Rows by (their cell's kind, its name): the same name may stand for a grade, a solution and a task cell."""
    found: dict[tuple[type, str], Any] = {}
    for row in rows:
        for kind in (GradeCell, SolutionCell, TaskCell):
            if isinstance(row.cell, kind):
                found[(kind, row.cell.name)] = row
    return found
