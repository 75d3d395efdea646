"""One notebook's feedback page: nbgrader's template, the result's scores, the Spanish messages, no hidden code."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_output

from autograder.engine import messages
from activation import ASSIGNMENT, BY_GRADE_ID
from autograder.outputs.feedback_html import feedback_html
from autograder.engine.results import GradingResult, TestResult
from conftest import page_text


def failed_everywhere(course):
    """The source notebook (hidden tests and all) as if every test cell had failed with a message."""
    nb = nbformat.read(course.source_notebook(ASSIGNMENT), as_version=4)
    tests = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and meta["grade_id"] in BY_GRADE_ID):
            continue
        spec = BY_GRADE_ID[meta["grade_id"]]
        message = f"{spec.name}: no superada.\nSe esperaba: tensor <1, 2> & \"más\""
        cell.outputs = [new_output("error", ename="TestFailure", evalue=message, traceback=message.splitlines())]
        tests.append(TestResult(spec, 0.0, float(meta["points"]), message, "wrong_values"))
    return nb, GradingResult("entrega.ipynb", tests)


def test_page_has_the_scores_and_every_message_and_no_hidden_code(course):
    nb, result = failed_everywhere(course)
    text = page_text(feedback_html(nb, result, course.config(), "entrega"))
    assert "entrega (Score: 0.0 / 22.0)" in text
    assert "Score: 0.0 / 1.0" in text
    for test in result.tests:
        for line in test.output.splitlines():
            assert line in text, line
    assert text.count(messages.HIDDEN_TEST_CODE) == len(result.tests)
    assert "HIDDEN TESTS" not in text and "autograder.hidden" not in text
    assert not any(f'check("{grade_id}"' in text for grade_id in BY_GRADE_ID)


def test_the_graded_notebook_itself_is_left_as_it_was(course):
    nb, result = failed_everywhere(course)
    before = nbformat.writes(nb)
    feedback_html(nb, result, course.config(), "entrega")
    assert nbformat.writes(nb) == before
