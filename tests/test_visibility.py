"""When students see each test: visible tests at once, hidden ones once published, unless the course says otherwise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.outputs import classroom as ci
from activation import ASSIGNMENT, LESSON, PARTS, RELU, TESTS, TestSpec, Visibility
from autograder.engine.course import Course
from staging import stage_course
from autograder.engine.errors import CourseError
from autograder.adapter.pipeline import ungradable
from autograder.engine.results import GradingResult, TestResult
from conftest import ROOT, SAMPLES

OVERRIDES = {"maxpool2d_negative": "hidden", "kernel_form": "after_published", "relu_lesson": "visible"}


def expected(grade_id: str, in_release: bool) -> str:
    """What a course with OVERRIDES shows for a test."""
    return OVERRIDES.get(grade_id, "visible" if in_release else "after_published")


def course_with(tmp_path, setting: str) -> Course:
    """A scratch course whose nbgrader_config.py ends with `setting`."""
    scratch = stage_course(Course.at(ROOT), tmp_path / "course", [])
    config = scratch.root / "nbgrader_config.py"
    config.write_text(config.read_text(encoding="utf-8") + f"\n{setting}\n", encoding="utf-8")
    return scratch


@pytest.fixture
def overridden(tmp_path) -> Course:
    return course_with(tmp_path, f"c.TestVisibility.overrides = {OVERRIDES!r}")


def test_hidden_tests_show_after_publishing_and_visible_ones_at_once():
    for spec in TESTS:
        assert spec.visibility is (Visibility.VISIBLE if spec.in_release else Visibility.AFTER_PUBLISHED), spec.grade_id
    assert TestSpec("x", RELU, "t", in_release=False).visibility is Visibility.AFTER_PUBLISHED
    assert TestSpec("x", RELU, "t", in_release=False, visibility=Visibility.HIDDEN).visibility is Visibility.HIDDEN


def test_the_repository_course_overrides_nothing(course):
    assert course.visibility(LESSON) == {}


def test_a_course_overrides_per_grade_id(overridden):
    assert overridden.visibility(LESSON) == {grade_id: Visibility(value) for grade_id, value in OVERRIDES.items()}


@pytest.mark.parametrize(
    "setting, complaint",
    [("{'no_such_test': 'hidden'}", "unknown test: 'no_such_test'"), ("{'relu_batch': 'secret'}", "use one of: visible, after_published, hidden")],
)
def test_a_bad_override_is_named(tmp_path, setting, complaint):
    scratch = course_with(tmp_path, f"c.TestVisibility.overrides = {setting}")
    with pytest.raises(CourseError, match=complaint):
        scratch.visibility(LESSON)


def test_gradescope_results_carry_each_tests_visibility_and_read_back(overridden, tmp_path):
    result = ungradable("entrega.ipynb", "razón", overridden, ASSIGNMENT, LESSON)
    path = tmp_path / "results.json"
    result.write(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    by_id = {spec.grade_id: spec for spec in TESTS}
    for test in data["tests"]:
        grade_id = test["extra_data"]["grade_id"]
        assert test["visibility"] == expected(grade_id, by_id[grade_id].in_release), grade_id
    again = GradingResult.read(path, LESSON)
    assert {t.spec.grade_id: t.spec.visibility.value for t in again.tests} == {t["extra_data"]["grade_id"]: t["visibility"] for t in data["tests"]}


def test_a_ci_summary_describes_published_tests_but_not_hidden_ones():
    failing = {"relu_lesson": Visibility.AFTER_PUBLISHED, "maxpool2d_negative": Visibility.HIDDEN}
    tests = [TestResult(spec, 0.0 if spec.grade_id in failing else 1.0, 1.0, f"mensaje de {spec.grade_id}") for spec in TESTS]
    text = ci.step_summary(GradingResult("entrega.ipynb", tests).with_visibility(failing))
    assert "mensaje de relu_lesson" in text and "mensaje de maxpool2d_negative" not in text


def test_autograder_grade_writes_the_course_visibility(overridden, tmp_path):
    empty = tmp_path / "entrega.ipynb"
    empty.write_bytes(b"")
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(empty), "--results", str(results), "--course", str(overridden.root)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2, completed.stderr
    data = json.loads(results.read_text(encoding="utf-8"))
    assert {t["extra_data"]["grade_id"]: t["visibility"] for t in data["tests"]} == {
        spec.grade_id: expected(spec.grade_id, spec.in_release) for spec in TESTS
    }


@pytest.mark.e2e
def test_a_graded_notebook_gets_the_course_visibility(overridden, tmp_path):
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / "blank.ipynb"), "--results", str(results), "--course", str(overridden.root)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["extra_data"]["error"] is None
    assert {t["extra_data"]["grade_id"]: t["visibility"] for t in data["tests"]} == {
        spec.grade_id: expected(spec.grade_id, spec.in_release) for spec in TESTS
    }


def test_a_bad_override_stops_grading_with_one_line(tmp_path):
    scratch = course_with(tmp_path, "c.TestVisibility.overrides = {'no_such_test': 'hidden'}")
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / "solution.ipynb"), "--results", str(results), "--course", str(scratch.root)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("autograder: course directory") and completed.stderr.count("\n") == 1
    assert "no_such_test" in completed.stderr and "Traceback" not in completed.stderr
    assert "no_such_test" in json.loads(results.read_text(encoding="utf-8"))["output"]
