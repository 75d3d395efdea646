"""Verify decides test cells from probe records in this process; the kernel's own outputs never make a cell pass."""

from __future__ import annotations

import json

import torch
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kernel_side import SECRET, converse

from activation import PROBE_MIME
from autograder.engine.issuer import REQUESTS_KEY, RESOURCES_KEY, SECRET_KEY
from autograder.adapter.preprocessors import Verify
from autograder.adapter.preprocessors.guardedexecute import FAULT_KEY, Fault

# The grading these tests' records answer: its secret and the requests issued (as GuardedExecute leaves them).
REQUESTS: dict = {}


def record(grade_id: str, answer) -> dict:
    """The kernel's record of answer for a request issued in this grading."""
    request, data = converse(grade_id, answer)
    REQUESTS[grade_id] = request
    return data


def right_relu(z):
    return torch.where(z > 0, z, torch.zeros_like(z))


def leaky_relu(z):
    return torch.where(z > 0, z, 0.01 * z)


def probe_output(data) -> dict:
    return new_output("display_data", data={PROBE_MIME: json.loads(json.dumps(data))})


def graded_cell(grade_id: str, *outputs) -> dict:
    cell = new_code_cell(f'check("{grade_id}", relu)')
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 1}
    cell.outputs = list(outputs)
    return cell


def answer_cell(grade_id: str, *outputs) -> dict:
    cell = new_code_cell("def relu(z): ...")
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id}
    cell.outputs = list(outputs)
    return cell


def verify(*cells):
    cells, _ = verify_with_resources(*cells)
    return cells


def verify_with_resources(*cells):
    nb = new_notebook(cells=list(cells))
    resources = {RESOURCES_KEY: {SECRET_KEY: SECRET, REQUESTS_KEY: REQUESTS}}
    out, resources = Verify().preprocess(nb, resources)
    return out.cells, resources


def errors(cell) -> list:
    return [o for o in cell.outputs if o.output_type == "error"]


def test_a_passing_record_passes_whatever_the_kernel_printed_or_raised():
    cell = graded_cell(
        "relu_batch",
        new_output("stream", name="stdout", text="hola\n"),
        new_output("stream", name="stderr", text="UserWarning\n"),
        probe_output(record("relu_batch", right_relu)),
        new_output("error", ename="TestFailure", evalue="fake failure", traceback=[]),
    )
    [done] = verify(cell)
    assert errors(done) == []
    assert [o.get("text") for o in done.outputs] == ["hola\n"]


def test_a_failing_record_fails_even_if_the_kernel_reported_success():
    [done] = verify(graded_cell("relu_example", new_output("stream", name="stdout", text="✔ todo bien\n"), probe_output(record("relu_example", leaky_relu))))
    [error] = errors(done)
    assert error.ename == "TestFailure" and "no superada" in error.evalue and "Pista" in error.evalue


def test_no_record_fails_with_the_error_that_stopped_the_cell():
    [done] = verify(graded_cell("relu_example", new_output("error", ename="NameError", evalue="name 'relu' is not defined", traceback=[])))
    [error] = errors(done)
    assert "NameError" in error.evalue and "relu" in error.evalue


def test_no_record_and_no_error_still_fails():
    [done] = verify(graded_cell("relu_example"))
    assert len(errors(done)) == 1


def test_two_records_fail():
    data = record("relu_batch", right_relu)
    [done] = verify(graded_cell("relu_batch", probe_output(data), probe_output(data)))
    assert "más de un resultado" in errors(done)[0].evalue


def test_a_fault_fails_the_cell_even_with_a_passing_record():
    cell = graded_cell("relu_batch", probe_output(record("relu_batch", right_relu)))
    cell.metadata[FAULT_KEY] = {"fault": Fault.TIMEOUT, "message": "la celda excedió el tiempo límite (20 s)"}
    [done] = verify(cell)
    assert "excedió el tiempo límite" in errors(done)[0].evalue


