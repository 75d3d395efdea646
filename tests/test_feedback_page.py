"""What the feedback template shows above the notebook, built from graded cells and the lesson (FeedbackSummary)."""

from __future__ import annotations

import logging

import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.converters.generate_feedback import GenerateFeedback

from activation import LESSON
from autograder.adapter.preprocessors import FeedbackSummary
from autograder.engine import messages
from autograder.outputs.feedback_page import CellKind, build_page, points
from conftest import page_text

FIRST, SECOND = LESSON.tests[0], LESSON.tests[1]
PART = FIRST.part


def graded(grade_id: str, score: float | None, max_points: float = 1.0, *outputs) -> object:
    cell = new_code_cell("# prueba")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": max_points}
    if score is not None:
        cell.metadata.nbgrader["score"] = score
    cell.outputs = list(outputs)
    return cell


def failure(text: str) -> object:
    return new_output("error", ename="TestFailure", evalue=text, traceback=text.splitlines())


def locked(grade_id: str, lines: int) -> object:
    cell = new_code_cell("\n".join(f"x{n} = {n}" for n in range(lines)))
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": grade_id}
    return cell


def answer(grade_id: str) -> object:
    cell = new_code_cell("respuesta = 1")
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id, "comment": "Bien."}
    return cell


def test_points_are_written_the_spanish_way():
    assert [points(x) for x in (0, 1.0, 0.5, 22, 2 / 3)] == ["0", "1", "0,5", "22", "0,67"]


def test_tests_are_grouped_by_part_with_their_titles_scores_and_messages():
    nb = new_notebook(cells=[
        graded(FIRST.grade_id, 1.0),
        graded(SECOND.grade_id, 0.0, 1.0, failure("no superada.\nPista: algo")),
    ])
    page = build_page(nb, LESSON, {"notebook": "ana", "score": 1.0, "max_score": 2.0, "late_penalty": 0}, frozenset())
    (section,) = page.parts
    assert section.name == PART.name and section.score_text == "1 / 2" and section.passed_count == 1
    first, second = section.tests
    assert (first.title, first.passed, first.message) == (FIRST.title, True, "")
    assert (second.title, second.passed, second.message) == (SECOND.title, False, "no superada.\nPista: algo")
    assert page.score_text == "1 / 2" and page.notebook == "ana"
    assert page.cells[SECOND.grade_id].kind is CellKind.TEST and page.cells[SECOND.grade_id].part == PART.name


def test_a_score_set_by_hand_is_said_so_and_counts():
    nb = new_notebook(cells=[graded(FIRST.grade_id, 0.5)])  # no error output: formgrader's manual grade
    page = build_page(nb, LESSON, {}, frozenset())
    (test,) = page.parts[0].tests
    assert test.score_text == "0,5 / 1" and not test.passed and test.message == messages.FEEDBACK_MANUAL_SCORE
    assert page.score == 0.5 and page.max_score == 1.0  # no total from nbgrader: the cells' sum


def test_a_cell_with_no_grade_yet_scores_zero_and_an_unknown_one_goes_to_other():
    nb = new_notebook(cells=[graded(FIRST.grade_id, None, 1.0, failure("no")), graded("a_mano", 2.0, 2.0)])
    page = build_page(nb, LESSON, {"late_penalty": None}, frozenset())
    assert [(part.name, [t.title for t in part.tests]) for part in page.parts] == [
        (PART.name, [FIRST.title]), (messages.FEEDBACK_OTHER_PART, ["a_mano"])
    ]
    assert page.parts[0].tests[0].score == 0.0 and page.late_penalty == 0.0


def test_named_locked_cells_are_folded_and_answer_cells_know_their_part():
    nb = new_notebook(cells=[locked("ayudas", 40), locked("otra", 3), answer(PART.answer_cell)])
    page = build_page(nb, LESSON, {}, frozenset({"ayudas"}))
    assert page.cells["ayudas"].kind is CellKind.FOLDED and page.cells["ayudas"].lines == 40
    assert "otra" not in page.cells
    assert page.cells[PART.answer_cell].kind is CellKind.ANSWER and page.cells[PART.answer_cell].part == PART.name


def test_the_step_folds_the_lessons_cells_and_those_configured(course):
    nb = new_notebook(cells=[locked(name, 5) for name in (*LESSON.folded_cells, "extra")])
    config = course.config()
    config.FeedbackSummary.fold_cells = ["extra"]
    _, resources = FeedbackSummary(config=config).preprocess(nb, {"nbgrader": {"assignment": "activation_maxpool"}})
    page = resources["autograder"]["feedback"]
    assert set(page.cells) == {*LESSON.folded_cells, "extra"}


def test_without_a_lesson_tests_are_named_by_grade_id_and_a_warning_says_why(course, caplog: pytest.LogCaptureFixture):
    nb = new_notebook(cells=[graded(FIRST.grade_id, 1.0)])
    with caplog.at_level(logging.WARNING):
        _, resources = FeedbackSummary(config=course.config()).preprocess(nb, {"nbgrader": {"assignment": "no_such_assignment"}})
    page = resources["autograder"]["feedback"]
    assert [t.title for t in page.parts[0].tests] == [FIRST.grade_id]
    assert any("feedback without the lesson's test names" in r.getMessage() for r in caplog.records)


def test_the_course_template_says_the_late_penalty_above_the_parts(course):
    converter = GenerateFeedback(config=course.config())
    exporter = HTMLExporter(parent=converter, config=converter.config)  # as nbgrader's converter makes it
    exporter.register_preprocessor(FeedbackSummary(config=course.config()), enabled=True)
    nb = new_notebook(cells=[graded(FIRST.grade_id, 1.0)])
    nbgrader = {"notebook": "ana", "assignment": "activation_maxpool", "score": 0.0, "max_score": 1.0, "late_penalty": 1.0}
    body, _ = exporter.from_notebook_node(nb, resources={"nbgrader": nbgrader})
    text = page_text(body)
    assert "Puntuación total: 0 / 1 puntos" in text
    assert text.index("Penalización por entrega tardía: −1 puntos") < text.index("Puntuación por parte")
