"""A graded test cell that never ran must not count as passed."""

from __future__ import annotations

from typing import Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Unicode


class RequireExecution(NbGraderPreprocessor):
    """Give an error output to every graded code cell that Execute skipped.

    nbgrader scores a test cell by its outputs: no error means full points. A cell the
    kernel never ran (tagged ``skip-execution``, or left behind by a dead kernel) has no
    outputs at all, so without this step it would earn its points.
    """

    ename = Unicode("TestNotExecuted", help="Error name recorded on a graded cell that did not run.").tag(config=True)

    evalue = Unicode(
        "La celda de esta prueba no se ejecutó, así que no suma puntos.",
        help="Message (shown to students) recorded on a graded cell that did not run.",
    ).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, cell_index: int) -> Tuple[NotebookNode, ResourcesDict]:
        if self._graded_code(cell) and not self._ran(cell):
            cell.outputs = [*cell.get("outputs", []), self._not_executed_error()]
        return cell, resources

    @staticmethod
    def _graded_code(cell: NotebookNode) -> bool:
        return cell.cell_type == "code" and is_grade(cell)

    @staticmethod
    def _ran(cell: NotebookNode) -> bool:
        return cell.get("execution_count") is not None

    def _not_executed_error(self) -> NotebookNode:
        return new_output("error", ename=self.ename, evalue=self.evalue, traceback=[f"{self.ename}: {self.evalue}"])
