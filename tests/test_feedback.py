"""The text of each test in results comes from what its cell raised."""

from nbformat.v4 import new_code_cell, new_output

from autograder.engine.checks.core import TestFailure
from autograder.outputs.feedback import FAILURE_NAME, MISSING_CELL, TIMEOUT, cell_output


def cell_with(*outputs):
    cell = new_code_cell("check(...)")
    cell.outputs = list(outputs)
    return cell


def test_failure_name_matches_the_exception_class():
    assert FAILURE_NAME == TestFailure.__name__


def test_our_failure_message_is_used_verbatim():
    error = new_output("error", ename="TestFailure", evalue="relu: no superada.\nPista: \x1b[0;31mx\x1b[0m", traceback=[])
    assert cell_output(cell_with(error), passed=False) == "relu: no superada.\nPista: x"


def test_other_errors_are_explained():
    error = new_output("error", ename="NameError", evalue="name 'relu' is not defined", traceback=[])
    text = cell_output(cell_with(error), passed=False)
    assert "NameError" in text and "relu" in text


def test_timeout_and_missing_cell():
    error = new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
    assert cell_output(cell_with(error), passed=False) == TIMEOUT
    assert cell_output(None, passed=False) == MISSING_CELL


def test_stderr_is_named():
    stream = new_output("stream", name="stderr", text="algo raro\n")
    assert "stderr" in cell_output(cell_with(stream), passed=False)
