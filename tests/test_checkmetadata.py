"""CachedCheckCellMetadata: nbgrader's metadata check, the schema part remembered, every verdict the same as nbgrader's."""

from __future__ import annotations

import copy
import logging

import nbformat
import pytest
from nbgrader.nbgraderformat import ValidationError
from nbgrader.preprocessors import CheckCellMetadata

from autograder.adapter.preprocessors import CachedCheckCellMetadata
from conftest import ROOT

SOURCE = ROOT / "solutions" / "activation_maxpool" / "activation_maxpool.ipynb"
LOG = logging.getLogger("test_checkmetadata")


def verdict(step: type, nb: nbformat.NotebookNode) -> str:
    """'ok', or the error nbgrader's step raises, as text."""
    try:
        step(log=LOG).preprocess(copy.deepcopy(nb), {})
    except ValidationError as error:
        return f"ValidationError: {error.message}"
    except Exception as error:  # noqa: BLE001 - compared, whatever it is
        return f"{type(error).__name__}: {error}"
    return "ok"


def graded_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"))


def broken(kind: str) -> nbformat.NotebookNode:
    nb = nbformat.read(SOURCE, as_version=4)
    cell = graded_code_cell(nb)
    if kind == "old_schema":
        cell.metadata.nbgrader.schema_version = 2
    elif kind == "new_schema":
        cell.metadata.nbgrader.schema_version = 99
    elif kind == "no_points":
        del cell.metadata.nbgrader["points"]
    elif kind == "points_text":
        cell.metadata.nbgrader.points = "cuatro"
    elif kind == "duplicate_id":
        nb.cells.append(copy.deepcopy(cell))
    elif kind == "markdown_grade":  # the same metadata that passes on a code cell, on a markdown cell
        nb.cells.append(nbformat.v4.new_markdown_cell("texto", metadata=copy.deepcopy(cell.metadata)))
        nb.cells[-1].metadata.nbgrader.grade_id = "otra"
    return nb


@pytest.mark.parametrize("kind", ["valid", "old_schema", "new_schema", "no_points", "points_text", "duplicate_id", "markdown_grade"])
def test_every_verdict_is_nbgraders_also_after_the_same_metadata_passed_once(kind):
    valid = nbformat.read(SOURCE, as_version=4)
    assert verdict(CachedCheckCellMetadata, valid) == "ok"  # its metadata is remembered from here on
    nb = valid if kind == "valid" else broken(kind)
    expected = verdict(CheckCellMetadata, nb)
    assert (expected == "ok") == (kind == "valid")
    assert verdict(CachedCheckCellMetadata, nb) == expected
    assert verdict(CachedCheckCellMetadata, nb) == expected  # a failure is never remembered as a pass
