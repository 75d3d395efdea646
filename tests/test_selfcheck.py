"""`autograder check`: a student's notebook, its visible tests run in a real kernel, reported per part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.engine import messages as msg
from activation import BY_GRADE_ID, KERNEL, MAXPOOL2D, PARTS, RELU
from autograder.commands.check import PENDING_MIME, Status, _outcome, check_notebook
from conftest import ROOT, SAMPLES


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=ROOT, capture_output=True, text=True)


def cell(outputs: list[dict], executed: bool = True) -> nbformat.NotebookNode:
    node = nbformat.v4.new_code_cell("...", outputs=[nbformat.from_dict(o) for o in outputs])
    node.execution_count = 1 if executed else None
    return node


SPEC = BY_GRADE_ID["relu_example"]


def test_a_pending_marker_means_unwritten_even_without_an_error():
    pending = {"output_type": "display_data", "data": {PENDING_MIME: {"answer": "relu"}, "text/plain": "⏳"}, "metadata": {}}
    assert _outcome(SPEC, cell([pending])).status == Status.PENDING


def test_an_assertion_from_the_helpers_is_the_message():
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "Prueba fallida: relu(z)", "traceback": []}
    outcome = _outcome(SPEC, cell([error]))
    assert outcome.status == Status.FAILED and outcome.message == "Prueba fallida: relu(z)"


def test_another_error_shows_the_students_own_line():
    frames = ["\x1b[0;31mTypeError\x1b[0m", "Cell In[7], line 3, in relu(z)\n      1 def relu(z):\n----> 3     return z + 'a'"]
    error = {"output_type": "error", "ename": "TypeError", "evalue": "unsupported operand", "traceback": frames}
    outcome = _outcome(SPEC, cell([error]))
    assert outcome.status == Status.FAILED
    assert "TypeError: unsupported operand" in outcome.message and "return z + 'a'" in outcome.message


def test_a_missing_or_unrun_cell_never_passes():
    assert _outcome(SPEC, None).status == Status.MISSING
    assert _outcome(SPEC, cell([], executed=False)).status == Status.FAILED
    assert _outcome(SPEC, cell([])).status == Status.PASSED


@pytest.mark.e2e
def test_blank_release_is_pending_everywhere_and_exits_1():
    completed = run("check", str(SAMPLES / "blank.ipynb"))
    assert completed.returncode == 1, completed.stderr
    for part in PARTS:
        assert f"{part.name}" in completed.stdout
    assert completed.stdout.count(msg.CHECK_STATUS["pending"]) == len(PARTS)
    assert msg.CHECK_HIDDEN_CAVEAT in completed.stdout and "Traceback" not in completed.stdout


@pytest.mark.e2e
def test_solution_passes_every_visible_test_but_never_claims_a_grade():
    report = check_notebook(SAMPLES / "solution.ipynb")
    assert report.all_visible_passed
    assert all(report.part_status(part) == Status.PASSED for part in PARTS)
    text = report.render()
    assert msg.CHECK_HIDDEN_CAVEAT in text and "todas las pruebas" not in text.lower()


@pytest.mark.e2e
def test_a_wrong_stride_fails_only_its_part_with_the_helpers_explanation():
    report = check_notebook(SAMPLES / "stride1_when_none.ipynb")
    assert report.part_status(KERNEL) == report.part_status(RELU) == Status.PASSED
    assert report.part_status(MAXPOOL2D) == Status.FAILED
    [failed] = [t for t in report.tests if t.status == Status.FAILED]
    assert failed.spec.grade_id == "maxpool2d_example_default" and "stride" in failed.message


@pytest.mark.e2e
def test_a_deleted_visible_test_is_reported_missing(tmp_path: Path):
    notebook = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "kernel_form"]
    path = tmp_path / "sin_prueba.ipynb"
    nbformat.write(notebook, path)
    report = check_notebook(path)
    assert report.part_status(KERNEL) == Status.MISSING and not report.all_visible_passed


def test_not_a_notebook_is_one_line_and_exit_2(tmp_path: Path):
    path = tmp_path / "entrega.ipynb"
    path.write_text("{roto")
    completed = run("check", str(path))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