def test_records_in_other_cells_are_dropped_and_never_count():
    fake = new_code_cell("display(...)")
    fake.outputs = [probe_output(record("relu_batch", right_relu))]
    forged, test = verify(fake, graded_cell("relu_batch", new_output("error", ename="NameError", evalue="x", traceback=[])))
    assert forged.outputs == []
    assert len(errors(test)) == 1


def test_a_record_stored_as_json_text_is_read():
    output = new_output("display_data", data={PROBE_MIME: json.dumps(record("relu_batch", right_relu))})
    [done] = verify(graded_cell("relu_batch", output))
    assert errors(done) == []


def test_an_answer_cell_that_ran_out_of_memory_is_named_in_its_tests():
    oom = new_output("error", ename="RuntimeError", evalue="[enforce fail] DefaultCPUAllocator: can't allocate memory", traceback=[])
    _, done = verify(answer_cell("relu_impl", oom), graded_cell("relu_example", new_output("error", ename="NameError", evalue="relu", traceback=[])))
    assert "memoria agotada" in errors(done)[0].evalue


def test_cells_outside_the_catalogue_are_left_to_nbgrader():
    cell = graded_cell("someone_elses_test", new_output("error", ename="AssertionError", evalue="no", traceback=[]))
    [done] = verify(cell)
    assert errors(done)[0].ename == "AssertionError"


def test_an_execute_result_cannot_buy_partial_credit():
    from nbgrader.utils import determine_grade

    shown = new_output("execute_result", data={"text/plain": "1"}, execution_count=1)
    [done] = verify(graded_cell("relu_example", probe_output(record("relu_example", leaky_relu)), shown))
    assert determine_grade(done) == (0, 1)
    assert all(o.output_type != "execute_result" for o in done.outputs)


def test_a_record_that_breaks_the_checks_fails_only_its_cell():
    data = record("kernel_values", torch.zeros(3, 3))
    data["answer"] = {"kind": "tensor", "dtype": "float32", "shape": [3, 3], "device": "cpu", "data": None}
    [done] = verify(graded_cell("kernel_values", probe_output(data)))
    assert len(errors(done)) == 1


def test_a_record_the_grader_did_not_ask_for_counts_for_nothing_and_is_flagged():
    forged = record("relu_batch", right_relu)
    record("relu_batch", right_relu)  # a new request: the earlier record no longer answers it
    [done], resources = verify_with_resources(graded_cell("relu_batch", probe_output(forged)))
    assert errors(done)
    assert any("falsificación" in reason for reason in resources[RESOURCES_KEY]["review"])


def test_tampering_the_kernel_saw_is_flagged_for_review_and_the_verdict_stands():
    data = record("relu_batch", right_relu)
    data["tamper"] = ["usó ctypes (acceso directo a la memoria del proceso)", "<script>x</script>\n\x1b[31m"]
    [done], resources = verify_with_resources(graded_cell("relu_batch", probe_output(data)))
    assert not errors(done)
    review = resources[RESOURCES_KEY]["review"]
    assert any("ctypes" in reason for reason in review)
    assert all("\n" not in reason and "\x1b" not in reason for reason in review)


def test_a_record_in_a_cell_that_is_not_a_test_is_flagged():
    stray = new_code_cell("print(1)")
    stray.outputs = [probe_output(record("relu_batch", right_relu))]
    [done], resources = verify_with_resources(stray)
    assert not [o for o in done.outputs if PROBE_MIME in o.get("data", {})]
    assert resources[RESOURCES_KEY]["review"]


def test_a_syntax_error_names_the_students_cell_line_not_the_kernels_file():
    from autograder.adapter.preprocessors.verify import _describe_error

    text = _describe_error("SyntaxError", "expected ':' (4249518050.py, line 1)")
    assert text == "SyntaxError: expected ':' (línea 1 de tu celda)"
