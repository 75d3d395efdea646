"""Keep hidden tests' code out of student feedback, while the feedback they print stays."""

from __future__ import annotations

from typing import Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.utils import is_grade
from traitlets import Bool, Unicode

from autograder.adapter.preprocessors.feedbackstep import FeedbackStep
from autograder.engine import messages as msg
from autograder.outputs.feedback import ANSI


class HideHiddenTests(FeedbackStep):
    """Replace each hidden-tests region of a graded cell with a one-line comment, for feedback.

    Autograding restores the hidden tests from the source (OverwriteCells), so the autograded
    notebook that `nbgrader generate_feedback` renders holds their code. This step, in the feedback
    chain, swaps each region between the delimiters for `placeholder` and keeps the cell's outputs:
    the student still reads why a hidden test failed, never how it tests. A region left open hides
    the rest of the cell. Traceback entries that quote a hidden line are replaced too.
    """

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS", help="Text of the line that opens a hidden-tests region.").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS", help="Text of the line that closes a hidden-tests region.").tag(config=True)
    placeholder = Unicode(
        msg.HIDDEN_TEST_CODE, help="Line (shown to students) that stands for a hidden-tests region."
    ).tag(config=True)
    hide_in_tracebacks = Bool(
        True, help="Also replace traceback entries of the cell's errors that quote a line of hidden test code."
    ).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, cell_index: int) -> Tuple[NotebookNode, ResourcesDict]:
        if is_grade(cell):
            hidden = self._hide_regions(cell)
            if hidden and self.hide_in_tracebacks and cell.cell_type == "code":
                self._hide_in_tracebacks(cell, hidden)
        return cell, resources

    def _hide_regions(self, cell: NotebookNode) -> list[str]:
        """Rewrite the cell's source without its hidden regions; the code lines that were hidden."""
        kept: list[str] = []
        hidden: list[str] = []
        inside = False
        for line in cell.source.split("\n"):
            if not inside and self.begin_delimiter in line:
                inside = True
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(indent + self.placeholder)
            elif inside and self.end_delimiter in line:
                inside = False
            elif inside:
                hidden.append(line)
            else:
                kept.append(line)
        cell.source = "\n".join(kept)
        return [line.strip() for line in hidden if line.strip()]

    def _hide_in_tracebacks(self, cell: NotebookNode, hidden: list[str]) -> None:
        """Replace every traceback entry that quotes a hidden line (IPython shows the failing cell's code)."""
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            output.traceback = [
                self.placeholder if any(line in ANSI.sub("", entry) for line in hidden) else entry
                for entry in output.get("traceback", [])
            ]
