"""Leave a per-cell placeholder where a solution is removed, so an unanswered cell runs instead of raising."""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearSolutions
from traitlets import Dict


class ClearSolutionsWithPlaceholders(ClearSolutions):
    """nbgrader's ClearSolutions, with the stub chosen per answer cell (by grade_id) where one is configured.

    A function's stub should raise NotImplementedError only when called; a cell that defines a
    value (`Gx = ...`) needs a placeholder that runs, so a student's "Run All" shows the whole
    lesson before they write a line.
    """

    placeholders = Dict(
        key_trait=None,
        value_trait=None,
        help="Code that replaces the solution region of the answer cell with this grade_id, instead of code_stub.",
    ).tag(config=True)

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
        return self.placeholders.get(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
