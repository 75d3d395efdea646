"""The command line: one clear line and a non-zero exit for bad input, results.json written either way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.engine import messages
from autograder.outputs.feedback_page import points
from conftest import NBGRADER_FEEDBACK_LABELS, ROOT, SAMPLES, page_text


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "vacío"), (b"{not json", "JSON"), (b"\x00\x01\x02binario", "no es texto"), (b"[]", "no es un cuaderno")],
)
def test_bad_notebook_one_line_exit_2_and_results(tmp_path, content, reason):
    notebook = tmp_path / "entrega.ipynb"
    notebook.write_bytes(content)
    results = tmp_path / "results.json"
    completed = run("grade", str(notebook), "--results", str(results))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and reason in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["score"] == 0 and reason in data["output"]
    assert data["max_score"] == 22 and len(data["tests"]) == 22


def test_missing_notebook(tmp_path):
    completed = run("grade", str(tmp_path / "nada.ipynb"), "--results", str(tmp_path / "r.json"))
    assert completed.returncode == 2 and "no existe" in completed.stderr
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["score"] == 0


def test_outside_a_course_directory(tmp_path):
    completed = run("grade", str(SAMPLES / "blank.ipynb"), cwd=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.startswith("autograder: course directory") and completed.stderr.count("\n") == 1


def test_release_check_passes_on_the_committed_release():
    completed = run("release", "--check")
    assert completed.returncode == 0, completed.stderr
    assert "in sync" in completed.stdout


@pytest.mark.e2e
def test_grade_blank_template_exits_zero_with_zero_score(tmp_path):
    results = tmp_path / "results.json"
    completed = run("grade", str(SAMPLES / "blank.ipynb"), "--results", str(results))
    assert completed.returncode == 0, completed.stderr
    assert "total" in completed.stdout
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["score"] == 0 and data["max_score"] == 22
    assert all(test["output"] for test in data["tests"])


def test_sandbox_missing_stops_with_one_line_and_never_grades_unsafely(tmp_path):
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / "solution.ipynb"), "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},  # no bwrap on this PATH
    )
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1 and "bubblewrap" in completed.stderr and "--no-sandbox" in completed.stderr
    assert "Traceback" not in completed.stderr
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["score"] == 0 and "sandbox" in data["output"]


@pytest.mark.e2e
def test_no_sandbox_grades_with_a_warning(tmp_path):
    completed = run("grade", str(SAMPLES / "wrong_kernel_sign.ipynb"), "--no-sandbox")
    assert completed.returncode == 0, completed.stderr
    assert "WARNING: --no-sandbox" in completed.stderr
    assert completed.stdout.splitlines()[0].split() == ["kernel", "1", "/", "4"]


@pytest.mark.parametrize("verb", ["grade", "autograde"])
def test_every_grading_verb_offers_no_sandbox(verb):
    completed = run(verb, "--help")
    assert completed.returncode == 0 and "--no-sandbox" in completed.stdout


@pytest.mark.e2e
def test_grade_writes_the_student_feedback_page_without_hidden_code(tmp_path):
    results, page = tmp_path / "results.json", tmp_path / "feedback" / "entrega.html"
    completed = run("grade", str(SAMPLES / "leaky_relu.ipynb"), "--results", str(results), "--feedback", str(page))
    assert completed.returncode == 0, completed.stderr
    data = json.loads(results.read_text(encoding="utf-8"))
    text = page_text(page.read_text(encoding="utf-8"))
    assert f"Puntuación total: {points(data['score'])} / {points(data['max_score'])} puntos" in text
    assert not [label for label in NBGRADER_FEEDBACK_LABELS if label in text]
    failed = [test for test in data["tests"] if test["status"] == "failed"]
    assert len(failed) >= 5  # leaky_relu fails every relu test
    for test in failed:
        for line in test["output"].splitlines():
            assert line in text, line
    assert messages.HIDDEN_TEST_CODE in text
    assert "BEGIN HIDDEN TESTS" not in text and "autograder.hidden" not in text and 'check("relu_lesson"' not in text


@pytest.mark.e2e
def test_feedback_that_cannot_be_written_is_one_line_and_results_stay(tmp_path):
    blocker = tmp_path / "archivo"
    blocker.write_text("no es una carpeta", encoding="utf-8")
    results = tmp_path / "results.json"
    completed = run("grade", str(SAMPLES / "blank.ipynb"), "--results", str(results), "--feedback", str(blocker / "f.html"))
    assert completed.returncode == 1
    # One line, besides the sandbox's own warnings on a machine where it runs with fewer limits (no cgroups).
    lines = [line for line in completed.stderr.splitlines() if not line.startswith("autograder: warning: sandbox:")]
    assert len(lines) == 1 and lines[0].startswith(f"autograder: cannot write {blocker / 'f.html'}: "), completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["max_score"] == 22 and data["extra_data"]["error"] is None


def test_grade_offers_feedback():
    completed = run("grade", "--help")
    assert completed.returncode == 0 and "--feedback" in completed.stdout


def test_the_batch_summary_has_one_review_line_per_flagged_student():
    from autograder.cli import review_lines

    lines = review_lines({"bruno": ["Primera\nrazón.", "Segunda razón."], "ana": [], ".alice": ["Otra razón."]})
    assert lines == [f"{'.alice':<24}para revisar: Otra razón.", f"{'bruno':<24}para revisar: Primera razón. | Segunda razón."]
    from autograder.engine.teacher_text import EN

    assert review_lines({"ana": ["Razón."]}, EN) == [f"{'ana':<24}to review: Razón."]


def test_review_marks_stay_out_of_what_the_student_reads():
    from autograder.outputs import classroom as ci
    from cohorts import graded

    result = graded({"relu_example": "leaky_relu"})
    result.review = ["Posible falsificación: una celda emitió un registro que el calificador no pidió."]
    student_facing = [ci.step_summary(result), result.table(), result.to_gradescope()["output"], *(t.output for t in result.tests)]
    assert not any("falsificación" in text for text in student_facing)
    assert result.to_gradescope()["extra_data"]["review"] == result.review  # kept for instructors
