"""Leave a per-cell placeholder where a solution is removed, so an unanswered cell runs instead of raising."""

from __future__ import annotations

from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearSolutions
from traitlets import Dict

from autograder.adapter.lesson_of import lesson_of
from autograder.engine.errors import CourseError


class ClearSolutionsWithPlaceholders(ClearSolutions):
    """nbgrader's ClearSolutions, with the stub chosen per answer cell (by grade_id) where one is configured.

    A function's stub should raise NotImplementedError only when called; a cell that defines a
    value (`x = ...`) needs a placeholder that runs, so a student's "Run All" shows the whole
    lesson before they write a line. The lesson names its placeholders; the course may add or override some.
    """

    placeholders = Dict(
        key_trait=None,
        value_trait=None,
        help="Code that replaces the solution region of the answer cell with this grade_id, instead of code_stub "
        "(over the lesson's own placeholders).",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        try:
            lesson = dict(lesson_of(resources, self.config).placeholders)
        except CourseError:  # an assignment no lesson grades: nbgrader's stubs only
            lesson = {}
        self._placeholders = {**lesson, **self.placeholders}
        return super().preprocess(nb, resources)

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        placeholder = self._placeholder(cell)
        if placeholder is None:
            return super()._replace_solution_region(cell, language)
        default = self.code_stub
        self.code_stub = {**default, language: placeholder}
        try:
            return super()._replace_solution_region(cell, language)
        finally:
            self.code_stub = default

    def _placeholder(self, cell: NotebookNode) -> str | None:
        if cell.cell_type != "code":
            return None
        placeholders = getattr(self, "_placeholders", self.placeholders)
        return placeholders.get(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
