"""End to end: a cell that makes the kernel stop later (a timer, do_shutdown) carries the fault, and the tests keep their points.

Each notebook is the perfect solution with one extra cell after the imports. A graded run of the rest takes
a couple of seconds, so a second extra cell (a plain sleep, just before the first test) keeps the notebook
running while the timer fires: the kernel then dies in the sleep or in the test after it, never after the end.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell

from activation import ASSIGNMENT, LESSON
from autograder.engine import messages as msg
from autograder.adapter.pipeline import grade_notebook
from autograder.adapter.preprocessors.guardedexecute import FAULT_KEY, Fault
from conftest import EXPECTED_SCORES, SAMPLES

pytestmark = pytest.mark.e2e

CULPRITS = {
    "timer_do_shutdown": "import threading\nthreading.Timer(1.0, get_ipython().kernel.do_shutdown, [False]).start()",
    "timer_os_exit": "import os, threading\nthreading.Timer(1.0, os._exit, [0]).start()",
    "direct_do_shutdown": "get_ipython().kernel.do_shutdown(False)",
}
SLEEP = "import time\ntime.sleep(2)  # the notebook is still running when the timer fires"


def with_culprit(source: str) -> NotebookNode:
    """The perfect notebook with `source` as a cell just after the imports, and a sleep just before the first test."""
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    first_test = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "kernel_form")
    nb.cells.insert(first_test, new_code_cell(SLEEP))
    imports = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(imports + 1, new_code_cell(source))
    return nb


def faults(nb: NotebookNode) -> dict[str, str]:
    """Each faulty code cell's fault, by the start of its source."""
    return {c.source.splitlines()[0]: c.metadata[FAULT_KEY]["fault"] for c in nb.cells if c.metadata.get(FAULT_KEY, {}).get("fault")}


@pytest.mark.parametrize("name", sorted(CULPRITS))
def test_the_cell_that_stops_the_kernel_later_carries_the_fault(course, tmp_path: Path, name: str):
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(with_culprit(CULPRITS[name]), path)
    graded = grade_notebook(path, course, ASSIGNMENT, LESSON)
    culprit = next(c for c in graded.notebook.cells if c.source == CULPRITS[name])
    assert faults(graded.notebook) == {CULPRITS[name].splitlines()[0]: Fault.DELAYED}  # the culprit, and it alone
    assert culprit.metadata[FAULT_KEY]["message"] == msg.FAULT_DELAYED
    assert any(o.output_type == "error" and o.evalue == msg.FAULT_DELAYED for o in culprit.outputs)  # the student sees it
    assert {p.part.name: p.score for p in graded.result.parts()} == EXPECTED_SCORES["solution"]
    assert graded.result.score == graded.result.max_score == 22
