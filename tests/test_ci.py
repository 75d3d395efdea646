"""The CI job's view of a grade: the student's Spanish summary, the points Classroom reads, the step outputs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from autograder.outputs import classroom as ci
from activation import KERNEL, LESSON, MAXPOOL2D, PARTS, RELU, TESTS, Visibility
from autograder.engine.results import PASSED_OUTPUT, GradingResult, TestResult

from conftest import ROOT

POINTS = {spec.grade_id: 1.0 for spec in TESTS}


def full_marks() -> GradingResult:
    return GradingResult("entrega.ipynb", [TestResult(spec, 1.0, 1.0, PASSED_OUTPUT) for spec in TESTS])


def partial(failing: dict[str, str]) -> GradingResult:
    """Every test passes except those named, each failing with the given output."""
    tests = [
        TestResult(spec, 0.0, 1.0, failing[spec.grade_id], "wrong_values") if spec.grade_id in failing
        else TestResult(spec, 1.0, 1.0, PASSED_OUTPUT)
        for spec in TESTS
    ]
    return GradingResult("entrega.ipynb", tests)


def test_full_marks_summary_shows_every_part_and_no_failures():
    text = ci.step_summary(full_marks())
    assert text.startswith("## Calificación automática: 22 / 22 puntos")
    assert "| Parte | Puntos |" in text
    for part, points in ((KERNEL, 4), (RELU, 6), (MAXPOOL2D, 12)):
        assert f"| {part.name} | {points} / {points} |" in text
    assert "| **Total** | **22 / 22** |" in text
    assert "Todas las pruebas superadas." in text
    assert "no superadas" not in text


def test_partial_summary_lists_each_failed_test_with_its_feedback():
    result = partial({"relu_lesson": "relu: no superada.\nSe esperaba: 0", "maxpool2d_stride_none": "Pista: paso None"})
    text = ci.step_summary(result)
    assert "## Calificación automática: 20 / 22 puntos" in text
    assert "| relu | 5 / 6 |" in text and "| maxpool2d | 11 / 12 |" in text and "| kernel | 4 / 4 |" in text
    assert "### Pruebas no superadas (2)" in text
    assert "<summary>relu: ReLU(Z) de la lección comparada con torch.relu (0 / 1)</summary>" in text
    assert "Se esperaba: 0" in text and "Pista: paso None" in text
    assert "Todas las pruebas superadas." not in text


def test_feedback_cannot_close_its_code_block_and_long_feedback_is_cut():
    hostile = "``` \n</details>\n# título falso\n`````"
    long = "x" * (ci.OUTPUT_CHARS + 500)
    text = ci.step_summary(partial({"relu_lesson": hostile, "relu_batch": long}))
    fence = "`" * 6  # one more than the longest run of backticks in the hostile output
    assert f"{fence}text\n``` \n</details>\n# título falso\n`````\n{fence}\n" in text
    assert "x" * ci.OUTPUT_CHARS + "\n[mensaje recortado]" in text
    assert "x" * (ci.OUTPUT_CHARS + 1) not in text


def test_tests_not_visible_to_students_are_not_described():
    hidden = dataclasses.replace(TESTS[1], visibility=Visibility.HIDDEN)
    tests = [TestResult(hidden if spec is TESTS[1] else spec, 0.0 if spec is TESTS[1] else 1.0, 1.0, "secreto") for spec in TESTS]
    text = ci.step_summary(GradingResult("entrega.ipynb", tests))
    assert "21 / 22" in text and "| kernel | 3 / 4 |" in text
    assert "secreto" not in text and hidden.name not in text
    assert "Todas las pruebas superadas." not in text


def test_ungradable_summary_says_why_and_scores_zero():
    result = GradingResult.ungradable("entrega.ipynb", "entrega.ipynb: el archivo está vacío", POINTS, LESSON)
    text = ci.step_summary(result)
    assert text.startswith("## Calificación automática: 0 / 22 puntos")
    assert "**No se pudo calificar el cuaderno:** entrega.ipynb: el archivo está vacío" in text
    assert "| **Total** | **0 / 22** |" in text
    assert "no superadas" not in text and "Todas las pruebas superadas." not in text
    assert ci.step_outputs(result) == {"points": "0", "max-points": "22", "graded": "false"}


def test_points_annotations_are_what_the_classroom_reporter_printed():
    assert ci.classroom_annotations(ci.Points.of(full_marks())) == [
        "::notice title=Autograding complete::Points 22/22",
        '::notice title=Autograding report::{"totalPoints":22,"maxPoints":22}',
    ]
    assert ci.classroom_annotations(ci.Points(21.5, 22.0)) == [
        "::notice title=Autograding complete::Points 21.5/22",
        '::notice title=Autograding report::{"totalPoints":21.5,"maxPoints":22}',
    ]


def test_step_outputs_of_a_graded_notebook():
    assert ci.step_outputs(partial({"relu_lesson": "mal"})) == {"points": "21", "max-points": "22", "graded": "true"}
    assert ci.outputs_text({"points": "21", "graded": "true"}) == "points=21\ngraded=true\n"


def run_classroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "classroom", *args], cwd=ROOT, capture_output=True, text=True)


def test_cli_appends_summary_prints_points_and_writes_outputs(tmp_path):
    results = tmp_path / "results.json"
    partial({"maxpool2d_negative": "Pista: empieza el máximo en -infinito"}).write(results)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    summary.write_text("paso anterior\n", encoding="utf-8")
    completed = run_classroom(str(results), "--summary", str(summary), "--points", "--outputs", str(outputs))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == "::notice title=Autograding complete::Points 21/22"
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("paso anterior\n## Calificación automática: 21 / 22 puntos")
    assert "empieza el máximo en -infinito" in text
    assert outputs.read_text(encoding="utf-8") == "points=21\nmax-points=22\ngraded=true\n"


def test_cli_exit_2_for_an_ungradable_result(tmp_path):
    results = tmp_path / "results.json"
    GradingResult.ungradable("entrega.ipynb", "el archivo está vacío", POINTS, LESSON).write(results)
    completed = run_classroom(str(results), "--points")
    assert completed.returncode == 2
    assert "Points 0/22" in completed.stdout


@pytest.mark.parametrize("content", [None, "{no es json", json.dumps({"tests": [{"name": "x", "score": 1}]})])
def test_cli_without_a_readable_results_file_fails_and_the_summary_says_so(tmp_path, content):
    results = tmp_path / "results.json"
    if content is not None:
        results.write_text(content, encoding="utf-8")
    summary = tmp_path / "summary.md"
    completed = run_classroom(str(results), "--summary", str(summary), "--points")
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"autograder: {results}: ") and completed.stderr.count("\n") == 1
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""  # no points announced without a grade
    assert summary.read_text(encoding="utf-8").startswith("## Calificación automática: sin calificar")


def test_cli_summary_file_that_cannot_be_written_is_one_line(tmp_path):
    results = tmp_path / "results.json"
    full_marks().write(results)
    completed = run_classroom(str(results), "--summary", str(tmp_path / "no-such-dir" / "summary.md"))
    assert completed.returncode == 1
    assert completed.stderr.startswith("autograder: cannot write ") and completed.stderr.count("\n") == 1
