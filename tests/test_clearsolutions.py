"""ClearSolutionsWithPlaceholders: nbgrader's ClearSolutions, with a per-cell placeholder where configured."""

from __future__ import annotations

import nbformat
from traitlets.config import Config

from autograder.adapter.preprocessors import ClearSolutionsWithPlaceholders

STUB = "# TU CÓDIGO AQUÍ\nraise NotImplementedError()"


def answer(grade_id: str, source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False, "locked": False, "schema_version": 3}
    return cell


def clear(*cells: nbformat.NotebookNode) -> list[str]:
    config = Config()
    config.ClearSolutions.code_stub = {"python": STUB}  # the parent's option applies to the subclass
    config.ClearSolutionsWithPlaceholders.placeholders = {"kernel_gx": "Gx = None"}
    notebook = nbformat.v4.new_notebook(cells=list(cells), metadata={"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}})
    cleared, _ = ClearSolutionsWithPlaceholders(config=config).preprocess(notebook, {})
    return [cell.source for cell in cleared.cells]


def test_the_configured_cell_gets_its_placeholder_and_the_others_the_stub():
    value = answer("kernel_gx", "### BEGIN SOLUTION\nGx = torch.ones(3, 3)\n### END SOLUTION")
    function = answer("relu_impl", "def relu(z):\n    ### BEGIN SOLUTION\n    return z.clamp(min=0)\n    ### END SOLUTION")
    gx, relu = clear(value, function)
    assert gx == "Gx = None"
    assert relu == "def relu(z):\n    # TU CÓDIGO AQUÍ\n    raise NotImplementedError()"


def test_the_stub_is_restored_after_a_placeholder():
    first, second = clear(answer("kernel_gx", "### BEGIN SOLUTION\nx\n### END SOLUTION"), answer("other", "### BEGIN SOLUTION\ny\n### END SOLUTION"))
    assert first == "Gx = None" and second == STUB
