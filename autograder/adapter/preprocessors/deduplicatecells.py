"""A copied nbgrader cell must not make a notebook ungradable: earlier copies become ordinary cells."""

from __future__ import annotations

from typing import Optional, Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import DeduplicateIds
from traitlets import Unicode


class DeduplicateCells(DeduplicateIds):
    """A pasted copy of a cell must cost nothing: earlier copies become valid ordinary cells, not a SchemaTooOldError.

    Jupyter's copy and paste keeps a cell's nbgrader metadata, so a student who copies an answer,
    test or locked cell ends up with several cells with one grade_id. As in nbgrader, the last
    copy in the notebook keeps the metadata: it is the answer, test or locked cell that grading
    knows (OverwriteCells restores a test's source and points there), so each grade_id is graded
    once. Every copy still runs where it is, in order, as the student's own code: the answer the
    tests see is the last one defined before them, as in "Run All". nbgrader leaves an empty
    ``nbgrader`` dict on the earlier copies, which fails validation (schema version 0); here it
    is removed, and a code copy gets a comment saying what it is.
    """

    note = Unicode(
        "# Copia de la celda «{grade_id}»: se ejecuta como código normal; solo la última copia cuenta como esa celda.\n",
        help=(
            "Comment put at the top of every code cell that lost its nbgrader metadata as an earlier copy "
            "({grade_id} is replaced; empty for none). Not added to markdown cells, nor above a cell magic (%%...), "
            "which must stay on the first line."
        ),
    ).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, cell_index: int) -> Tuple[NotebookNode, ResourcesDict]:
        grade_id = _grade_id(cell)
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if grade_id is not None and cell.metadata.get("nbgrader") == {}:  # DeduplicateIds emptied an earlier copy
            del cell.metadata["nbgrader"]
            if self.note and cell.cell_type == "code" and not cell.source.startswith("%%"):
                cell.source = self.note.format(grade_id=grade_id) + cell.source
        return cell, resources


def _grade_id(cell: NotebookNode) -> Optional[str]:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
