"""Hidden tests' code stays out of student feedback; their failure messages stay in."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.converters.generate_feedback import GenerateFeedback

from autograder.engine import messages
from autograder.commands.autograde import autograde
from activation import ASSIGNMENT, BY_GRADE_ID, LESSON
from staging import stage_course
from autograder.adapter.nbgrader_cli import run_nbgrader
from autograder.adapter.preprocessors import HideHiddenTests
from conftest import NBGRADER_FEEDBACK_LABELS, SAMPLES, page_text

HIDDEN = 'from autograder.hidden import check\ncheck("relu_lesson", relu)'
MESSAGE = "relu: ReLU(Z) de la lección comparada con torch.relu: no superada.\nSe esperaba: 0.0"


def graded_cell(source: str, grade: bool = True):
    meta = {"grade": grade, "solution": False, "locked": True, "points": 1, "grade_id": "relu_lesson", "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


def hide(*cells):
    nb, _ = HideHiddenTests()(new_notebook(cells=list(cells)), {})
    return nb.cells


def test_hidden_region_becomes_one_comment_and_the_rest_stays():
    cell = graded_cell(f"# Prueba oculta\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS\nprint('visible')")
    cell.outputs = [new_output("error", ename="TestFailure", evalue=MESSAGE, traceback=MESSAGE.splitlines())]
    (shown,) = hide(cell)
    assert shown.source == f"# Prueba oculta\n{messages.HIDDEN_TEST_CODE}\nprint('visible')"
    assert shown.outputs[0].evalue == MESSAGE and shown.outputs[0].traceback == MESSAGE.splitlines()


def test_every_region_is_hidden_keeping_its_indentation():
    cell = graded_cell(f"if True:\n    ### BEGIN HIDDEN TESTS\n    secret()\n    ### END HIDDEN TESTS\nx = 1\n### BEGIN HIDDEN TESTS\nother()\n### END HIDDEN TESTS")
    (shown,) = hide(cell)
    assert shown.source == f"if True:\n    {messages.HIDDEN_TEST_CODE}\nx = 1\n{messages.HIDDEN_TEST_CODE}"


def test_a_region_left_open_hides_the_rest_of_the_cell():
    (shown,) = hide(graded_cell("a = 1\n### BEGIN HIDDEN TESTS\nsecret()\nmore_secret()"))
    assert shown.source == f"a = 1\n{messages.HIDDEN_TEST_CODE}"


def test_traceback_entries_quoting_hidden_code_are_replaced():
    quoting = '\x1b[0;32m----> 2\x1b[0m \x1b[43mcheck\x1b[49m(\x1b[38;5;124m"relu_lesson"\x1b[39m, relu)'
    cell = graded_cell(f"### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS")
    cell.outputs = [new_output("error", ename="NameError", evalue="name 'relu' is not defined", traceback=["NameError", quoting, "fin"])]
    (shown,) = hide(cell)
    assert shown.outputs[0].traceback == ["NameError", messages.HIDDEN_TEST_CODE, "fin"]
    assert shown.outputs[0].evalue == "name 'relu' is not defined"


def test_cells_that_are_not_graded_are_untouched():
    source = f"### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS"
    (shown,) = hide(graded_cell(source, grade=False))
    assert shown.source == source


def test_wired_into_the_course_feedback_chain(course):
    names = [cls.__name__ for cls in GenerateFeedback(config=course.config()).preprocessors]
    assert names == ["GetGrades", "HideHiddenTests", "FeedbackSummary", "CSSHTMLHeaderPreprocessor"]


@pytest.mark.e2e
def test_nbgrader_generate_feedback_shows_messages_but_no_hidden_code(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / "leaky_relu.ipynb"])
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    assert [row.student for row in batch.scores] == ["leaky_relu"], batch.failures
    autograded = nbformat.read(scratch.root / "autograded" / "leaky_relu" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert any("BEGIN HIDDEN TESTS" in cell.source for cell in autograded.cells)  # what feedback must not show

    run_nbgrader(scratch.root, "generate_feedback", ASSIGNMENT)

    page = (scratch.root / "feedback" / "leaky_relu" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    text = page_text(page)
    results = json.loads((scratch.root / "results" / ASSIGNMENT / "leaky_relu.json").read_text(encoding="utf-8"))
    failed_hidden = [t for t in results["tests"] if t["status"] == "failed" and not BY_GRADE_ID[t["extra_data"]["grade_id"]].in_release]
    assert failed_hidden
    for test in failed_hidden:
        for line in test["output"].splitlines():
            assert line in text, line
    assert messages.HIDDEN_TEST_CODE in text
    assert "BEGIN HIDDEN TESTS" not in text and "END HIDDEN TESTS" not in text
    assert "autograder.hidden" not in text
    assert not any(f'check("{grade_id}"' in text for grade_id in BY_GRADE_ID)
    # Plain nbgrader renders the course's Spanish template too (nbgrader_config.py), with the gradebook's scores.
    assert f"Puntuación total: {results['score']:g} / {results['max_score']:g} puntos" in text
    assert "Puntuación por parte" in text and '<details class="ag-folded"' in page
    assert not [label for label in NBGRADER_FEEDBACK_LABELS if label in text]
