"""One notebook's feedback page: the course's Spanish template, the result's scores per part, every message, no hidden code."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_output

from autograder.engine import messages
from activation import ASSIGNMENT, BY_GRADE_ID, LESSON
from autograder.outputs.feedback_html import feedback_html
from autograder.engine.results import GradingResult, TestResult
from conftest import NBGRADER_FEEDBACK_LABELS, page_text


def failed_everywhere(course, passing: frozenset[str] = frozenset()):
    """The source notebook (hidden tests and all) as if every test cell but `passing` had failed with a message."""
    nb = nbformat.read(course.source_notebook(ASSIGNMENT), as_version=4)
    tests = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and meta["grade_id"] in BY_GRADE_ID):
            continue
        spec = BY_GRADE_ID[meta["grade_id"]]
        if spec.grade_id in passing:
            tests.append(TestResult(spec, float(meta["points"]), float(meta["points"]), "Superada."))
            continue
        message = f"{spec.name}: no superada.\nSe esperaba: tensor <1, 2> & \"más\"\n" + "x" * 400
        cell.outputs = [new_output("error", ename="TestFailure", evalue=message, traceback=message.splitlines())]
        tests.append(TestResult(spec, 0.0, float(meta["points"]), message, "wrong_values"))
    return nb, GradingResult("entrega.ipynb", tests, assignment=ASSIGNMENT)


def test_page_is_spanish_with_the_parts_first_and_every_message_and_no_hidden_code(course):
    nb, result = failed_everywhere(course)
    page = feedback_html(nb, result, course.config(), "entrega")
    text = page_text(page)
    assert f"<title>{messages.FEEDBACK_TITLE.format(notebook='entrega')}</title>" in page
    assert "Corrección de tu cuaderno «entrega»" in text
    assert "Puntuación total: 0 / 22 puntos" in text
    for label in NBGRADER_FEEDBACK_LABELS:
        assert label not in text, label
    # The per-part table comes before the list of tests, which comes before the notebook.
    table = page.index('<table class="ag-parts">')
    assert table < page.index('<ol class="ag-tests">') < page.index("Tu cuaderno corregido")
    for part in LESSON.parts:
        assert re.search(rf">{part.name}</a></th>\s*<td class=\"ag-num\">0 / \d+</td>", page), part.name
    for test in result.tests:
        assert test.spec.title in text, test.spec.title
        for line in test.output.splitlines():
            assert line in text, line
    assert text.count(messages.HIDDEN_TEST_CODE) == len(result.tests)
    assert "HIDDEN TESTS" not in text and "autograder.hidden" not in text
    assert not any(f'check("{grade_id}"' in text for grade_id in BY_GRADE_ID)


def test_messages_are_escaped_and_wrapped(course):
    nb, result = failed_everywhere(course)
    page = feedback_html(nb, result, course.config(), "entrega")
    boxes = re.findall(r'<pre class="ag-message">(.*?)</pre>', page, re.S)
    assert len(boxes) == len(result.tests)
    assert all("Se esperaba: tensor &lt;1, 2&gt; &amp; " in box for box in boxes)
    assert "tensor <1, 2>" not in page
    assert re.search(r"pre\.ag-message,[^{]*\{\s*white-space: pre-wrap;", page)


def test_a_passing_test_has_no_message_and_its_part_counts_it(course):
    nb, result = failed_everywhere(course, passing=frozenset({"kernel_form"}))
    text = page_text(feedback_html(nb, result, course.config(), "entrega"))
    assert "Puntuación total: 1 / 22 puntos" in text
    assert re.search(r"kernel\s+1 / 4\s+1 de 4", text)
    assert re.search(r"✔ Superada\s+" + re.escape(BY_GRADE_ID["kernel_form"].title) + r"\s+1 / 1\s+ver en el cuaderno\s+✘", text)


def test_the_lessons_locked_helper_cell_is_folded(course):
    nb, result = failed_everywhere(course)
    page = feedback_html(nb, result, course.config(), "entrega")
    (helpers,) = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") in LESSON.folded_cells]
    folded = re.search(r'<details class="ag-folded" id="celda-helpers">\s*<summary>(.*?)</summary>(.*?)</details>', page, re.S)
    assert folded, "no folded helper cell"
    assert f"({len(helpers.source.splitlines())} líneas" in folded.group(1)
    first_line = helpers.source.splitlines()[0]
    assert first_line in page_text(folded.group(2))


def test_the_graded_notebook_itself_is_left_as_it_was(course):
    nb, result = failed_everywhere(course)
    before = nbformat.writes(nb)
    feedback_html(nb, result, course.config(), "entrega")
    assert nbformat.writes(nb) == before
