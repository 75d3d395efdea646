"""Our nbgrader steps, each on small notebooks, with nbgrader's own grading rule."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.converters.autograde import Autograde
from nbgrader.utils import determine_grade

from autograder.adapter.preprocessors import RequireExecution


def graded_cell(source: str = "check('relu_batch', relu)", executed: bool = True):
    cell = new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "relu_batch", "schema_version": 3}})
    cell.execution_count = 7 if executed else None
    return cell


def test_skipped_graded_cell_scores_zero():
    cell = graded_cell(executed=False)
    assert determine_grade(cell)[0] == 1  # nbgrader alone: no outputs means full marks
    nb, _ = RequireExecution()(new_notebook(cells=[cell]), {})
    assert determine_grade(nb.cells[0])[0] == 0
    assert nb.cells[0].outputs[-1].ename == "TestNotExecuted"


def test_executed_cells_and_plain_cells_are_untouched():
    ran = graded_cell()
    ran.outputs = [new_output("stream", name="stdout", text="ok\n")]
    plain = new_code_cell("x = 1")
    nb, _ = RequireExecution()(new_notebook(cells=[ran, plain]), {})
    assert determine_grade(nb.cells[0])[0] == 1
    assert nb.cells[1].outputs == []


def test_wired_into_the_course_autograde_chain(course):
    chain = Autograde(config=course.config()).autograde_preprocessors
    names = [cls.__name__ for cls in chain]
    assert names[0] == "GuardedExecute" and "Execute" not in names
    assert names.index("RequireExecution") < names.index("Verify") < names.index("SaveAutoGradesAtOnce")


def test_ignore_pattern_drops_only_python_warnings(course):
    from nbgrader.preprocessors import IgnorePattern

    warning = new_output("stream", name="stderr", text="/x/y.py:3: UserWarning: cuidado\n  z = f()\n")
    other = new_output("stream", name="stderr", text="algo salió mal\n")
    cell = graded_cell()
    cell.outputs = [warning, other]
    nb, _ = IgnorePattern(config=course.config())(new_notebook(cells=[cell]), {})
    assert [o.text for o in nb.cells[0].outputs] == ["algo salió mal\n"]
