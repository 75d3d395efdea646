"""nbgrader's OverwriteCells with the release's cells read once per notebook instead of once per cell."""

from __future__ import annotations

from typing import Any, Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import GradeCell, Gradebook, MissingEntry, SourceCell, TaskCell
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells


class OverwriteCellsAtOnce(OverwriteCells):
    """nbgrader's OverwriteCells: the same cells restored, types, locks, points and checksums, by nbgrader's own `preprocess_cell`.

    nbgrader looks each cell's source row up with a three-table join, and each graded cell's row with
    another: about 45 queries per submission, all reading the same release. Here the notebook's source,
    grade and task cells (with their points) are read in four queries before the cells are walked, and
    the lookups find them the way nbgrader's do (a grade cell's row before a task cell's of the same
    name); a name the release lacks still goes to the gradebook, which says MissingEntry as before.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        """nbgrader's preprocess, with the gradebook that answers from one read of the release's notebook."""
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        with Gradebook(self.db_url) as gradebook:
            self.gradebook = _ReleaseAtOnce(gradebook, self.notebook_id, self.assignment_id)
            nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)  # the cells, through nbgrader's preprocess_cell
            if self.add_missing_cells:
                nb, resources = self.add_missing_grade_cells(nb, resources)
                nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class _ReleaseAtOnce:
    """The part of a Gradebook that OverwriteCells uses, answered from one read of the release's notebook."""

    def __init__(self, gradebook: Gradebook, notebook: str, assignment: str) -> None:
        """Read the notebook's source, grade and task cells (none if the gradebook lacks the notebook: every lookup then misses)."""
        self.gradebook = gradebook
        self.notebook = notebook
        self.assignment = assignment
        self.source: dict[str, SourceCell] = {}
        self.graded: dict[str, GradeCell | TaskCell] = {}
        try:
            release = gradebook.find_notebook(notebook, assignment)
        except MissingEntry:
            return
        self.source = {cell.name: cell for cell in release.source_cells}
        session = gradebook.db
        for kind in (TaskCell, GradeCell):  # nbgrader's order: a grade cell's row before a task cell's of the same name
            self.graded.update({cell.name: cell for cell in session.query(kind).filter(kind.notebook_id == release.id)})

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SourceCell:
        """Gradebook.find_source_cell, for this notebook."""
        if self._holds(self.source, name, notebook, assignment):
            return self.source[name]
        return self.gradebook.find_source_cell(name, notebook, assignment)  # nbgrader's MissingEntry

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> GradeCell | TaskCell:
        """Gradebook.find_graded_cell, for this notebook."""
        if self._holds(self.graded, name, notebook, assignment):
            return self.graded[name]
        return self.gradebook.find_graded_cell(name, notebook, assignment)

    def _holds(self, rows: dict[str, Any], name: object, notebook: str, assignment: str) -> bool:
        """Whether `name` is one of this notebook's rows (a name of another kind, a list say, is nbgrader's to refuse)."""
        return (notebook, assignment) == (self.notebook, self.assignment) and isinstance(name, str) and name in rows

    def __getattr__(self, name: str) -> Any:
        """Everything else (find_notebook for the missing cells) is the gradebook's own."""
        return getattr(self.gradebook, name)
